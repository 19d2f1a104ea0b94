from __future__ import annotations

import time

import numpy as np
import pytest
import trimesh

from asset_pipeline.asset import single_mesh_asset
from asset_pipeline.measure import Reference
from asset_pipeline.metadata import GeometricError
from asset_pipeline.stages.lods import LodOptions, generate_lods
from asset_pipeline.stages.normalize import NormalizeOptions, normalize
from asset_pipeline.stages.repair import RepairOptions, repair
from asset_pipeline.stages.simplify import SimplifyOptions, simplify

from .scan_assets import load_scan


def bumpy_sphere(subdivisions: int = 5):
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = sphere.vertices
    radius = 1 + 0.05 * np.sin(8 * v[:, 0]) * np.cos(6 * v[:, 1]) * np.sin(5 * v[:, 2])
    return single_mesh_asset(v * radius[:, None], sphere.faces)


def test_lods_get_lighter_and_their_errors_grow():
    asset = bumpy_sphere()
    repair(asset, RepairOptions())
    lod0_triangles = asset.triangle_count
    lods, report = generate_lods(asset, LodOptions())
    assert [lod.triangle_count for lod in lods] == [lvl["triangles"] for lvl in report.changes["levels"]]
    assert lods[0].triangle_count <= int(0.25 * lod0_triangles) and lods[1].triangle_count <= int(0.06 * lod0_triangles)
    assert lods[0].triangle_count > 0.2 * lod0_triangles and lods[1].triangle_count > 0.04 * lod0_triangles
    errors = [lod.extras["geometric_error"] for lod in lods]
    assert all(isinstance(e, GeometricError) for e in errors)
    assert 0 < errors[0].mean < errors[1].mean and errors[0].hausdorff < errors[1].hausdorff
    assert asset.triangle_count == lod0_triangles  # LOD0 itself is untouched


def test_errors_are_measured_against_the_given_reference():
    asset = bumpy_sphere()
    repair(asset, RepairOptions())
    reference = asset.copy()
    simplify(asset, SimplifyOptions(target_triangles=8000))
    lod0_error = asset.extras["geometric_error"]
    lods, report = generate_lods(asset, LodOptions(ratios=(0.5, 0.1)), reference=reference)
    assert report.changes["reference_triangles"] == reference.triangle_count
    chain = [lod0_error.mean] + [lod.extras["geometric_error"].mean for lod in lods]
    assert chain == sorted(chain)


def test_levels_that_would_not_be_lighter_are_skipped():
    box = trimesh.creation.box()
    asset = single_mesh_asset(box.vertices, box.faces)
    lods, report = generate_lods(asset, LodOptions())
    assert lods == []
    assert len(report.warnings) == 2 and all("skipped" in w for w in report.warnings)

    asset = bumpy_sphere(3)  # 1280 triangles: 6% would be 76, 25% is 320
    lods, report = generate_lods(asset, LodOptions(min_triangles=400))
    assert [lod.triangle_count <= 400 for lod in lods] == [True]
    assert len(report.warnings) == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["stanford-bunny.obj", "armadillo_libigl.obj", "dragon_vrip.ply"])
def test_real_scans_lod_chain(name):
    """repair -> normalize -> simplify to 150k -> LODs at 25% and 6%, errors against the normalized source."""
    asset = load_scan(name)
    timings = {}
    start = time.perf_counter()
    repair(asset, RepairOptions())
    timings["repair"] = time.perf_counter() - start
    start = time.perf_counter()
    normalize(asset, NormalizeOptions(category="decor" if name != "armadillo_libigl.obj" else "generic"))
    timings["normalize"] = time.perf_counter() - start
    reference = asset.copy()
    start = time.perf_counter()
    report = simplify(asset, SimplifyOptions(target_triangles=150_000))
    timings["simplify"] = time.perf_counter() - start
    start = time.perf_counter()
    lods, lod_report = generate_lods(asset, LodOptions(), reference=reference)
    timings["lods"] = time.perf_counter() - start

    lod0_error = asset.extras.get("geometric_error")
    errors = [0.0 if lod0_error is None else lod0_error.mean] + [lod.extras["geometric_error"].mean for lod in lods]
    hausdorff = [0.0 if lod0_error is None else lod0_error.hausdorff] + [lod.extras["geometric_error"].hausdorff for lod in lods]
    triangles = [asset.triangle_count] + [lod.triangle_count for lod in lods]
    print(
        f"\n{name}: triangles {triangles}, mean error (m) {[f'{e:.2e}' for e in errors]}, "
        f"hausdorff (m) {[f'{e:.2e}' for e in hausdorff]}, seconds {({k: round(v, 2) for k, v in timings.items()})}"
    )
    assert len(lods) == 2
    assert triangles[0] <= 150_000 and triangles == sorted(triangles, reverse=True)
    assert triangles[1] <= 0.25 * triangles[0] and triangles[2] <= 0.06 * triangles[0] + 1
    assert errors == sorted(errors) and hausdorff == sorted(hausdorff)  # LOD2 >= LOD1 >= LOD0
    assert lods[-1].extras["geometric_error"].mean_rel < 0.005
    assert report.skipped == (reference.triangle_count <= 150_000)


def test_no_ratios_no_lods():
    points = single_mesh_asset(np.eye(3), None, mode="points")  # nothing to measure, and nothing is asked
    lods, report = generate_lods(points, LodOptions(ratios=()))
    assert lods == [] and report.skipped


def test_a_prepared_reference_gives_the_same_errors_as_the_asset():
    asset = bumpy_sphere()
    repair(asset, RepairOptions())
    reference = asset.copy()
    simplify(asset, SimplifyOptions(target_triangles=8000, measure_error=False))
    by_asset, _ = generate_lods(asset, LodOptions(), reference=reference)
    by_reference, report = generate_lods(asset, LodOptions(), reference=Reference(reference))
    assert [lod.extras["geometric_error"] for lod in by_asset] == [lod.extras["geometric_error"] for lod in by_reference]
    assert report.changes["reference_triangles"] == reference.triangle_count
