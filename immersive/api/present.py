"""Catalog rows -> response models. File URLs come from the storage (presigned/CDN for S3) or point at
this service's /files route (local storage)."""

from __future__ import annotations

from asset_pipeline.categories import get_category

from ..catalog.assets import current_version
from ..catalog.models import Asset, AssetVersion, Job, Product, Upload
from ..storage import Storage
from . import schemas


class Urls:
    def __init__(self, storage: Storage, base: str):
        self.storage, self.base = storage, base

    def file(self, key: str) -> str:
        return self.storage.url(key) or f"{self.base}/files/{key}"


def _dims(product: Product) -> schemas.DimensionsOut | None:
    if product.width_m is None:
        return None
    return schemas.DimensionsOut(width=product.width_m, height=product.height_m, depth=product.depth_m)


def files(version: AssetVersion, urls: Urls) -> dict[str, schemas.FileOut]:
    return {
        f.name: schemas.FileOut(name=f.name, url=urls.file(f.key), bytes=f.bytes, sha256=f.sha256, content_type=f.content_type)
        for f in version.files
    }


def _targets(version: AssetVersion) -> list[schemas.TargetOut]:
    return [schemas.TargetOut(**t) for t in version.summary_json["targets"]]


def version_out(version: AssetVersion, asset: Asset, urls: Urls) -> schemas.VersionOut:
    summary = version.summary_json
    return schemas.VersionOut(
        number=version.number,
        current=asset.current_version_id == version.id,
        profile=version.profile,
        options=version.options,
        source_sha256=version.source_sha256,
        upload_id=version.upload_id,
        created_at=version.created_at,
        dimensions_m=summary["dimensions_m"],
        triangles=summary["triangles"],
        files=files(version, urls),
        targets=_targets(version),
    )


def version_detail(version: AssetVersion, asset: Asset, urls: Urls) -> schemas.VersionDetailOut:
    return schemas.VersionDetailOut(
        **version_out(version, asset, urls).model_dump(), metadata=version.metadata_json, report=version.report_json
    )


def asset_out(asset: Asset, urls: Urls) -> schemas.AssetOut:
    current = current_version(asset)
    return schemas.AssetOut(
        product_id=asset.product_id,
        current_version=current.number if current else None,
        versions=[version_out(v, asset, urls) for v in asset.versions],
    )


def asset_summary(version: AssetVersion | None, urls: Urls) -> schemas.AssetSummary | None:
    if version is None:
        return None
    summary = version.summary_json
    out_files = files(version, urls)

    def url(name: str) -> str | None:
        return out_files[name].url if name in out_files else None

    return schemas.AssetSummary(
        version=version.number,
        profile=version.profile,
        placement=summary["placement"],
        dimensions_m=summary["dimensions_m"],
        variants=summary["variants"],
        lods=summary["lods"],
        anchor=summary["anchor"],
        files=out_files,
        model_url=url("model.glb"),
        usdz_url=url("model.usdz"),
        poster_url=url("poster.webp"),
        targets=_targets(version),
    )


def _common(product: Product, version: AssetVersion | None, urls: Urls) -> dict:
    category = get_category(product.category)
    return dict(
        sku=product.sku,
        name=product.name,
        description=product.description,
        category=product.category,
        placement=category.placement,
        tryon=category.tryon,
        dimensions_m=_dims(product),
        price=product.price,
        currency=product.currency,
        product_url=product.product_url,
        variants=product.variants,
        hotspots=product.hotspots,
        has_ar=version is not None,
        has_tryon=version is not None and category.tryon,
        asset=asset_summary(version, urls),
    )


def product_out(product: Product, version: AssetVersion | None, urls: Urls) -> schemas.ProductOut:
    return schemas.ProductOut(
        id=product.id, status=product.status, created_at=product.created_at, updated_at=product.updated_at,
        **_common(product, version, urls),
    )


def public_product_out(product: Product, merchant_slug: str, version: AssetVersion | None, urls: Urls) -> schemas.PublicProductOut:
    return schemas.PublicProductOut(merchant=merchant_slug, **_common(product, version, urls))


def _error(code: str | None, message: str | None) -> schemas.ErrorInfo | None:
    return schemas.ErrorInfo(code=code, detail=message or "") if code else None


def upload_out(upload: Upload, received_bytes: int | None = None) -> schemas.UploadOut:
    return schemas.UploadOut(
        id=upload.id,
        product_id=upload.product_id,
        filename=upload.filename,
        size=upload.size,
        sha256=upload.sha256,
        state=upload.state,
        options=upload.options,
        error=_error(upload.error_code, upload.error_message),
        received_bytes=received_bytes,
        created_at=upload.created_at,
        completed_at=upload.completed_at,
    )


def job_out(job: Job) -> schemas.JobOut:
    return schemas.JobOut(
        id=job.id,
        product_id=job.product_id,
        upload_id=job.upload_id,
        kind=job.kind,
        profile=job.profile,
        options=job.options,
        state=job.state,
        stage=job.stage,
        percent=job.percent,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        next_attempt_at=job.next_attempt_at if job.state == "queued" else None,
        error=_error(job.error_code, job.error_message),
        version_id=job.version_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )
