"""Pipeline stages: one verb per module, each `verb(asset, options) -> StageReport`.

A stage changes the `Asset` in place, does no file I/O, and reports what it changed as numbers
(counts before/after, sizes, errors) in `StageReport.changes`; `pipeline.optimize` times each call and
collects the reports into the bundle's stage log. Options are pydantic models whose field defaults are
the documented defaults."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class StageReport(BaseModel):
    stage: str
    ms: float = 0.0
    skipped: bool = False
    changes: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
