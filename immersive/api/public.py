"""Public delivery (no key): a merchant's published products with their current asset's metadata and
file URLs, as the viewer, AR, try-on and kiosks read them. Drafts do not exist here.

These are the hottest reads, so they are served from the per-process PublicCache (api/cache.py) and
written straight as JSON bytes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from ..catalog import products as queries
from ..catalog.assets import current_versions
from ..catalog.merchants import get_merchant_by_slug
from ..catalog.products import ProductFilter
from ..errors import DomainError, NotFound
from ..runtime import Runtime
from . import schemas
from .deps import BaseUrlDep, RuntimeDep
from .present import Urls, public_product_out

router = APIRouter(prefix="/api/v1/public/products", tags=["public"])
ERRORS = {404: {"model": schemas.ErrorOut}}


def _error(exc: DomainError) -> tuple[int, bytes]:
    return exc.status, schemas.ErrorOut(error=exc.code, detail=exc.message).model_dump_json().encode()


def _json(status_body: tuple[int, bytes]) -> Response:
    status, body = status_body
    return Response(body, status_code=status, media_type="application/json")


@router.get("/{merchant_slug}", response_model=schemas.Page[schemas.PublicProductOut], responses=ERRORS)
async def list_published(
    merchant_slug: str,
    request: Request,
    runtime: RuntimeDep,
    base: BaseUrlDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    category: str | None = None,
    has_ar: bool | None = None,
    has_tryon: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
):
    def build(session: Session) -> tuple[int, bytes]:
        try:
            merchant = get_merchant_by_slug(session, merchant_slug)
        except DomainError as exc:
            return _error(exc)
        flt = ProductFilter(category=category, status="published", has_ar=has_ar, has_tryon=has_tryon, q=q)
        rows, total = queries.list_products(session, merchant.id, flt, offset=(page - 1) * per_page, limit=per_page)
        versions = current_versions(session, rows)
        urls = Urls(runtime.storage, base)
        out = schemas.Page(
            items=[public_product_out(p, merchant.slug, versions.get(p.id), urls) for p in rows],
            total=total,
            page=page,
            per_page=per_page,
        )
        return 200, out.model_dump_json().encode()

    key = ("list", merchant_slug, base, page, per_page, category, has_ar, has_tryon, q)
    return _json(await request.app.state.public_cache.get(merchant_slug, key, build))


async def published_product(request: Request, runtime: Runtime, base: str, merchant_slug: str, sku: str) -> tuple[int, bytes]:
    """(status, JSON body) of a published product, as GET .../{merchant}/{sku} answers it (also inlined in
    the product page): a PublicProductOut, or an ErrorOut with the reason (404)."""

    def build(session: Session) -> tuple[int, bytes]:
        try:
            merchant = get_merchant_by_slug(session, merchant_slug)
            product = queries.get_product_by_sku(session, merchant.id, sku)
            if product.status != "published":
                raise NotFound(f"no product with SKU {sku!r}")
        except DomainError as exc:
            return _error(exc)
        version = current_versions(session, [product]).get(product.id)
        return 200, public_product_out(product, merchant.slug, version, Urls(runtime.storage, base)).model_dump_json().encode()

    return await request.app.state.public_cache.get(merchant_slug, ("product", merchant_slug, base, sku), build)


@router.get("/{merchant_slug}/{sku}", response_model=schemas.PublicProductOut, responses=ERRORS)
async def read_published(merchant_slug: str, sku: str, request: Request, runtime: RuntimeDep, base: BaseUrlDep):
    return _json(await published_product(request, runtime, base, merchant_slug, sku))
