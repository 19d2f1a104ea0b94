"""Browser tests: one service for the whole session (a fresh data dir with the sample products ingested,
posters and USDZ on) and headless Chromium driven by node + playwright-core through harness.mjs.

Every test module here is marked `pytest.mark.xdist_group("browser")` so that, under `--dist loadgroup`,
they share one worker and therefore this one service. A fixture holding a scenario's result is
session-scoped: xdist may interleave the group's modules, and a module fixture would run its scenario
again. Chromium (/usr/bin/chromium) and the viewer's npm packages are installed by scripts/setup.sh; when
either is missing the tests fail and say so: they are part of the suite, not optional."""

from __future__ import annotations

import json

import pytest

from .support import (
    SAMPLES_JSON,
    Service,
    api_key_from,
    missing_browser,
    run_cli,
    run_scenario,
    service_env,
    start_service,
    stop_service,
)

DEMO_MERCHANT = "demo"


@pytest.fixture(scope="session")
def service(tmp_path_factory) -> Service:
    """The service with the sample products published under merchant "demo" (ingested once per session,
    ~30 s on 2 cores, most of it the scanned vase)."""
    if problem := missing_browser():
        pytest.fail(problem, pytrace=False)
    data_dir = tmp_path_factory.mktemp("browser-service")
    env = service_env(data_dir)
    key = api_key_from(run_cli(["samples", "--merchant", DEMO_MERCHANT], env, timeout=600))
    process, base = start_service(data_dir, data_dir / "serve.log")
    yield Service(base=base, merchant=DEMO_MERCHANT, api_key=key, data_dir=data_dir)
    stop_service(process)


@pytest.fixture(scope="session")
def sample_products() -> list[dict]:
    """The sample catalogue as samples/products.json describes it (sku, name, dimensions_m, variants, ...)."""
    return json.loads(SAMPLES_JSON.read_text())["products"]


@pytest.fixture(scope="session")
def scenario():
    """run_scenario: scenario file (relative to tests/browser/) + JSON args -> its result, or ScenarioFailed."""
    return run_scenario


@pytest.fixture(scope="session")
def public(service) -> dict[str, dict]:
    """The public product JSON of every published product of the samples' merchant, by SKU."""
    listing = service.get_json(f"/api/v1/public/products/{service.merchant}?per_page=100", auth=False)
    return {item["sku"]: service.get_json(f"/api/v1/public/products/{service.merchant}/{item['sku']}", auth=False) for item in listing["items"]}
