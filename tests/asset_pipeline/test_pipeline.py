"""End to end: every real scan in ../shared/scans through `optimize(..., "web-ar")`, checked against the issue's
acceptance points: 0 glTF-Validator errors on every GLB, within the profile budgets, dimensions within 1% of the
input's (after unit conversion), variants preserved, USDZ produced and passing USD validation, posters produced."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from asset_pipeline import optimize
from asset_pipeline import io as aio
from asset_pipeline.checks.validator import UNCOMPRESSED, validator_available
from asset_pipeline.io.usdz import validate_usdz
from asset_pipeline.metadata import Metadata, Report
from asset_pipeline.profiles import get_profile
from asset_pipeline.stages.lod_textures import max_texture_size

from ..conftest import SCANS, scan_path

WEB_AR = get_profile("web-ar")


@pytest.fixture(scope="module", params=SCANS)
def scan_bundle(request):
    path = scan_path(request.param)
    source = aio.read_path(path)
    bundle = optimize(path, "web-ar", validate=validator_available() or None)
    return request.param, source, bundle


def test_bundle_files_and_documents(scan_bundle):
    name, _, bundle = scan_bundle
    expected = {"model.glb", "model.lod1.glb", "model.lod2.glb", "model.usdz", "poster.webp", "thumb.webp", "metadata.json", "report.json"}
    assert expected <= set(bundle.files), f"{name}: missing {expected - set(bundle.files)}"
    metadata = Metadata.model_validate_json(bundle.files["metadata.json"])
    Report.model_validate_json(bundle.files["report.json"])
    assert metadata.source.sha256 and metadata.profile == "web-ar"
    assert [s.stage for s in metadata.stage_log][:3] == ["read", "repair", "reconstruct"]
    assert all(s.ms >= 0 for s in metadata.stage_log)
    for fname, info in metadata.files.items():
        assert info.bytes == len(bundle.files[fname])


def test_glbs_pass_khronos_validator(scan_bundle):
    name, _, bundle = scan_bundle
    if not validator_available():
        pytest.skip("Khronos glTF-Validator not installed: run scripts/setup.sh")
    results = bundle.report.validator
    glbs = {"model.glb", "model.lod1.glb", "model.lod2.glb"}
    # web-ar is Draco-compressed: each GLB is also validated written without Draco
    assert {r.file for r in results} == glbs | {UNCOMPRESSED.format(n) for n in glbs}
    for r in results:
        assert r.ran and r.errors == 0, f"{name} {r.file}: {r.errors} errors: {r.messages[:5]}"


def test_within_web_ar_budgets(scan_bundle):
    name, _, bundle = scan_bundle
    md = bundle.metadata
    assert md.geometry.triangles <= WEB_AR.max_triangles
    assert len(bundle.files["model.glb"]) <= WEB_AR.max_bytes, f"{name}: {len(bundle.files['model.glb']):,} bytes"
    assert md.geometry.draw_calls <= WEB_AR.max_draw_calls
    for tex in md.textures:
        assert max(tex.width, tex.height) <= WEB_AR.max_texture_size
    tris = [lod.triangles for lod in md.lods]
    assert tris == sorted(tris, reverse=True) and len(tris) == 3


def test_dimensions_match_input_after_unit_conversion(scan_bundle):
    name, source, bundle = scan_bundle
    md = bundle.metadata
    src_dims = np.sort(source.dimensions() * md.unit.scale_to_m)
    out_dims = np.sort(np.array(md.dimensions_m.as_tuple()))
    np.testing.assert_allclose(out_dims, src_dims, rtol=0.01, err_msg=name)
    # and the GLB itself says so: read it back
    back = aio.read(bundle.files["model.glb"], "model.glb")
    np.testing.assert_allclose(np.sort(back.dimensions()), out_dims, rtol=0.01)
    lo = back.bounds()[0]
    assert abs(lo[1]) < 1e-3 * max(out_dims), "origin at the bottom"


def test_variants_and_material_extensions_survive(scan_bundle):
    name, source, bundle = scan_bundle
    back = aio.read(bundle.files["model.glb"], "model.glb")
    assert back.variants == source.variants
    src_ext = {e for m in source.materials for e in m.get("extensions", {})}
    out_ext = {e for m in back.materials for e in m.get("extensions", {})}
    assert src_ext <= out_ext, f"{name}: lost {src_ext - out_ext}"
    src_names = sorted(m.get("name", "") for m in source.materials)
    assert sorted(m.get("name", "") for m in back.materials) == src_names
    if source.variants:
        mapped = [p.variant_mappings for p in back.primitives() if p.variant_mappings]
        assert mapped, "variant mappings on primitives"


def test_coarse_lods_carry_smaller_textures(scan_bundle):
    """LOD1/LOD2 textures at most 1024/512 px (LOD0's at most 2048), in LOD0's formats, with LOD0's materials
    and variant mappings; the viewer's first file (LOD2) is a fraction of model.glb."""
    name, _, bundle = scan_bundle
    lods = bundle.metadata.lods
    levels = [aio.read(bundle.files[lod.file], lod.file) for lod in lods]
    for lod, level in zip(lods, levels):
        assert lod.max_texture_size == max_texture_size(level)
    if not levels[0].textures:
        return
    assert lods[0].max_texture_size == max(max(t.width, t.height) for t in bundle.metadata.textures)
    for lod, level, limit in zip(lods[1:], levels[1:], WEB_AR.lod_texture_sizes):
        assert lod.max_texture_size <= min(limit, lods[0].max_texture_size), (name, lod.file)
        assert [t.mime_type for t in level.textures] == [t.mime_type for t in levels[0].textures]
        assert level.materials == levels[0].materials and level.variants == levels[0].variants
        mappings = {json.dumps(p.variant_mappings, sort_keys=True) for p in level.primitives()}
        assert mappings == {json.dumps(p.variant_mappings, sort_keys=True) for p in levels[0].primitives()}
    texture_bytes = [sum(len(t.data) for t in level.textures) for level in levels]
    print(f"\n{name} web-ar: LOD bytes {[lod.bytes for lod in lods]}, of which textures {texture_bytes}")
    if name == "DamagedHelmet.glb":  # LOD2 carried LOD0's 2048 px maps: 2,066,628 of model.glb's 2,121,876 bytes
        assert lods[2].bytes < 0.15 * lods[0].bytes


def test_usdz_passes_usd_validation(scan_bundle):
    name, _, bundle = scan_bundle
    errors = validate_usdz(bundle.files["model.usdz"])
    assert errors == [], f"{name}: {errors[:5]}"


def test_poster_shows_the_product(scan_bundle, artifacts_dir):
    name, _, bundle = scan_bundle
    poster = Image.open(io.BytesIO(bundle.files["poster.webp"]))
    assert poster.format == "WEBP" and poster.mode == "RGBA"
    alpha = np.asarray(poster)[..., 3]
    covered = alpha > 0
    assert alpha[0, 0] == 0 and covered.mean() > 0.05, f"{name}: product covers {covered.mean():.1%}"
    ys, xs = np.nonzero(covered)
    extent = max(ys.max() - ys.min(), xs.max() - xs.min()) / max(alpha.shape)
    assert 0.4 < extent <= 1.0, f"{name}: product framed at {extent:.0%} of the poster"
    rgb = np.asarray(poster.convert("RGB"))[covered]
    assert rgb.std() > 3, "not a flat silhouette"
    poster.save(artifacts_dir / f"poster-{name}.png")


def test_report_targets_present(scan_bundle):
    _, _, bundle = scan_bundle
    targets = {t.target for t in bundle.report.targets}
    assert {"khronos-3dc-mobile-ar", "shopify", "google-merchant-center", "amazon", "apple-quick-look"} <= targets
    doc = json.loads(bundle.files["report.json"])
    assert doc["asset_id"] == bundle.metadata.asset_id


def test_ktx2_textures_end_to_end():
    """--texture-format ktx2 (KHR_texture_basisu): valid GLBs, KTX2 images, and the USDZ and poster still
    made from them."""
    bundle = optimize(scan_path("SheenChair.glb"), "web-ar", texture_format="ktx2", validate=validator_available() or None)
    back = aio.read(bundle.files["model.glb"], "model.glb")
    assert back.textures and {t.mime_type for t in back.textures} == {"image/ktx2"}
    assert back.variants == ["Mango Velvet", "Peacock Velvet"]
    if validator_available():
        assert all(r.ran and r.errors == 0 for r in bundle.report.validator), bundle.report.validator
    assert validate_usdz(bundle.files["model.usdz"]) == []
    alpha = np.asarray(Image.open(io.BytesIO(bundle.files["poster.webp"])))[..., 3]
    assert (alpha > 0).mean() > 0.1


@pytest.mark.parametrize("profile", ["web-ar", "desktop", "quicklook", "banner", "archive"])
def test_variants_extensions_and_names_survive_every_profile(profile):
    source = aio.read_path(scan_path("SheenChair.glb"))
    bundle = optimize(scan_path("SheenChair.glb"), profile, usdz=False, poster=False, validate=validator_available() or None)
    prof = get_profile(profile)
    for name in [n for n in bundle.files if n.endswith(".glb")]:
        back = aio.read(bundle.files[name], name)
        assert back.variants == source.variants, (profile, name)
        assert sorted(m.get("name", "") for m in back.materials) == sorted(m.get("name", "") for m in source.materials)
        assert {e for m in source.materials for e in m.get("extensions", {})} <= {e for m in back.materials for e in m.get("extensions", {})}
        assert {n.name for n in source.nodes if n.mesh is not None} <= {n.name for n in back.nodes}
    if prof.max_bytes:
        assert len(bundle.files["model.glb"]) <= prof.max_bytes, f"{profile}: {len(bundle.files['model.glb']):,} bytes"
    if prof.max_triangles:
        assert bundle.metadata.geometry.triangles <= prof.max_triangles
    if validator_available():
        assert all(r.errors == 0 for r in bundle.report.validator), [(r.file, r.messages[:3]) for r in bundle.report.validator if r.errors]
    assert len(bundle.metadata.lods) == 1 + len(prof.lod_ratios)
    for lod, size in zip(bundle.metadata.lods[1:], prof.lod_texture_sizes):
        assert lod.max_texture_size <= size, (profile, lod.file)
