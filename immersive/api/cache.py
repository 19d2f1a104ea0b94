"""A per-process cache of public (no-key) responses, validated by the merchant's catalogue version.

The public catalogue is what viewers, AR and kiosks read, many times per change. A response is kept as
its final JSON bytes with the catalogue version it was built at. A hit costs no database round trip while
that version was confirmed less than `check_seconds` ago (then one indexed read confirms it); any change
to the catalogue bumps the version (catalog.merchants.bump_catalog). Changes committed in this process
are seen at once (the commit hook below); changes from other processes within `check_seconds`. Entries
also expire after `max_age`, so the presigned URLs inside them stay valid long after delivery."""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from ..catalog.merchants import catalog_version

_caches: "weakref.WeakSet[PublicCache]" = weakref.WeakSet()


@event.listens_for(Session, "after_commit")
def _catalog_committed(session: Session) -> None:
    if session.info.pop("catalog_changed", False):
        for cache in list(_caches):
            cache.expire_checks()


@dataclass(frozen=True)
class Entry:
    version: int | None
    created: float
    status: int
    body: bytes


class PublicCache:
    def __init__(self, sessions: sessionmaker[Session], check_seconds: float = 1.0, max_age: float = 60.0, max_entries: int = 20_000):
        self.sessions = sessions
        self.check_seconds = check_seconds
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._checked: dict[str, tuple[int | None, float]] = {}
        self._confirming: set[str] = set()
        self._lock = threading.Lock()
        _caches.add(self)

    def expire_checks(self) -> None:
        with self._lock:
            self._checked.clear()

    def _fresh(self, slug: str, key: tuple, now: float) -> tuple[Entry | None, bool]:
        """The entry if it is valid for the last confirmed version, and whether that confirmation is recent."""
        with self._lock:
            checked = self._checked.get(slug)
            entry = self._entries.get(key)
            if checked is None or entry is None or entry.version != checked[0] or now - entry.created >= self.max_age:
                return None, False
            return entry, now - checked[1] < self.check_seconds

    async def get(self, slug: str, key: tuple, build: Callable[[Session], tuple[int, bytes]]) -> tuple[int, bytes]:
        """(status, body) for `key` of merchant `slug`; `build(session)` makes them on a miss."""
        if self.check_seconds > 0:
            entry, recent = self._fresh(slug, key, time.monotonic())
            if entry is not None:
                if recent:
                    return entry.status, entry.body
                with self._lock:
                    # One request re-confirms the version; the others meanwhile get the entry that was
                    # current at the last confirmation (a few milliseconds ago), not a queue of DB reads.
                    busy = slug in self._confirming
                    self._confirming.add(slug)
                if busy:
                    return entry.status, entry.body
                try:
                    return await run_in_threadpool(self._load, slug, key, build)
                finally:
                    with self._lock:
                        self._confirming.discard(slug)
            return await run_in_threadpool(self._load, slug, key, build)
        return await run_in_threadpool(self._build, build)

    def _build(self, build: Callable[[Session], tuple[int, bytes]]) -> tuple[int, bytes]:
        with self.sessions() as session:
            return build(session)

    def _load(self, slug: str, key: tuple, build: Callable[[Session], tuple[int, bytes]]) -> tuple[int, bytes]:
        with self.sessions() as session:
            # The version is read before the data: a body is never older than the version it is filed under.
            version = catalog_version(session, slug)
            now = time.monotonic()
            with self._lock:
                self._checked[slug] = (version, now)
                entry = self._entries.get(key)
            if entry is not None and entry.version == version and now - entry.created < self.max_age:
                return entry.status, entry.body
            status, body = build(session)
        with self._lock:
            self._entries[key] = Entry(version, now, status, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return status, body
