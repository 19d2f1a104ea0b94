"""The `asset-pipeline` CLI: optimize (folder input continues past failures, exit code), inspect, validate."""

from __future__ import annotations

import json

import pytest
import trimesh
from typer.testing import CliRunner

from asset_pipeline.checks.validator import validator_available
from asset_pipeline.cli import app

runner = CliRunner()


@pytest.fixture()
def product_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    # an 80 x 45 x 50 "chair-sized" box written in centimetres
    box = trimesh.creation.box(extents=(45.0, 80.0, 50.0))
    box.export(folder / "chair.obj")
    trimesh.creation.icosphere(subdivisions=3, radius=0.1).export(folder / "ball.stl")
    (folder / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00\xff\xff\x00\x00garbage")
    (folder / "notes.txt").write_text("not a model, ignored")
    return folder


def test_optimize_folder_continues_past_failures(product_folder, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["optimize", str(product_folder), "-o", str(out), "--category", "chair", "--no-usdz", "--no-poster"]
    )
    assert result.exit_code == 1, result.output
    assert "broken.glb" in result.output and "corrupt_file" in result.output
    assert (out / "chair" / "model.glb").is_file() and (out / "ball" / "model.glb").is_file()
    chair = json.loads((out / "chair" / "metadata.json").read_text())
    assert chair["unit"]["source_unit"] == "cm"
    assert chair["dimensions_m"]["height"] == pytest.approx(0.80, rel=0.01)
    assert not (out / "broken").exists()


def test_optimize_single_file_success_exit_zero(product_folder, tmp_path):
    result = runner.invoke(
        app, ["optimize", str(product_folder / "ball.stl"), "-o", str(tmp_path / "o"), "--unit", "m", "--no-usdz", "--no-poster"]
    )
    assert result.exit_code == 0, result.output
    assert "ball.stl" in result.output


def test_bad_option_is_a_clear_error(product_folder, tmp_path):
    result = runner.invoke(app, ["optimize", str(product_folder / "ball.stl"), "-o", str(tmp_path), "--profile", "nope"])
    assert result.exit_code == 1
    assert "unknown profile" in result.output


def test_inspect_json(product_folder):
    result = runner.invoke(app, ["inspect", str(product_folder / "chair.obj"), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["format"] == "obj" and info["triangles"] == 12
    assert info["dimensions"] == pytest.approx([45.0, 80.0, 50.0])


def test_inspect_bad_file(product_folder):
    result = runner.invoke(app, ["inspect", str(product_folder / "broken.glb")])
    assert result.exit_code == 1 and "corrupt_file" in result.output


def test_validate(product_folder, tmp_path):
    if not validator_available():
        pytest.skip("Khronos glTF-Validator not installed: run scripts/setup.sh")
    out = tmp_path / "out"
    runner.invoke(app, ["optimize", str(product_folder / "ball.stl"), "-o", str(out), "--unit", "m", "--no-usdz", "--no-poster"])
    result = runner.invoke(app, ["validate", str(out / "ball" / "model.glb")])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"glTF\x02\x00\x00\x00\x0c\x00\x00\x00")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
