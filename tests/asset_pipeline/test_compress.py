"""compress stage: option checking, the encoding it sets, and the sizes/errors it reports, measured on
in-memory meshes and the real Khronos product models."""

from __future__ import annotations

import numpy as np
import pytest

from asset_pipeline.asset import single_mesh_asset
from asset_pipeline.errors import OptionError
from asset_pipeline.io import read
from asset_pipeline.io.gltf import write_glb
from asset_pipeline.stages.compress import CompressOptions, compress
from tests.conftest import scan_path


def sphere(n: int = 40, radius: float = 0.3) -> "object":
    """A UV sphere of radius `radius` metres with normals and UVs."""
    theta, phi = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(0, 2 * np.pi, 2 * n))
    normals = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), np.sin(theta) * np.sin(phi)], -1).reshape(-1, 3)
    uvs = np.stack([phi / (2 * np.pi), theta / np.pi], -1).reshape(-1, 2)
    rows, cols = 2 * n, n
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (i * cols + j).reshape(-1)
    b, c, d = a + cols, a + 1, a + cols + 1
    faces = np.concatenate([np.stack([a, c, b], 1), np.stack([c, d, b], 1)])
    asset = single_mesh_asset(normals * radius, faces, normals=normals.astype(np.float32), uvs=[uvs.astype(np.float32)])
    asset.unit_scale = 1.0
    return asset


def test_defaults_are_the_documented_ones():
    opts = CompressOptions()
    assert (opts.method, opts.quantize) == ("meshopt", True)
    assert (opts.position_bits, opts.normal_bits, opts.uv_bits, opts.color_bits) == (14, 10, 12, 8)
    for name, field in CompressOptions.model_fields.items():
        assert field.description, f"{name} has no documentation"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"method": "zstd"}, "compression method 'zstd'"),
        ({"position_bits": 20}, "position_bits = 20"),
        ({"position_bits": 4}, "position_bits = 4"),
        ({"normal_bits": 7}, "normal_bits = 7"),
        ({"uv_bits": 17}, "uv_bits = 17"),
        ({"color_bits": 2}, "color_bits = 2"),
    ],
)
def test_bad_options_raise_option_error(bad, message):
    with pytest.raises(OptionError, match=message):
        CompressOptions(**bad)
    # Options built without validation are checked again by the stage itself.
    asset = sphere(8)
    with pytest.raises(OptionError, match=message):
        compress(asset, CompressOptions.model_construct(**{**CompressOptions().model_dump(), **bad}))
    assert asset.encoding is None


@pytest.mark.parametrize("method", ["meshopt", "draco", "none"])
def test_sets_the_encoding_and_reports_real_sizes(method):
    asset = sphere()
    before = write_glb(asset)
    report = compress(asset, CompressOptions(method=method))
    assert report.stage == "compress" and not report.warnings
    assert asset.encoding == {
        "method": method,
        "quantize": True,
        "position_bits": 14,
        "normal_bits": 10,
        "uv_bits": 12,
        "color_bits": 8,
    }
    after = write_glb(asset)
    changes = report.changes
    assert changes["glb_bytes_before"] == len(before)
    assert changes["glb_bytes_after"] == len(after)
    assert changes["glb_bytes_after"] < changes["glb_bytes_before"]
    # 14 bits over a 0.6 m sphere: at most half a step per axis.
    step = 0.6 / (2**14 - 1)
    assert 0 < changes["max_position_error_m"] <= step / 2 * np.sqrt(3) + 1e-9
    back = read(after, "sphere.glb")
    assert np.abs(back.bounds() - asset.bounds()).max() <= changes["max_position_error_m"] + 1e-7
    # The stage only decides the encoding; the geometry arrays are untouched.
    np.testing.assert_array_equal(asset.meshes[0].primitives[0].positions, sphere().meshes[0].primitives[0].positions)


def test_lossless_encoding_reports_no_error_and_more_bits_less_error():
    asset = sphere()
    report = compress(asset, CompressOptions(method="meshopt", quantize=False))
    assert report.changes["max_position_error_m"] == 0.0
    coarse = compress(asset, CompressOptions(position_bits=10)).changes
    fine = compress(asset, CompressOptions(position_bits=16)).changes
    assert fine["max_position_error_m"] < coarse["max_position_error_m"] / 20
    assert fine["glb_bytes_after"] > coarse["glb_bytes_after"]


def test_error_is_in_metres_for_assets_in_other_units():
    asset = sphere(radius=30.0)  # 30 cm in centimetres
    asset.unit_scale = 0.01
    report = compress(asset, CompressOptions())
    assert report.changes["max_position_error_m"] <= 0.6 / (2**14 - 1) / 2 * np.sqrt(3) + 1e-9
    asset.unit_scale = None
    report = compress(asset, CompressOptions())
    assert report.warnings and "unknown" in report.warnings[0]


@pytest.mark.parametrize("scan", ["SheenChair.glb", "GlamVelvetSofa.glb", "DamagedHelmet.glb"])
@pytest.mark.parametrize("method", ["meshopt", "draco"])
def test_product_models_shrink_and_stay_within_the_reported_error(scan, method):
    asset = read(scan_path(scan).read_bytes(), scan)
    report = compress(asset, CompressOptions(method=method))
    changes = report.changes
    assert changes["glb_bytes_after"] < changes["glb_bytes_before"]
    # Half a step of a 14-bit grid over the largest dimension, per axis (these models have no node scale):
    # 0.12 mm on the 2.19 m sofa.
    assert 0 < changes["max_position_error_m"] <= asset.dimensions().max() / (2**14 - 1) / 2 * np.sqrt(3)
    back = read(write_glb(asset), scan)
    assert back.triangle_count == asset.triangle_count
    assert back.variants == asset.variants
    assert np.abs(back.bounds() - asset.bounds()).max() <= changes["max_position_error_m"] + 1e-6


@pytest.mark.parametrize("bits", [{"position_bits": 8, "normal_bits": 8, "uv_bits": 8, "color_bits": 4},
                                  {"position_bits": 16, "normal_bits": 16, "uv_bits": 16, "color_bits": 16}])
@pytest.mark.parametrize("method", ["none", "meshopt", "draco"])
def test_extreme_bit_counts_write_valid_files(method, bits):
    from tests.asset_pipeline.test_gltf import assert_valid, cube

    asset = cube()
    asset.unit_scale = 1.0
    report = compress(asset, CompressOptions(method=method, **bits))
    out = write_glb(asset)
    assert report.changes["glb_bytes_after"] == len(out)
    back = read(out, "cube.glb")
    assert back.triangle_count == 12
    prim = back.meshes[0].primitives[0]
    assert prim.colors is not None and prim.tangents is not None
    assert_valid({f"cube.{method}.{bits['position_bits']}.glb": out})
