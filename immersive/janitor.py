"""Housekeeping for what clients and crashes leave behind: two-step uploads never completed (their rows,
chunk files and S3 `incoming/` objects), upload spool files of requests that died, and saved try-on looks
past their retention. Run by the workers about once an hour and by `immersive gc`."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import select

from .catalog.looks import purge_expired
from .catalog.models import Upload, utcnow
from .runtime import Runtime
from .storage import incoming_key

log = logging.getLogger("immersive.janitor")

INTERVAL_SECONDS = 3600.0


def clean(runtime: Runtime) -> dict[str, int]:
    """Remove uploads older than `upload_expiry_hours` and saved looks past `saved_look_retention_hours`;
    returns counts of what was removed."""
    settings = runtime.settings
    cutoff = utcnow() - timedelta(hours=settings.upload_expiry_hours)
    removed = {"pending_uploads": 0, "spool_files": 0, "saved_looks": 0}
    with runtime.sessions() as session:
        stale = session.scalars(select(Upload).where(Upload.state == "pending", Upload.created_at < cutoff)).all()
        for upload in stale:
            (settings.tmp_dir / "uploads" / f"{upload.id}.part").unlink(missing_ok=True)
            if settings.storage == "s3":
                runtime.storage.delete(incoming_key(upload.id))
            session.delete(upload)
        session.commit()
        removed["pending_uploads"] = len(stale)
        removed["saved_looks"] = purge_expired(session, runtime.storage)
        session.commit()
    oldest = time.time() - settings.upload_expiry_hours * 3600
    for spool in settings.tmp_dir.glob("upload-*.part"):  # SpoolWriter's files: a request that never finished
        try:
            if spool.stat().st_mtime < oldest:
                spool.unlink()
                removed["spool_files"] += 1
        except FileNotFoundError:
            pass
    if any(removed.values()):
        log.info("janitor removed %s", removed)
    return removed


class Periodic:
    """Calls `clean` at most once per interval (from a worker's loop)."""

    def __init__(self, runtime: Runtime, interval: float = INTERVAL_SECONDS):
        self.runtime, self.interval = runtime, interval
        self._last = 0.0

    def maybe_run(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            try:
                clean(self.runtime)
            except Exception:  # noqa: BLE001 - housekeeping must never stop a worker
                log.exception("janitor failed")
