"""Every hostile file of the pipeline's corpus (tests/hostile_corpus.py) uploaded through the API: refused
with 4xx and the pipeline's own error code and message, nothing stored, and the service stays healthy
(it still processes a good file afterwards). The corpus's per-case limits become service settings."""

from __future__ import annotations

import contextlib

import pytest

from asset_pipeline.limits import Limits
from tests.hostile_corpus import hostile_corpus

from .conftest import DEPLOYMENTS, SAMPLES, Service, deployment_settings, running

CASES = hostile_corpus()
STATUS = {"limit_exceeded": 413, "unsupported_format": 415}


@pytest.fixture(scope="module", params=DEPLOYMENTS)
def services(request, tmp_path_factory):
    """One running service per distinct limits of the corpus, made when first needed."""
    made: dict[str, Service] = {}
    with contextlib.ExitStack() as stack:

        def get(limits: Limits | None) -> Service:
            key = (limits or Limits()).model_dump_json()
            if key not in made:
                overrides = limits.model_dump() if limits else {}
                settings = deployment_settings(request, request.param, tmp_path_factory.mktemp("hostile"), **overrides)
                # Only the default-limits service processes a job (queue deployment: one worker process).
                made[key] = Service(stack.enter_context(running(settings, workers=1 if limits is None else 0)))
                made[key].product_id = made[key].product(made[key].a, "H-1")["id"]
            return made[key]

        yield get


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_upload_is_refused_with_the_pipeline_reason(services, case):
    service = services(case.limits)
    response = service.upload(service.a, service.product_id, case.data, case.filename)
    body = response.json()
    assert 400 <= response.status_code < 500, (case.name, response.status_code, body)
    assert response.status_code == STATUS.get(case.expected.code, 422)
    assert body["error"] == case.expected.code, (case.name, body)
    assert case.message.lower() in body["detail"].lower(), (case.name, body)
    assert len(body["detail"]) >= 15


def test_service_healthy_after_the_corpus(services):
    """Runs after the cases (file order): nothing hostile reached storage or the job table, and the same
    service still takes and processes a good file."""
    service = services(None)
    assert service.client.get("/healthz").json()["status"] == "ok"
    assert service.client.get("/api/v1/jobs", headers=service.a.headers).json()["total"] == 0
    assert not list(service.runtime.settings.tmp_dir.glob("upload-*")), "spool files left behind"
    response = service.upload(service.a, service.product_id, (SAMPLES / "ring.glb").read_bytes(), "ring.glb")
    assert response.status_code == 202
    assert service.wait_job(service.a, response.json()["job"]["id"])["state"] == "succeeded"


def test_without_upload_validation_the_job_fails_with_the_reason_and_no_retry(settings_factory):
    """validate_uploads=False (reading deferred to the workers): the same refusals arrive as failed jobs,
    attempted once, since a PipelineError is never transient."""
    picks = [c for c in CASES if c.limits is None][::12]
    with running(settings_factory(validate_uploads=False)) as client:
        service = Service(client)
        product = service.product(service.a, "H-2")
        for case in picks:
            response = service.upload(service.a, product["id"], case.data, case.filename)
            assert response.status_code == 202, (case.name, response.text)
            job = service.wait_job(service.a, response.json()["job"]["id"])
            assert job["state"] == "failed" and job["attempts"] == 1, (case.name, job)
            assert job["error"]["code"] == case.expected.code
            assert case.message.lower() in job["error"]["detail"].lower()
        assert client.get("/healthz").json()["status"] == "ok"
