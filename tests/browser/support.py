"""Helpers of the browser tests, also used by bench/viewer.py: a service process on a free loopback port
with its own data dir, and harness.mjs (headless Chromium via playwright-core) run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tests.immersive.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HARNESS = HERE / "harness.mjs"
NODE_MODULES = ROOT / "web_viewer" / "node_modules"
CHROMIUM = Path(os.environ.get("IMMERSIVE_CHROMIUM", "/usr/bin/chromium"))
IMMERSIVE = Path(sys.executable).parent / "immersive"
SAMPLES_JSON = ROOT / "samples" / "products.json"


@dataclass(frozen=True)
class Service:
    base: str  # http://127.0.0.1:PORT
    merchant: str  # the merchant slug of the samples
    api_key: str  # its merchandiser key (Bearer)
    data_dir: Path

    def get_json(self, path: str, *, auth: bool = True) -> object:
        request = urllib.request.Request(self.base + path)
        if auth:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def events(self, **filters: str) -> list[dict]:
        """The merchant's analytics events (GET /api/v1/events), e.g. events(session=...), oldest first."""
        return self.get_json("/api/v1/events?" + urllib.parse.urlencode({**filters, "limit": 1000}))["items"]


def service_env(data_dir: Path) -> dict[str, str]:
    """The settings of a test service: its own data dir, posters and USDZ made, the Khronos validator
    skipped (it only slows ingestion down; the pipeline tests run it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMERSIVE_")}
    env.update(
        IMMERSIVE_DATA_DIR=str(data_dir),
        IMMERSIVE_PIPELINE_POSTER="true",
        IMMERSIVE_PIPELINE_USDZ="true",
        IMMERSIVE_PIPELINE_VALIDATE="false",
    )
    return env


def api_key_from(stdout: str) -> str:
    keys = [line.strip() for line in stdout.splitlines() if line.strip().startswith("imk_")]
    if len(keys) != 1:
        raise RuntimeError(f"expected one API key in the command's output, got {len(keys)}:\n{stdout}")
    return keys[0]


def run_cli(args: list[str], env: dict[str, str], timeout: float) -> str:
    done = subprocess.run([str(IMMERSIVE), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"immersive {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wait_healthy(base: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"immersive serve exited with {process.returncode}:\n{process.stderr.read()}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{base}/healthz did not answer within {timeout} s")


def start_service(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`immersive serve` on a free loopback port; returns the process and its base URL once healthy.
    Its log goes to log_path (read it when a page fails)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(IMMERSIVE), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=service_env(data_dir), cwd=ROOT, stdout=log, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_healthy(base, process)
    except Exception:
        stop_service(process)
        raise
    process.stderr.close()
    return process, base


def stop_service(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def missing_browser() -> str | None:
    """What the browser tests lack (scripts/setup.sh installs Chromium and the viewer's npm packages), or None."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not (NODE_MODULES / "playwright-core").is_dir():
        missing.append(f"{NODE_MODULES}/playwright-core (npm ci in web_viewer)")
    return ("browser tests need " + " and ".join(missing) + ": run `bash scripts/setup.sh`") if missing else None


class ScenarioFailed(AssertionError):
    pass


def run_scenario(scenario: str | Path, args: dict, *, timeout: float = 180.0) -> object:
    """Runs tests/browser/SCENARIO (a .mjs file) in headless Chromium via harness.mjs and returns its result;
    raises ScenarioFailed with the scenario's error and the page problems (console errors, failed requests,
    HTTP errors) when it threw or the pages had any."""
    if problem := missing_browser():
        raise ScenarioFailed(problem)
    path = Path(scenario)
    if not path.is_absolute():
        path = HERE / path
    done = subprocess.run(
        ["node", str(HARNESS), str(path), json.dumps(args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise ScenarioFailed(f"{path.name}: harness exited with {done.returncode}\n{done.stdout}\n{done.stderr}")
    output = json.loads(lines[-1])
    if not output["ok"]:
        problems = "\n".join(f"  [{p['page']}] {p['kind']}: {p['text']}" for p in output["problems"])
        raise ScenarioFailed(
            f"{path.name} failed after {output['seconds']:.1f} s\n"
            + (f"error: {output['error']}\n" if output["error"] else "")
            + (f"page problems:\n{problems}\n" if problems else "")
        )
    return output["result"]


def pixels(path: str | Path) -> np.ndarray:
    """A screenshot as an (H, W, 3) int16 RGB array (signed, so that differences do not wrap)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def changed(a: np.ndarray, b: np.ndarray, threshold: int = 24) -> np.ndarray:
    """Mask of the pixels whose colour differs by more than `threshold` (0..255) in any channel between two
    screenshots of the same size (small differences are antialiasing and the compositor's dithering)."""
    assert a.shape == b.shape, f"screenshots of different sizes: {a.shape} vs {b.shape}"
    return np.abs(a - b).max(axis=2) > threshold
