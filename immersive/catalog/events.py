"""Analytics events: recording a batch from the public ingestion endpoint, and listing a merchant's
events. A batch is stored whole or not at all; every event must name a known merchant and, when it names a
product, a SKU of that merchant's catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from ..errors import InvalidRequest
from .models import Event, Merchant, Product, utcnow


@dataclass(frozen=True)
class NewEvent:
    type: str
    session: str
    merchant: str  # slug
    sku: str | None
    ts: float  # ms since the epoch, client clock
    props: dict[str, Any]


@dataclass
class EventFilter:
    type: str | None = None
    sku: str | None = None
    session: str | None = None


def record_events(session: Session, events: Sequence[NewEvent]) -> int:
    """Insert the batch (in the caller's transaction); returns how many were stored. Raises InvalidRequest
    naming the first event with an unknown merchant or SKU, and then stores none."""
    slugs = {e.merchant for e in events}
    merchant_ids = dict(session.execute(select(Merchant.slug, Merchant.id).where(Merchant.slug.in_(slugs))).all())
    for i, e in enumerate(events):
        if e.merchant not in merchant_ids:
            raise InvalidRequest(f"events[{i}]: no merchant {e.merchant!r}")
    wanted = {(merchant_ids[e.merchant], e.sku) for e in events if e.sku is not None}
    if wanted:
        known = set(
            session.execute(select(Product.merchant_id, Product.sku).where(tuple_(Product.merchant_id, Product.sku).in_(wanted))).all()
        )
        for i, e in enumerate(events):
            if e.sku is not None and (merchant_ids[e.merchant], e.sku) not in known:
                raise InvalidRequest(f"events[{i}]: merchant {e.merchant!r} has no product with SKU {e.sku!r}")
    received = utcnow()
    rows = [
        dict(merchant_id=merchant_ids[e.merchant], sku=e.sku, session=e.session, type=e.type, props=e.props, client_ts=e.ts, received_at=received)
        for e in events
    ]
    session.execute(insert(Event), rows)
    return len(rows)


def list_events(session: Session, merchant_id: str, flt: EventFilter, *, after: int = 0, limit: int = 100) -> list[Event]:
    """The merchant's events with id > `after`, oldest first (keyset pagination: pass the last id back)."""
    query = select(Event).where(Event.merchant_id == merchant_id, Event.id > after)
    if flt.type:
        query = query.where(Event.type == flt.type)
    if flt.sku:
        query = query.where(Event.sku == flt.sku)
    if flt.session:
        query = query.where(Event.session == flt.session)
    return list(session.scalars(query.order_by(Event.id).limit(limit)).all())
