"""A product's 3D asset: its versions (each a stored bundle), reprocessing a version's source with other
options, rollback to an earlier version, and deletion with the files no other version uses."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ..catalog import assets as queries
from ..catalog.products import get_product
from ..catalog.uploads import get_upload
from ..errors import Conflict
from ..ingest import UploadOptions, reprocess
from . import schemas
from .deps import BaseUrlDep, PrincipalDep, RuntimeDep, SessionDep, WriterDep
from .present import Urls, asset_out, job_out, version_detail

router = APIRouter(prefix="/api/v1/products/{product_id}/asset", tags=["assets"])


@router.get("", response_model=schemas.AssetOut)
def read_asset(product_id: str, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep, base: BaseUrlDep):
    asset = queries.get_asset(session, principal.merchant_id, product_id)
    return asset_out(asset, Urls(runtime.storage, base))


@router.get("/versions/{number}", response_model=schemas.VersionDetailOut)
def read_version(product_id: str, number: int, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep, base: BaseUrlDep):
    asset = queries.get_asset(session, principal.merchant_id, product_id)
    return version_detail(queries.get_version(asset, number), asset, Urls(runtime.storage, base))


@router.post("/versions/{number}/reprocess", status_code=status.HTTP_202_ACCEPTED, response_model=schemas.JobOut)
def reprocess_version(
    product_id: str, number: int, body: schemas.ReprocessIn, principal: WriterDep, session: SessionDep, runtime: RuntimeDep
):
    """Run the pipeline again on this version's source with other options (e.g. another profile); the
    result becomes a new version."""
    asset = queries.get_asset(session, principal.merchant_id, product_id)
    version = queries.get_version(asset, number)
    if version.upload_id is None:
        raise Conflict(f"version {number}'s source upload was deleted")
    upload = get_upload(session, principal.merchant_id, version.upload_id)
    product = get_product(session, principal.merchant_id, product_id)
    options = UploadOptions(**body.model_dump())
    options.profile = options.profile or version.profile
    return job_out(reprocess(runtime, session, upload, product, options))


@router.post("/rollback", response_model=schemas.AssetOut)
def rollback(product_id: str, body: schemas.RollbackIn, principal: WriterDep, session: SessionDep, runtime: RuntimeDep, base: BaseUrlDep):
    """Make an earlier version current again (what the public API and viewers get)."""
    asset = queries.get_asset(session, principal.merchant_id, product_id)
    queries.rollback(session, asset, body.version)
    session.commit()
    return asset_out(asset, Urls(runtime.storage, base))


@router.delete("/versions/{number}", status_code=status.HTTP_204_NO_CONTENT)
def delete_version(product_id: str, number: int, principal: WriterDep, session: SessionDep, runtime: RuntimeDep):
    asset = queries.get_asset(session, principal.merchant_id, product_id)
    keys = queries.delete_version(session, asset, number)
    session.commit()
    for key in keys:
        runtime.storage.delete(key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def delete_asset(product_id: str, principal: WriterDep, session: SessionDep, runtime: RuntimeDep):
    asset = queries.get_asset(session, principal.merchant_id, product_id)
    keys = queries.delete_asset(session, asset)
    session.commit()
    for key in keys:
        runtime.storage.delete(key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
