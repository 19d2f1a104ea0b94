"""Product queries. Every function takes the caller's merchant id and never returns another merchant's
rows (a product of someone else is NotFound, not Forbidden: its existence is not disclosed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from asset_pipeline.categories import CATEGORIES

from ..errors import Conflict, NotFound
from .merchants import bump_catalog
from .models import Asset, AssetFile, Product, Upload

TRYON_CATEGORIES = sorted(name for name, cat in CATEGORIES.items() if cat.tryon)


@dataclass
class ProductFilter:
    category: str | None = None
    status: str | None = None
    has_ar: bool | None = None
    has_tryon: bool | None = None
    q: str | None = None


def _has_ar():
    return exists().where(Asset.product_id == Product.id, Asset.current_version_id.is_not(None))


def _filtered(merchant_id: str, flt: ProductFilter) -> Select:
    query = select(Product).where(Product.merchant_id == merchant_id)
    if flt.category:
        query = query.where(Product.category == flt.category)
    if flt.status:
        query = query.where(Product.status == flt.status)
    if flt.has_ar is not None:
        query = query.where(_has_ar() if flt.has_ar else ~_has_ar())
    if flt.has_tryon is not None:
        tryon = _has_ar() & Product.category.in_(TRYON_CATEGORIES)
        query = query.where(tryon if flt.has_tryon else ~tryon)
    if flt.q:
        escaped = flt.q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                Product.name.ilike(pattern, escape="\\"),
                Product.sku.ilike(pattern, escape="\\"),
                Product.description.ilike(pattern, escape="\\"),
            )
        )
    return query


def list_products(
    session: Session, merchant_id: str, flt: ProductFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[Product], int]:
    query = _filtered(merchant_id, flt)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(
        query.options(selectinload(Product.asset)).order_by(Product.created_at.desc(), Product.id).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def get_product(session: Session, merchant_id: str, product_id: str) -> Product:
    product = session.scalar(
        select(Product).where(Product.id == product_id, Product.merchant_id == merchant_id).options(selectinload(Product.asset))
    )
    if product is None:
        raise NotFound(f"no product {product_id}")
    return product


def get_product_by_sku(session: Session, merchant_id: str, sku: str) -> Product:
    product = session.scalar(
        select(Product).where(Product.sku == sku, Product.merchant_id == merchant_id).options(selectinload(Product.asset))
    )
    if product is None:
        raise NotFound(f"no product with SKU {sku!r}")
    return product


def create_product(session: Session, merchant_id: str, fields: dict[str, Any]) -> Product:
    if session.scalar(select(Product.id).where(Product.merchant_id == merchant_id, Product.sku == fields["sku"])):
        raise Conflict(f"SKU {fields['sku']!r} exists")
    product = Product(merchant_id=merchant_id, **fields)
    session.add(product)
    bump_catalog(session, merchant_id)
    try:
        session.flush()
    except IntegrityError:  # a concurrent create of the same SKU won the race
        session.rollback()
        raise Conflict(f"SKU {fields['sku']!r} exists") from None
    return product


def update_product(session: Session, product: Product, fields: dict[str, Any]) -> Product:
    if "sku" in fields and fields["sku"] != product.sku:
        taken = session.scalar(
            select(Product.id).where(Product.merchant_id == product.merchant_id, Product.sku == fields["sku"])
        )
        if taken:
            raise Conflict(f"SKU {fields['sku']!r} exists")
    for name, value in fields.items():
        setattr(product, name, value)
    bump_catalog(session, product.merchant_id)
    session.flush()
    return product


def delete_product(session: Session, product: Product) -> list[str]:
    """Delete the product with its asset, versions, uploads and jobs; returns the storage keys no other
    row refers to any more (the caller deletes them after the commit)."""
    bundle_keys = set(
        session.scalars(
            select(AssetFile.key).join(AssetFile.version).join(Asset).where(Asset.product_id == product.id)
        ).all()
    )
    source_keys = set(session.scalars(select(Upload.source_key).where(Upload.product_id == product.id)).all()) - {None}
    bump_catalog(session, product.merchant_id)
    session.delete(product)
    session.flush()
    return unreferenced_keys(session, bundle_keys | source_keys)


def unreferenced_keys(session: Session, keys: set[str]) -> list[str]:
    """Of `keys`, those that no asset file and no upload names any more."""
    if not keys:
        return []
    used = set(session.scalars(select(AssetFile.key).where(AssetFile.key.in_(keys))).all())
    used |= set(session.scalars(select(Upload.source_key).where(Upload.source_key.in_(keys))).all())
    return sorted(keys - used)
