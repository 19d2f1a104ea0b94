"""The `immersive` command: merchant create, db upgrade, ingest (continues past bad files, summary,
exit code), samples (idempotent), worker (standalone process, graceful stop)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from immersive.cli import app
from immersive.config import Settings
from immersive.runtime import Runtime

from .conftest import FAST_PIPELINE, ROOT, SAMPLES

runner = CliRunner()


@pytest.fixture()
def env(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("IMMERSIVE_"):
            monkeypatch.delenv(name)
    values = {"IMMERSIVE_DATA_DIR": str(tmp_path / "data"), **{f"IMMERSIVE_{k.upper()}": "false" for k in FAST_PIPELINE}}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return values


def _runtime():
    return Runtime.create(Settings(_env_file=None))


def test_merchant_create_and_db_upgrade(env):
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0 and "revision 0007" in result.stdout
    swept = runner.invoke(app, ["gc"])
    assert swept.exit_code == 0 and "0 pending uploads, 0 spool files, 0 saved looks removed" in swept.stdout
    created = runner.invoke(app, ["merchant", "create", "Gamma Home"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("imk_") and len(key) > 40
    again = runner.invoke(app, ["merchant", "create", "Gamma Home"])
    assert again.exit_code == 1 and "exists" in again.output
    reader = runner.invoke(app, ["merchant", "key", "gamma-home", "--role", "reader"])
    assert reader.exit_code == 0 and reader.stdout.strip().startswith("imk_")
    from immersive.catalog.merchants import authenticate

    runtime = _runtime()
    with runtime.sessions() as session:
        assert authenticate(session, key).merchant_slug == "gamma-home"
        assert authenticate(session, reader.stdout.strip()).role == "reader"
    runtime.close()


def test_ingest_continues_past_bad_files(env, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SAMPLES / "ring.glb", folder / "RG-9.glb")
    shutil.copy(SAMPLES / "earrings.glb", folder / "ER-9.glb")
    (folder / "broken.obj").write_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
    (folder / "notes.txt").write_text("not a model")
    assert runner.invoke(app, ["merchant", "create", "Delta", "--slug", "delta"]).exit_code == 0
    result = runner.invoke(app, ["ingest", str(folder), "--merchant", "delta", "--category", "ring", "--publish"])
    assert result.exit_code == 1, result.output  # one file failed
    assert result.stdout.count("succeeded") == 2 and "rejected" in result.stdout and "corrupt_file" in result.stdout
    runtime = _runtime()
    from immersive.catalog.merchants import get_merchant_by_slug
    from immersive.catalog.products import ProductFilter, list_products

    with runtime.sessions() as session:
        merchant = get_merchant_by_slug(session, "delta")
        rows, total = list_products(session, merchant.id, ProductFilter(has_ar=True, status="published"))
        assert sorted(p.sku for p in rows) == ["ER-9", "RG-9"]
    runtime.close()
    unknown = runner.invoke(app, ["ingest", str(folder), "--merchant", "nobody"])
    assert unknown.exit_code == 2


def test_samples_ingests_once(env, tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    catalogue = json.loads((SAMPLES / "products.json").read_text())
    picked = [p for p in catalogue["products"] if p["file"] in ("ring.glb", "sofa.glb")]
    (folder / "products.json").write_text(json.dumps({"products": picked}))
    for product in picked:
        shutil.copy(SAMPLES / product["file"], folder / product["file"])
    first = runner.invoke(app, ["samples", "--directory", str(folder)])
    assert first.exit_code == 0, first.output
    assert first.stdout.count("succeeded") == 2 and "imk_" in first.stdout  # demo merchant created, key shown
    assert [p["file"] for p in picked] == ["ring.glb", "sofa.glb"]
    # products.json changed since: the skipped products' fields follow it (no new version).
    picked[1]["hotspots"][0]["label"] = "Deep seat cushions"
    picked[1]["price"] = "1199.00"
    (folder / "products.json").write_text(json.dumps({"products": picked}))
    second = runner.invoke(app, ["samples", "--directory", str(folder)])
    assert second.exit_code == 0 and second.stdout.count("skipped") == 2 and "imk_" not in second.stdout

    runtime = _runtime()
    from fastapi.testclient import TestClient

    from immersive.app import create_app

    with TestClient(create_app(runtime=runtime)) as client:
        listing = client.get("/api/v1/public/products/demo").json()
        assert listing["total"] == 2
        sofa = client.get("/api/v1/public/products/demo/SF-5002").json()
        assert sofa["variants"] == [{"name": "Oat", "sku": None, "price": None}, {"name": "Slate", "sku": None, "price": None}]
        assert sofa["asset"]["variants"] == ["Oat", "Slate"] and sofa["price"] == "1199.00"
        assert [h["id"] for h in sofa["hotspots"]] == [h["id"] for h in picked[1]["hotspots"]]
        assert sofa["hotspots"][0]["label"] == "Deep seat cushions"
        assert sofa["hotspots"][0]["position"] == picked[1]["hotspots"][0]["position"]
        ring = client.get("/api/v1/public/products/demo/RG-3003").json()
        assert ring["hotspots"] == [{**h, "normal": pytest.approx(h["normal"], abs=1e-3)} for h in picked[0]["hotspots"]]
    runtime.close()


def test_standalone_worker_process(env, tmp_path):
    """`immersive worker` runs jobs queued by a service in external mode, and stops cleanly on SIGTERM."""
    from fastapi.testclient import TestClient

    from immersive.app import create_app

    from .conftest import Service

    settings = Settings(_env_file=None, worker="external")
    worker = subprocess.Popen(
        [sys.executable, "-m", "immersive.cli", "worker", "--threads", "2"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "IMMERSIVE_WORKER_POLL_SECONDS": "0.1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        with TestClient(create_app(settings)) as client:
            service = Service(client)
            jobs = []
            for sku, sample in (("RG-1", "ring.glb"), ("CH-1", "chair.glb")):
                product = service.product(service.a, sku)
                jobs.append(service.upload(service.a, product["id"], (SAMPLES / sample).read_bytes(), sample).json()["job"])
            for job in jobs:
                assert service.wait_job(service.a, job["id"], timeout=60)["state"] == "succeeded"
            assert client.get("/healthz").json()["worker"] == "external"
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert "stopping" in output


def test_serve_uses_the_factory(monkeypatch):
    calls = {}
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.update(target=target, **kw))
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert calls["target"] == "immersive.app:app_from_env" and calls["factory"] is True
    assert calls["host"] == "127.0.0.1" and calls["port"] == 8000
