"""Products of the caller's merchant: create, read, list (pagination, filters, search), change, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from ..catalog import products as queries
from ..catalog.assets import current_versions
from ..catalog.products import ProductFilter
from ..errors import InvalidRequest
from . import schemas
from .deps import BaseUrlDep, PrincipalDep, RuntimeDep, SessionDep, WriterDep
from .present import Urls, product_out

router = APIRouter(prefix="/api/v1/products", tags=["products"])


def product_columns(fields: dict[str, Any]) -> dict[str, Any]:
    """Validated input fields (ProductIn/ProductPatch dumped as JSON) -> column values."""
    out = dict(fields)
    for name in ("sku", "name", "description", "category", "status", "variants", "hotspots"):
        if name in out and out[name] is None:
            raise InvalidRequest(f"{name} cannot be null")
    if "dimensions_m" in out:
        dims = out.pop("dimensions_m")
        out["width_m"], out["height_m"], out["depth_m"] = (
            (dims["width"], dims["height"], dims["depth"]) if dims else (None, None, None)
        )
    if "price" in out:
        out["price"] = None if out["price"] is None else str(out["price"])
    if "product_url" in out:
        out["product_url"] = None if out["product_url"] is None else str(out["product_url"])
    if "variants" in out:
        out["variants"] = out["variants"] or []
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.ProductOut)
def create_product(body: schemas.ProductIn, principal: WriterDep, session: SessionDep, runtime: RuntimeDep, base: BaseUrlDep):
    product = queries.create_product(session, principal.merchant_id, product_columns(body.model_dump(mode="json")))
    session.commit()
    return product_out(product, None, Urls(runtime.storage, base))


@router.get("", response_model=schemas.Page[schemas.ProductOut])
def list_products(
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
    base: BaseUrlDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    category: str | None = None,
    status: schemas.ProductStatus | None = None,
    has_ar: bool | None = None,
    has_tryon: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="text search in name, SKU and description")] = None,
):
    flt = ProductFilter(category=category, status=status, has_ar=has_ar, has_tryon=has_tryon, q=q)
    rows, total = queries.list_products(session, principal.merchant_id, flt, offset=(page - 1) * per_page, limit=per_page)
    versions = current_versions(session, rows)
    urls = Urls(runtime.storage, base)
    return schemas.Page(
        items=[product_out(p, versions.get(p.id), urls) for p in rows], total=total, page=page, per_page=per_page
    )


@router.get("/{product_id}", response_model=schemas.ProductOut)
def get_product(product_id: str, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep, base: BaseUrlDep):
    product = queries.get_product(session, principal.merchant_id, product_id)
    return product_out(product, current_versions(session, [product]).get(product.id), Urls(runtime.storage, base))


@router.patch("/{product_id}", response_model=schemas.ProductOut)
def update_product(
    product_id: str, body: schemas.ProductPatch, principal: WriterDep, session: SessionDep, runtime: RuntimeDep, base: BaseUrlDep
):
    product = queries.get_product(session, principal.merchant_id, product_id)
    queries.update_product(session, product, product_columns(body.model_dump(mode="json", exclude_unset=True)))
    session.commit()
    return product_out(product, current_versions(session, [product]).get(product.id), Urls(runtime.storage, base))


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_product(product_id: str, principal: WriterDep, session: SessionDep, runtime: RuntimeDep):
    product = queries.get_product(session, principal.merchant_id, product_id)
    keys = queries.delete_product(session, product)
    session.commit()
    for key in keys:
        runtime.storage.delete(key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
