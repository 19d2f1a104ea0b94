"""Merchants (tenants) and their API keys. A key is `imk_{id}_{secret}`: the id finds the row, the secret
is checked against sha256(salt + secret) in constant time. The plain key exists only in the return value
of `create_api_key`."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized
from .models import ROLES, ApiKey, Merchant

KEY_PREFIX = "imk"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a merchant and the role of the key used."""

    merchant_id: str
    merchant_slug: str
    key_id: str
    role: str

    @property
    def can_write(self) -> bool:
        return self.role == "merchandiser"

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden(f"this API key has the {self.role!r} role; writing needs a merchandiser key")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63]
    return slug or "merchant"


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


def create_merchant(session: Session, name: str, slug: str | None = None) -> Merchant:
    slug = slug or slugify(name)
    if not SLUG.match(slug):
        raise InvalidRequest(f"merchant slug {slug!r}: use lowercase letters, digits and '-'")
    if session.scalar(select(Merchant.id).where(Merchant.slug == slug)):
        raise Conflict(f"a merchant with the slug {slug!r} exists")
    merchant = Merchant(name=name, slug=slug)
    session.add(merchant)
    session.flush()
    return merchant


def bump_catalog(session: Session, merchant_id: str) -> None:
    """Mark the merchant's public catalogue as changed (in the caller's transaction)."""
    session.info["catalog_changed"] = True  # caches in this process drop their checks at commit
    session.execute(
        update(Merchant)
        .where(Merchant.id == merchant_id)
        .values(catalog_version=Merchant.catalog_version + 1)
        .execution_options(synchronize_session=False)
    )


def catalog_version(session: Session, slug: str) -> int | None:
    """The merchant's catalogue version, None for an unknown slug."""
    return session.scalar(select(Merchant.catalog_version).where(Merchant.slug == slug))


def get_merchant_by_slug(session: Session, slug: str) -> Merchant:
    merchant = session.scalar(select(Merchant).where(Merchant.slug == slug))
    if merchant is None:
        raise NotFound(f"no merchant {slug!r}")
    return merchant


def create_api_key(session: Session, merchant: Merchant, role: str = "merchandiser", name: str = "") -> tuple[ApiKey, str]:
    """A new key for `merchant`; returns the row and the plain key (shown once, never stored)."""
    if role not in ROLES:
        raise InvalidRequest(f"role {role!r}: expected one of {', '.join(ROLES)}")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    row = ApiKey(id=key_id, merchant_id=merchant.id, name=name, role=role, salt=salt, secret_hash=_hash(salt, secret))
    session.add(row)
    session.flush()
    return row, f"{KEY_PREFIX}_{key_id}_{secret}"


def authenticate(session: Session, token: str | None) -> Principal:
    if not token:
        raise Unauthorized("an API key is required (Authorization: Bearer imk_...)")
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise Unauthorized("malformed API key")
    row = session.get(ApiKey, parts[1])
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, _hash(row.salt, parts[2])):
        raise Unauthorized("unknown or revoked API key")
    return Principal(merchant_id=row.merchant_id, merchant_slug=row.merchant.slug, key_id=row.id, role=row.role)
