"""A product's 3D asset and its versions. Each processed upload (or reprocess) adds a version and makes it
current; rollback points `current` at an earlier one; deleting returns the storage keys left unused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..errors import NotFound
from .merchants import bump_catalog
from .models import Asset, AssetFile, AssetVersion, Product
from .products import unreferenced_keys


@dataclass(frozen=True)
class StoredFile:
    name: str
    key: str
    bytes: int
    sha256: str
    content_type: str


def summarize(metadata: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """What listings and viewers need of a bundle's metadata.json and report.json (stored with the version)."""
    return {
        "placement": metadata.get("placement", "table"),
        "dimensions_m": metadata.get("dimensions_m"),
        "variants": metadata.get("variants", []),
        "lods": [{k: lod.get(k) for k in ("level", "file", "triangles", "bytes")} for lod in metadata.get("lods", [])],
        "anchor": metadata.get("anchor"),
        "triangles": (metadata.get("geometry") or {}).get("triangles"),
        "targets": [{"target": t["target"], "passed": t["passed"]} for t in report.get("targets", [])],
    }


def get_asset(session: Session, merchant_id: str, product_id: str) -> Asset:
    asset = session.scalar(
        select(Asset)
        .where(Asset.product_id == product_id, Asset.merchant_id == merchant_id)
        .options(selectinload(Asset.versions).selectinload(AssetVersion.files))
    )
    if asset is None:
        raise NotFound(f"product {product_id} has no 3D asset yet")
    return asset


def get_version(asset: Asset, number: int) -> AssetVersion:
    for version in asset.versions:
        if version.number == number:
            return version
    raise NotFound(f"asset has no version {number}")


def current_version(asset: Asset | None) -> AssetVersion | None:
    if asset is None or asset.current_version_id is None:
        return None
    return next((v for v in asset.versions if v.id == asset.current_version_id), None)


def current_versions(session: Session, products: Iterable[Product]) -> dict[str, AssetVersion]:
    """product id -> its current version (files loaded), in one query for a page of products."""
    by_version = {p.asset.current_version_id: p.id for p in products if p.asset and p.asset.current_version_id}
    if not by_version:
        return {}
    versions = session.scalars(
        select(AssetVersion).where(AssetVersion.id.in_(by_version)).options(selectinload(AssetVersion.files))
    ).all()
    return {by_version[v.id]: v for v in versions}


def add_version(
    session: Session,
    product: Product,
    *,
    profile: str,
    options: dict[str, Any],
    upload_id: str | None,
    source_sha256: str,
    metadata: dict[str, Any],
    report: dict[str, Any],
    files: list[StoredFile],
) -> AssetVersion:
    """A new version (number = last + 1) of the product's asset, made current."""
    asset = session.scalar(select(Asset).where(Asset.product_id == product.id).with_for_update())
    if asset is None:
        asset = Asset(merchant_id=product.merchant_id, product_id=product.id)
        session.add(asset)
        session.flush()
    number = (session.scalar(select(func.max(AssetVersion.number)).where(AssetVersion.asset_id == asset.id)) or 0) + 1
    version = AssetVersion(
        asset_id=asset.id,
        number=number,
        profile=profile,
        options=options,
        upload_id=upload_id,
        source_sha256=source_sha256,
        metadata_json=metadata,
        report_json=report,
        summary_json=summarize(metadata, report),
        files=[AssetFile(**f.__dict__) for f in files],
    )
    session.add(version)
    session.flush()
    asset.current_version_id = version.id
    bump_catalog(session, asset.merchant_id)
    session.flush()
    return version


def rollback(session: Session, asset: Asset, number: int) -> AssetVersion:
    version = get_version(asset, number)
    asset.current_version_id = version.id
    bump_catalog(session, asset.merchant_id)
    session.flush()
    return version


def delete_version(session: Session, asset: Asset, number: int) -> list[str]:
    """Delete one version; if it was current, the newest remaining one becomes current. Returns the
    storage keys no longer used."""
    version = get_version(asset, number)
    keys = {f.key for f in version.files}
    asset.versions.remove(version)
    if asset.current_version_id == version.id:
        asset.current_version_id = asset.versions[-1].id if asset.versions else None
        bump_catalog(session, asset.merchant_id)
    session.flush()
    return unreferenced_keys(session, keys)


def delete_asset(session: Session, asset: Asset) -> list[str]:
    """Delete every version of the asset; returns the storage keys no longer used."""
    keys = {f.key for v in asset.versions for f in v.files}
    bump_catalog(session, asset.merchant_id)
    session.delete(asset)
    session.flush()
    return unreferenced_keys(session, keys)
