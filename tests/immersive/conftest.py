"""Fixtures for the service tests: a real app per test (its own data directory and database, migrations
run at start, worker thread) in each deployment, merchants with keys, and the servers the run starts
itself on free 127.0.0.1 ports (PostgreSQL 15, moto_server for S3), stopped afterwards.

Deployments (the same API tests run against each):
- embedded:  SQLite catalog + local file storage + the worker thread inside the service (the defaults)
- scale-out: PostgreSQL catalog + S3 storage (moto_server) + jobs over Redis to a real `immersive worker`
             process (RQ); a fresh database, bucket and queue per test

The pipeline runs on the small sample products with its slow optional outputs (USDZ, posters, the Khronos
validator) switched off, except in tests that are about them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")
from fastapi.testclient import TestClient  # noqa: E402

from immersive.app import create_app  # noqa: E402
from immersive.catalog.merchants import create_api_key, create_merchant  # noqa: E402
from immersive.config import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
FAST_PIPELINE = dict(pipeline_validate=False, pipeline_usdz=False, pipeline_poster=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@pytest.fixture(scope="session")
def moto_server():
    """A real S3-compatible HTTP server (moto) on a free port for the whole run; its endpoint URL."""
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if executable is None:
        pytest.fail("moto_server is not installed (pip install 'moto[server]'; scripts/setup.sh does)")
    port = free_port()
    process = subprocess.Popen(
        [executable, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


PG_BIN = Path(os.environ.get("IMMERSIVE_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free port; `database()` makes a fresh DB."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(f"PostgreSQL server binaries not found in {PG_BIN} (set IMMERSIVE_PG_BIN)")
        self.dir = Path(tempfile.mkdtemp(prefix="immersive-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0  # initdb refuses root: run the server as the postgres user
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        self._run(f"{PG_BIN}/initdb -D {self.dir}/data -U postgres -A trust --no-sync -E UTF8")
        self._run(
            f"{PG_BIN}/pg_ctl -D {self.dir}/data -l {self.dir}/log -w start "
            f"-o '-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300'"
        )
        self.admin = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, command: str) -> None:
        argv = ["su", "postgres", "-c", command] if self.as_root else ["sh", "-c", command]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._run(f"{PG_BIN}/pg_ctl -D {self.dir}/data -m immediate -w stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    """A private redis-server on a free port (no persistence) for the whole run; its URL."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server; scripts/setup.sh does)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="immersive-redis-")
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that give a subprocess (`immersive worker`, `serve`) the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMERSIVE_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"IMMERSIVE_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    env["PYTHONPATH"] = str(ROOT)
    return env


class QueueWorkers:
    """`immersive worker` processes (RQ, a work-horse per job) serving one test's queue."""

    def __init__(self, settings: Settings, count: int = 1):
        self.settings, self.count = settings, count
        self.processes: list[subprocess.Popen] = []
        self.log = Path(tempfile.mkstemp(prefix="immersive-worker-", suffix=".log")[1])

    def start(self) -> "QueueWorkers":
        for _ in range(self.count):
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "immersive.cli", "worker"],
                    cwd=ROOT, env=settings_env(self.settings), stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                )
            )
        return self

    def horses(self, process: subprocess.Popen) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        return [int(pid) for pid in found]

    def kill(self) -> None:
        """kill -9 every worker and its work-horse (a machine lost mid-job)."""
        for process in self.processes:
            for pid in [process.pid, *self.horses(process)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(10)
        self.processes.clear()

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)  # RQ: warm shutdown, then a second signal stops the horse
        for process in self.processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    self.kill()
        self.processes.clear()
        self.log.unlink(missing_ok=True)


@contextlib.contextmanager
def running(settings: Settings, workers: int = 1):
    """A started app (TestClient) and, with worker=queue, its queue worker processes."""
    with TestClient(create_app(settings)) as client:
        queue_workers = QueueWorkers(settings, workers).start() if settings.worker == "queue" else None
        try:
            yield client
        finally:
            if queue_workers:
                queue_workers.stop()


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


