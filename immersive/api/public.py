"""Public delivery (no key): a merchant's published products with their current asset's metadata and
file URLs, as the viewer, AR, try-on and kiosks read them. Drafts do not exist here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..catalog import products as queries
from ..catalog.assets import current_versions
from ..catalog.merchants import get_merchant_by_slug
from ..catalog.products import ProductFilter
from ..errors import NotFound
from . import schemas
from .deps import BaseUrlDep, RuntimeDep, SessionDep
from .present import Urls, public_product_out

router = APIRouter(prefix="/api/v1/public/products", tags=["public"])


@router.get("/{merchant_slug}", response_model=schemas.Page[schemas.PublicProductOut])
def list_published(
    merchant_slug: str,
    session: SessionDep,
    runtime: RuntimeDep,
    base: BaseUrlDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    category: str | None = None,
    has_ar: bool | None = None,
    has_tryon: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
):
    merchant = get_merchant_by_slug(session, merchant_slug)
    flt = ProductFilter(category=category, status="published", has_ar=has_ar, has_tryon=has_tryon, q=q)
    rows, total = queries.list_products(session, merchant.id, flt, offset=(page - 1) * per_page, limit=per_page)
    versions = current_versions(session, rows)
    urls = Urls(runtime.storage, base)
    return schemas.Page(
        items=[public_product_out(p, merchant.slug, versions.get(p.id), urls) for p in rows],
        total=total,
        page=page,
        per_page=per_page,
    )


@router.get("/{merchant_slug}/{sku}", response_model=schemas.PublicProductOut)
def read_published(merchant_slug: str, sku: str, session: SessionDep, runtime: RuntimeDep, base: BaseUrlDep):
    merchant = get_merchant_by_slug(session, merchant_slug)
    product = queries.get_product_by_sku(session, merchant.id, sku)
    if product.status != "published":
        raise NotFound(f"no product with SKU {sku!r}")
    return public_product_out(product, merchant.slug, current_versions(session, [product]).get(product.id), Urls(runtime.storage, base))
