"""The installed model bundles are the pinned files, and a missing or altered one is refused with a message
that says how to fix it."""

from __future__ import annotations

import shutil

import pytest

from immersive.tryon import models


@pytest.mark.parametrize("bundle", models.BUNDLES, ids=lambda b: b.name)
def test_installed_bundle_is_the_pinned_file(bundle):
    path = models.model_path(bundle)
    assert path.stat().st_size == bundle.size


def test_missing_bundle_says_run_setup(tmp_path, monkeypatch):
    monkeypatch.setenv(models.MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(models.ModelMissing, match="run scripts/setup.sh"):
        models.model_path(models.FACE_LANDMARKER)


def test_altered_bundle_is_refused(tmp_path, monkeypatch):
    shutil.copy(models.model_path(models.FACE_LANDMARKER), tmp_path / models.FACE_LANDMARKER.name)
    with (tmp_path / models.FACE_LANDMARKER.name).open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02\x03")
    monkeypatch.setenv(models.MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(models.ModelMissing, match="not the pinned"):
        models.model_path(models.FACE_LANDMARKER)