def make_settings(data_dir: Path, storage: str, s3_endpoint: str | None = None, **overrides) -> Settings:
    values = dict(
        data_dir=data_dir,
        worker_poll_seconds=0.05,
        job_retry_base_seconds=0.2,
        job_lease_seconds=10.0,
        **FAST_PIPELINE,
    )
    if storage == "s3":
        values.update(
            storage="s3",
            s3_endpoint_url=s3_endpoint,
            s3_bucket=f"test-{uuid.uuid4().hex[:12]}",
            s3_create_bucket=True,
            s3_access_key_id="test",
            s3_secret_access_key="test",
        )
    values.update(overrides)
    return Settings(_env_file=None, **values)


DEPLOYMENTS = ["embedded", "scale-out"]


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request) -> str:
    """The deployments every API test runs against."""
    return request.param


def deployment_settings(request, deployment: str, data_dir: Path, **overrides) -> Settings:
    if deployment == "embedded":
        return make_settings(data_dir, "local", **overrides)
    scale_out = dict(
        database_url=request.getfixturevalue("postgres").database(),
        worker="queue",
        redis_url=request.getfixturevalue("redis_server"),
        queue_name=f"q-{uuid.uuid4().hex[:12]}",
    )
    return make_settings(data_dir, "s3", request.getfixturevalue("moto_server"), **{**scale_out, **overrides})


@pytest.fixture()
def settings_factory(tmp_path, deployment, request):
    def factory(**overrides) -> Settings:
        return deployment_settings(request, deployment, tmp_path / f"data-{uuid.uuid4().hex[:6]}", **overrides)

    return factory


@pytest.fixture()
def settings(settings_factory) -> Settings:
    return settings_factory()


@dataclass
class Tenant:
    slug: str
    key: str
    reader_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def reader_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.reader_key}


class Service:
    """A running app (TestClient) with two merchants and helpers for the common calls."""

    def __init__(self, client: TestClient):
        self.client = client
        self.runtime = client.app.state.runtime
        self.a = self.add_merchant("Alpha Furniture", "alpha")
        self.b = self.add_merchant("Beta Optics", "beta")

    def add_merchant(self, name: str, slug: str) -> Tenant:
        slug = f"{slug}-{uuid.uuid4().hex[:6]}"
        with self.runtime.sessions() as session:
            merchant = create_merchant(session, name, slug)
            _, key = create_api_key(session, merchant, "merchandiser")
            _, reader = create_api_key(session, merchant, "reader")
            session.commit()
        return Tenant(slug, key, reader)

    def product(self, tenant: Tenant, sku: str = "CH-1", **fields) -> dict:
        body = {"sku": sku, "name": fields.pop("name", f"Product {sku}"), "category": fields.pop("category", "chair"), **fields}
        response = self.client.post("/api/v1/products", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()

    def upload(self, tenant: Tenant, product_id: str, data: bytes, filename: str = "chair.glb", key: str | None = None, **fields):
        headers = dict(tenant.headers)
        if key:
            headers["Idempotency-Key"] = key
        return self.client.post(
            "/api/v1/uploads",
            data={"product_id": product_id, **fields},
            files={"file": (filename, data, "application/octet-stream")},
            headers=headers,
        )

    def wait_job(self, tenant: Tenant, job_id: str, timeout: float = 120.0, states=("succeeded", "failed", "cancelled")) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.client.get(f"/api/v1/jobs/{job_id}", headers=tenant.headers).json()
            if job["state"] in states:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s: {job}")

    def ingest(self, tenant: Tenant, sku: str = "CH-1", sample: str = "chair.glb", **product_fields) -> tuple[dict, dict]:
        """A product with one processed asset version: (product, finished job)."""
        product = self.product(tenant, sku, **product_fields)
        response = self.upload(tenant, product["id"], (SAMPLES / sample).read_bytes(), sample)
        assert response.status_code == 202, response.text
        job = self.wait_job(tenant, response.json()["job"]["id"])
        assert job["state"] == "succeeded", job
        return product, job


@pytest.fixture()
def service(settings) -> Service:
    with running(settings) as client:
        yield Service(client)


def fetch(service: Service, url: str, **kwargs) -> httpx.Response:
    """GET a file URL the API handed out: the app's own /files route, or a presigned URL on the S3 server."""
    if url.startswith(str(service.client.base_url)) or url.startswith("/"):
        return service.client.get(url, **kwargs)
    return httpx.get(url, **kwargs)

