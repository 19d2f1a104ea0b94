"""Shared fixtures: paths to the real third-party scans (../shared/scans, never copied into the repo) and
an artifacts folder for images the tests produce for people to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANS_DIR = Path(os.environ.get("IMMERSIVE_SCANS_DIR", ROOT.parent / "shared" / "scans"))
SCANS = [
    "stanford-bunny.obj",
    "armadillo_libigl.obj",
    "dragon_vrip.ply",
    "DamagedHelmet.glb",
    "DamagedHelmet_gltf.zip",
    "SheenChair.glb",
    "GlamVelvetSofa.glb",
]
ARTIFACTS = ROOT / "artifacts"


def scan_path(name: str) -> Path:
    """The path of a shared scan, or a skip naming what is missing."""
    path = SCANS_DIR / name
    if not path.is_file():
        pytest.skip(f"real scan {name} not found in {SCANS_DIR} (the shared/ folder next to the checkout)")
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
