"""The queue deployment (PostgreSQL + S3 + Redis + `immersive worker` RQ processes): kill -9 of a worker
(and its work-horse) in the middle of a job, then a restart, completes the job with nothing lost; the
sweeper re-sends what the jobs table says is due (lost messages, retries) without duplicating live ones."""

from __future__ import annotations

import hashlib
import time
import uuid

import httpx
import pytest
from rq import Queue

from immersive.catalog.models import Job, utcnow
from immersive.jobs.redis_queue import RedisQueue, Sweeper, message_id

from .conftest import SAMPLES, QueueWorkers, Service, deployment_settings, running


@pytest.fixture()
def deployment():
    return "scale-out"


def test_kill_9_queue_worker_mid_job_then_restart(request, tmp_path):
    settings = deployment_settings(
        request, "scale-out", tmp_path / "data", job_lease_seconds=2.0, pipeline_usdz=True, pipeline_poster=True
    )
    with running(settings, workers=0) as client:
        service = Service(client)
        a = service.a
        product = service.product(a, "RG-1", category="ring")
        ring = (SAMPLES / "ring.glb").read_bytes()
        job = service.upload(a, product["id"], ring, "ring.glb").json()["job"]
        workers = QueueWorkers(settings, 1).start()
        try:
            running_job = service.wait_job(a, job["id"], timeout=60, states=("running",))
            deadline = time.monotonic() + 60
            while running_job["stage"] != "package":
                assert running_job["state"] == "running" and time.monotonic() < deadline, running_job
                time.sleep(0.02)
                running_job = client.get(f"/api/v1/jobs/{job['id']}", headers=a.headers).json()
            assert workers.horses(workers.processes[0]), "the job runs in a forked work-horse"
            workers.kill()  # the worker and its horse: a machine lost mid-job
            assert service.runtime.storage.exists(f"sources/{hashlib.sha256(ring).hexdigest()}")
            assert client.get(f"/api/v1/jobs/{job['id']}", headers=a.headers).json()["state"] == "running"

            workers = QueueWorkers(settings, 1).start()
            done = service.wait_job(a, job["id"], timeout=120)
            assert done["state"] == "succeeded" and done["attempts"] == 2, done
            asset = client.get(f"/api/v1/products/{product['id']}/asset", headers=a.headers).json()
            assert [v["number"] for v in asset["versions"]] == [1]
            files = asset["versions"][0]["files"]
            assert {"model.usdz", "poster.webp"} <= set(files)
            glb = httpx.get(files["model.glb"]["url"])
            assert hashlib.sha256(glb.content).hexdigest() == files["model.glb"]["sha256"]
        finally:
            workers.stop()


def test_upload_while_redis_is_down_is_sent_by_the_sweeper(request, tmp_path):
    settings = deployment_settings(request, "scale-out", tmp_path / "data")
    dead = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})  # nothing listens on port 1
    with running(dead) as client:
        service = Service(client)
        product = service.product(service.a, "CH-1")
        response = service.upload(service.a, product["id"], (SAMPLES / "chair.glb").read_bytes())
        assert response.status_code == 202  # the job is safe in the table
        job_id = response.json()["job"]["id"]
        assert client.get("/healthz").json()["queue"].startswith("error")
        workers = QueueWorkers(settings, 1).start()  # a worker with a reachable Redis
        try:
            assert service.wait_job(service.a, job_id, timeout=60)["state"] == "succeeded"
        finally:
            workers.stop()


def test_sweeper_resends_only_what_is_due_and_not_in_hand(request, tmp_path):
    settings = deployment_settings(request, "scale-out", tmp_path / "data", worker="external")
    with running(settings) as client:
        service = Service(client)
        runtime = service.runtime
        queue = RedisQueue(settings.redis_url, f"sweep-{uuid.uuid4().hex[:8]}", 600)
        sweeper = Sweeper(runtime, queue, interval=1.0)
        product = service.product(service.a, "CH-1")
        job_id = service.upload(service.a, product["id"], (SAMPLES / "chair.glb").read_bytes()).json()["job"]["id"]

        assert sweeper.sweep() == 1  # queued in the table, never sent (worker=external): sent now
        assert queue.queue.job_ids == [message_id(job_id, 0)]
        assert sweeper.sweep() == 0  # a live message: no duplicate
        queue.queue.empty()  # Redis lost it
        assert sweeper.sweep() == 1 and queue.queue.job_ids == [message_id(job_id, 0)]

        # A retry waiting for its backoff is not sent early; once due, it is sent as the next attempt.
        with runtime.sessions() as session:
            job = session.get(Job, job_id)
            job.attempts, job.next_attempt_at = 1, utcnow().replace(year=utcnow().year + 1)
            session.commit()
        queue.queue.empty()
        assert sweeper.sweep() == 0
        with runtime.sessions() as session:
            session.get(Job, job_id).next_attempt_at = utcnow()
            session.commit()
        assert sweeper.sweep() == 1 and queue.queue.job_ids == [message_id(job_id, 1)]
        Queue(queue.queue.name, connection=queue.redis).delete(delete_jobs=True)
