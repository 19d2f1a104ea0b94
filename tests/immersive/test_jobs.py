"""/api/v1/jobs and the job machinery: progress by polling and server-sent events, cancel (queued and
running), retries with backoff for transient failures, no retry for bad input, lease recovery."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from immersive.app import create_app
from immersive.catalog import jobs as job_queries
from immersive.jobs.process import process_upload

from .conftest import SAMPLES, Service

RING = (SAMPLES / "ring.glb").read_bytes()


@pytest.fixture()
def external(settings_factory):
    """A service whose jobs nobody runs until the test calls process_upload (worker=external)."""
    with TestClient(create_app(settings_factory(worker="external"))) as client:
        yield Service(client)


def _queued(service, sku="RG-1"):
    product = service.product(service.a, sku, category="ring")
    response = service.upload(service.a, product["id"], RING, "ring.glb")
    assert response.status_code == 202
    return product, response.json()["job"]


def test_server_sent_events_follow_a_job(settings_factory):
    # worker=external: the job starts only once the stream is open; posters and USDZ make it run ~2 s.
    settings = settings_factory(worker="external", pipeline_poster=True, pipeline_usdz=True)
    with TestClient(create_app(settings)) as client:
        service = Service(client)
        _, job = _queued(service)
        events, worker = [], None
        with client.stream("GET", f"/api/v1/jobs/{job['id']}/events", headers=service.a.reader_headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
                    if worker is None:
                        worker = threading.Thread(target=process_upload, args=(job["id"], service.runtime))
                        worker.start()
        worker.join()
        assert events[0][1]["state"] == "queued"
        assert events[-1][0] == "end" and events[-1][1]["state"] == "succeeded"
        assert [e[0] for e in events[:-1]] == ["progress"] * (len(events) - 1)
        stages = [e[1]["stage"] for e in events if e[1]["stage"]]
        assert "package" in stages and stages[-1] == "done", stages
        percents = [e[1]["percent"] for e in events]
        assert percents == sorted(percents) and percents[-1] == 100.0 and len(set(percents)) >= 3
        assert client.get("/api/v1/jobs/nope/events", headers=service.a.headers).status_code == 404


def test_cancel_queued_and_running(external):
    service = external
    _, job = _queued(service, "RG-1")
    cancelled = service.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=service.a.headers)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert service.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=service.a.headers).status_code == 409
    assert process_upload(job["id"], service.runtime) == "cancelled"  # a worker leaves it alone

    product, job = _queued(service, "RG-2")
    with service.runtime.sessions() as session:
        assert job_queries.claim(session, job["id"], "test-worker", 30)
    running = service.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=service.a.headers).json()
    assert running["state"] == "running"  # stops at its next stage boundary
    assert process_upload(job["id"], service.runtime, owner="test-worker") == "cancelled"
    final = service.client.get(f"/api/v1/jobs/{job['id']}", headers=service.a.headers).json()
    assert final["state"] == "cancelled" and final["version_id"] is None
    assert service.client.get(f"/api/v1/products/{product['id']}/asset", headers=service.a.headers).status_code == 404


class FlakyStorage:
    """The real storage, but `get` fails the first `failures` times (a storage outage)."""

    def __init__(self, inner, failures: int):
        self.inner, self.failures = inner, failures

    def get(self, key):
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("storage unreachable")
        return self.inner.get(key)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_transient_failure_is_retried_with_backoff(external):
    service = external
    runtime = service.runtime
    runtime.storage = FlakyStorage(runtime.storage, failures=1)
    _, job = _queued(service)
    assert process_upload(job["id"], runtime) == "queued"
    waiting = service.client.get(f"/api/v1/jobs/{job['id']}", headers=service.a.headers).json()
    assert waiting["attempts"] == 1 and waiting["error"]["code"] == "internal_error"
    assert "storage unreachable" in waiting["error"]["detail"] and waiting["next_attempt_at"] is not None
    assert process_upload(job["id"], runtime) == "queued"  # not due yet: left alone
    time.sleep(runtime.settings.job_retry_base_seconds + 0.1)
    assert process_upload(job["id"], runtime) == "succeeded"
    done = service.client.get(f"/api/v1/jobs/{job['id']}", headers=service.a.headers).json()
    assert done["attempts"] == 2 and done["error"] is None and done["version_id"]


def test_retries_stop_at_max_attempts(external):
    service = external
    runtime = service.runtime
    runtime.storage = FlakyStorage(runtime.storage, failures=100)
    _, job = _queued(service)
    states, delays = [], []
    for _ in range(runtime.settings.job_max_attempts):
        with runtime.sessions() as session:
            row = session.get(job_queries.Job, job["id"])
            wait = max(0.0, (row.next_attempt_at - job_queries.utcnow()).total_seconds())
        delays.append(wait)
        time.sleep(wait + 0.01)
        states.append(process_upload(job["id"], runtime))
    assert states == ["queued", "queued", "failed"]
    assert delays[2] > delays[1] > 0  # exponential: base, then 2 x base
    failed = service.client.get(f"/api/v1/jobs/{job['id']}", headers=service.a.headers).json()
    assert failed["state"] == "failed" and failed["attempts"] == 3 and failed["error"]["code"] == "internal_error"


def test_expired_lease_is_recovered(external):
    service = external
    runtime = service.runtime
    _, job = _queued(service)
    with runtime.sessions() as session:
        assert job_queries.claim(session, job["id"], "crashed-worker", lease_seconds=0.05)
    time.sleep(0.1)
    with runtime.sessions() as session:
        assert job_queries.recover_expired(session) == 1
    requeued = service.client.get(f"/api/v1/jobs/{job['id']}", headers=service.a.headers).json()
    assert requeued["state"] == "queued" and requeued["error"]["code"] == "worker_lost"
    assert process_upload(job["id"], runtime) == "succeeded"
    assert service.client.get(f"/api/v1/jobs/{job['id']}", headers=service.a.headers).json()["attempts"] == 2


def test_list_jobs(service):
    a = service.a
    product, job = service.ingest(a, "CH-1")
    bad = service.upload(a, product["id"], b"solid x\nendsolid x\n", "x.stl")
    assert bad.status_code == 422
    listing = service.client.get("/api/v1/jobs", params={"state": "succeeded"}, headers=a.headers).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == job["id"]
    assert service.client.get("/api/v1/jobs", params={"product_id": "other"}, headers=a.headers).json()["total"] == 0
    assert service.client.get("/api/v1/jobs", params={"state": "bogus"}, headers=a.headers).status_code == 422


def test_product_deleted_while_its_job_runs(external):
    """The job's rows go with the product; the worker discards its result and leaves no files behind.
    (Deleted earlier, the next heartbeat finds the job gone and the run stops before storing anything.)"""
    service = external
    runtime = service.runtime
    product, job = _queued(service)
    with runtime.sessions() as session:
        assert job_queries.claim(session, job["id"], "w", 30)

    def delete_then_continue(stage, fraction):
        if stage == "store":  # after the pipeline, before the bundle is stored and recorded
            assert service.client.delete(f"/api/v1/products/{product['id']}", headers=service.a.headers).status_code == 204

    assert process_upload(job["id"], runtime, owner="w", progress=delete_then_continue) == "gone"
    from immersive.catalog.models import AssetFile

    with runtime.sessions() as session:
        assert session.query(AssetFile).count() == 0
    stored = [k for k in _all_keys(runtime.storage) if k.startswith("assets/")]
    assert stored == []


def _all_keys(storage):
    if hasattr(storage, "root"):
        return [str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file() and ".tmp" not in p.parts]
    return [o["Key"] for o in storage.client.list_objects_v2(Bucket=storage.bucket).get("Contents", [])]
