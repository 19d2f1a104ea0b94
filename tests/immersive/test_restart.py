"""A job survives kill -9 of the process running it: `immersive serve` (embedded worker) is killed with
SIGKILL in the middle of a job, started again, and the job completes; the source was never lost.

Real processes on a free 127.0.0.1 port, the same data directory; the lease is shortened to 2 s so the
restarted worker takes the orphaned job over quickly."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import ROOT, SAMPLES, free_port, wait_for_port


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMERSIVE_")}
    env.update(
        IMMERSIVE_DATA_DIR=str(data_dir),
        IMMERSIVE_JOB_LEASE_SECONDS="2",
        IMMERSIVE_WORKER_POLL_SECONDS="0.1",
        IMMERSIVE_PIPELINE_VALIDATE="false",  # USDZ and posters stay on: a long last stage to be killed in
        PYTHONPATH=str(ROOT),
    )
    return env


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "immersive.cli", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
    )
    wait_for_port(port, timeout=60)
    return process


def test_kill_9_mid_job_then_restart_completes_it(tmp_path):
    env = _env(tmp_path / "data")
    created = subprocess.run(
        [sys.executable, "-m", "immersive.cli", "merchant", "create", "Kill Test", "--slug", "kt"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("imk_")
    headers = {"Authorization": f"Bearer {key}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = _serve(env, port, log)
    try:
        product = httpx.post(f"{base}/api/v1/products", json={"sku": "RG-1", "name": "Ring", "category": "ring"}, headers=headers)
        assert product.status_code == 201, product.text
        ring = (SAMPLES / "ring.glb").read_bytes()
        upload = httpx.post(
            f"{base}/api/v1/uploads", data={"product_id": product.json()["id"]}, files={"file": ("ring.glb", ring)}, headers=headers
        )
        assert upload.status_code == 202, upload.text
        job_id = upload.json()["job"]["id"]
        source = tmp_path / "data" / "storage" / "sources" / hashlib.sha256(ring).hexdigest()

        deadline = time.monotonic() + 60
        while True:
            job = httpx.get(f"{base}/api/v1/jobs/{job_id}", headers=headers).json()
            if job["state"] == "running" and job["stage"] == "package":
                break
            assert job["state"] in ("queued", "running"), job
            assert time.monotonic() < deadline, "the job never reached its last stage"
            time.sleep(0.02)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        assert server.returncode == -signal.SIGKILL
        assert source.is_file()  # the upload survives the crash

        server = _serve(env, port, log)
        deadline = time.monotonic() + 90
        while True:
            job = httpx.get(f"{base}/api/v1/jobs/{job_id}", headers=headers).json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, f"the job did not finish after the restart: {job}"
            time.sleep(0.1)
        assert job["state"] == "succeeded", job
        assert job["attempts"] == 2 and job["error"] is None  # the killed attempt, then the one that finished
        asset = httpx.get(f"{base}/api/v1/products/{product.json()['id']}/asset", headers=headers).json()
        assert [v["number"] for v in asset["versions"]] == [1]
        files = asset["versions"][0]["files"]
        assert {"model.glb", "model.usdz", "poster.webp"} <= set(files)
        glb = httpx.get(files["model.glb"]["url"])
        assert glb.status_code == 200 and hashlib.sha256(glb.content).hexdigest() == files["model.glb"]["sha256"]
        assert source.is_file()
    finally:
        server.terminate()
        server.wait(30)
