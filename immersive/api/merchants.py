"""The caller's merchant and key. Merchants and keys are created by an operator (`immersive merchant
create`), not over the API."""

from __future__ import annotations

from fastapi import APIRouter

from ..catalog.models import ApiKey
from . import schemas
from .deps import PrincipalDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["merchants"])


@router.get("/me", response_model=schemas.MeOut)
def me(principal: PrincipalDep, session: SessionDep):
    key = session.get(ApiKey, principal.key_id)
    merchant = key.merchant
    return schemas.MeOut(
        merchant=schemas.MerchantOut(id=merchant.id, slug=merchant.slug, name=merchant.name),
        key=schemas.KeyOut(id=key.id, role=key.role, name=key.name),
    )
