"""Pipeline stage durations as a histogram in the catalog (see models.StageStat): written by whichever
process ran the job, in the job's own transaction, read by /metrics."""

from __future__ import annotations

from bisect import bisect_left
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import StageStat


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def record_stages(session: Session, durations: Iterable[tuple[str, float]], buckets: tuple[float, ...]) -> None:
    """Add (stage, seconds) observations: one atomic upsert-increment per observation."""
    insert = _insert(session)
    for stage, seconds in durations:
        bucket = bisect_left(buckets, seconds)  # first upper bound >= seconds (Prometheus `le`)
        statement = insert(StageStat).values(stage=stage, bucket=bucket, count=1, seconds=seconds)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[StageStat.stage, StageStat.bucket],
                set_={"count": StageStat.count + 1, "seconds": StageStat.seconds + seconds},
            )
        )


def stage_histograms(session: Session, buckets: tuple[float, ...]) -> dict[str, tuple[list[int], float]]:
    """stage -> (count per bucket incl. +Inf, non-cumulative; sum of seconds)."""
    out: dict[str, tuple[list[int], float]] = {}
    for row in session.scalars(select(StageStat)):
        counts, total = out.get(row.stage, ([0] * (len(buckets) + 1), 0.0))
        counts[min(row.bucket, len(buckets))] += row.count
        out[row.stage] = (counts, total + row.seconds)
    return out
