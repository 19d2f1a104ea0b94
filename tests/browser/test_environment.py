"""The viewer's studio light is pre-baked (web_viewer/tools/bake-environment.mjs ->
web_viewer/assets/studio-environment.pmrem.gz, read by js/studio-light.js) instead of made by three.js'
PMREMGenerator on every page load. environment.mjs renders product pages with the baked light, then the
same frame with the light made at run time as before, and without light; the model's pixels must look the
same with both lights (screenshots: artifacts/environment-SKU-baked.png / -runtime.png)."""

from __future__ import annotations

import numpy as np
import pytest

from .support import changed, pixels

pytestmark = pytest.mark.xdist_group("browser")

# Shiny metal (the sharp mip levels: reflections of the room's lights), wood and fabric (the rough ones).
SKUS = ["WT-4001", "RG-3003", "CH-5001", "SF-5002"]
# Mean absolute difference over the model's pixels (0..255 per channel) between the two lights: the
# texels are the same bits (measured: 0.000, identical frames); anything above is a wrong texel or layout.
MAX_MEAN_DIFF = 0.5
# The same metric between lit and unlit must be far larger, or the comparison could not see the light.
MIN_UNLIT_DIFF = 10.0


@pytest.fixture(scope="session")
def lighting(service, scenario, artifacts_dir, tmp_path_factory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("environment")
    return scenario(
        "environment.mjs",
        {"base": service.base, "merchant": service.merchant, "skus": SKUS, "artifacts": str(artifacts_dir), "work": str(work)},
    )


def model_mask(shots: dict) -> np.ndarray:
    """Pixels where the model is, with either light: they differ from the frame with the model hidden."""
    background = pixels(shots["background"])
    return changed(pixels(shots["baked"]), background, threshold=8) | changed(pixels(shots["runtime"]), background, threshold=8)


def mean_diff(a: str, b: str, mask: np.ndarray) -> float:
    return float(np.abs(pixels(a) - pixels(b))[mask].mean())


@pytest.mark.parametrize("sku", SKUS)
def test_page_uses_the_baked_light(lighting, sku):
    result = lighting[sku]
    assert "error" not in result, result.get("error")
    env = result["environment"]
    assert env["isPMREMTexture"] and env["isCompressedCubeTexture"] and env["levels"] == [256, 128, 64, 32, 16, 8], env
    # Only the baked file: no RoomEnvironment module, nothing rendered into a PMREM on the page.
    assert result["requests"] == ["/viewer/assets/studio-environment.pmrem.gz"], result["requests"]
    assert result["contentType"] == "application/gzip"


@pytest.mark.parametrize("sku", SKUS)
def test_baked_light_looks_like_the_runtime_light(lighting, sku):
    result = lighting[sku]
    assert "error" not in result, result.get("error")
    shots = result["shots"]
    mask = model_mask(shots)
    assert mask.sum() > 2000, f"only {mask.sum()} model pixels"
    baked_vs_runtime = mean_diff(shots["baked"], shots["runtime"], mask)
    unlit_vs_runtime = mean_diff(shots["unlit"], shots["runtime"], mask)
    noise = mean_diff(shots["baked"], shots["bakedAgain"], mask)
    print(f"{sku}: {mask.sum()} model pixels, mean |baked - runtime| {baked_vs_runtime:.3f}/255, |unlit - runtime| {unlit_vs_runtime:.1f}/255, |baked - baked again| {noise:.3f}/255")
    assert unlit_vs_runtime > MIN_UNLIT_DIFF
    assert baked_vs_runtime < MAX_MEAN_DIFF
