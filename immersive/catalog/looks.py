"""Consents and saved try-on looks.

A consent is what a shopper agreed to in a pseudonymous session (the random per-tab id the viewer also puts
on analytics events), for named purposes, under a version of the privacy notice, with when it was given and
when it was withdrawn. Issue 6 extends the table and its endpoints; try-on needs one purpose: "save_look".

A saved look is ONLY the composited try-on image (never the photo, its landmarks or the measurements), kept
under an unguessable id for `saved_look_retention_hours`, and only while the session has an active
"save_look" consent: withdrawing that consent deletes the session's looks at once, and `purge_expired`
(the janitor, `immersive gc`) deletes the expired ones. Bytes live in storage under `looks/{id}` (not under
assets/, so /files never serves them)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InvalidRequest, NotFound
from .models import Consent, SavedLook, utcnow

CONSENT_PURPOSES = ("save_look",)
SAVE_LOOK = "save_look"
LOOK_PREFIX = "looks/"


# ---- consents -------------------------------------------------------------------------------

def give_consent(session: Session, session_id: str, purposes: list[str], notice_version: str) -> Consent:
    unknown = sorted(set(purposes) - set(CONSENT_PURPOSES))
    if unknown or not purposes:
        raise InvalidRequest(f"purposes {unknown or purposes}: expected some of {', '.join(CONSENT_PURPOSES)}")
    consent = Consent(session=session_id, purposes=sorted(set(purposes)), notice_version=notice_version)
    session.add(consent)
    session.flush()
    return consent


def active_consent(session: Session, session_id: str, purpose: str) -> Consent | None:
    """The session's most recent consent to `purpose` that is not withdrawn."""
    rows = session.scalars(
        select(Consent).where(Consent.session == session_id, Consent.withdrawn_at.is_(None)).order_by(Consent.given_at.desc())
    ).all()
    return next((c for c in rows if purpose in c.purposes), None)


def withdraw_consent(session: Session, consent_id: str, session_id: str) -> tuple[Consent, list[str]]:
    """Marks the consent withdrawn (the record stays, as proof of what was agreed and when). When no other
    active consent of the session covers saving looks any more, its saved looks are deleted: returns their
    storage keys for the caller to delete from storage. Another session's consent answers NotFound."""
    consent = session.get(Consent, consent_id)
    if consent is None or consent.session != session_id:
        raise NotFound(f"no consent {consent_id} in this session")
    if consent.withdrawn_at is None:
        consent.withdrawn_at = utcnow()
        session.flush()
    keys: list[str] = []
    if SAVE_LOOK in consent.purposes and active_consent(session, session_id, SAVE_LOOK) is None:
        looks = session.scalars(select(SavedLook).where(SavedLook.session == session_id)).all()
        keys = [look.storage_key for look in looks]
        for look in looks:
            session.delete(look)
        session.flush()
    return consent, keys


# ---- saved looks ----------------------------------------------------------------------------

def new_look_id() -> str:
    return secrets.token_urlsafe(32)


def look_key(look_id: str) -> str:
    return f"{LOOK_PREFIX}{look_id}"


def add_look(
    session: Session,
    *,
    look_id: str,
    session_id: str,
    consent: Consent,
    merchant_id: str,
    sku: str,
    variant: str | None,
    content_type: str,
    size: int,
    retention: timedelta,
) -> SavedLook:
    """The row of a look whose bytes the caller has put under look_key(look_id)."""
    now = utcnow()
    look = SavedLook(
        id=look_id,
        session=session_id,
        consent_id=consent.id,
        merchant_id=merchant_id,
        sku=sku,
        variant=variant,
        storage_key=look_key(look_id),
        content_type=content_type,
        bytes=size,
        created_at=now,
        expires_at=now + retention,
    )
    session.add(look)
    session.flush()
    return look


def get_look(session: Session, look_id: str) -> SavedLook:
    """A look that has not expired (an expired one waiting for the purge answers NotFound too)."""
    look = session.get(SavedLook, look_id)
    if look is None or look.expires_at <= utcnow():
        raise NotFound("no saved look with this id (it may have expired or been deleted)")
    return look


def delete_look(session: Session, look_id: str, session_id: str) -> str:
    """Deletes the session's look; returns its storage key. Another session's look answers NotFound."""
    look = session.get(SavedLook, look_id)
    if look is None or look.session != session_id:
        raise NotFound("no saved look with this id in this session")
    session.delete(look)
    session.flush()
    return look.storage_key


def purge_expired(session: Session, storage, now: datetime | None = None) -> int:
    """Deletes the looks past their retention, bytes first (a row left without bytes answers 404; bytes left
    without a row would never be found again). Returns how many were removed; the caller commits."""
    looks = session.scalars(select(SavedLook).where(SavedLook.expires_at <= (now or utcnow()))).all()
    for look in looks:
        storage.delete(look.storage_key)
        session.delete(look)
    session.flush()
    return len(looks)
