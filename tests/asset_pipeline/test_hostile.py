"""Every hostile upload in tests/hostile_corpus.py fails with exactly its typed error and a message that
names the problem, never another exception; the valid files the cases derive from read cleanly."""

from __future__ import annotations

import time

import pytest

from asset_pipeline import io as aio
from asset_pipeline.errors import PipelineError
from asset_pipeline.limits import DEFAULT_LIMITS, Limits
from tests.hostile_corpus import control_samples, hostile_corpus, mutated_samples

CASES = hostile_corpus()
CONTROLS = control_samples()


def test_corpus_is_large_and_names_are_unique():
    assert len(CASES) >= 35
    assert len({case.name for case in CASES}) == len(CASES)
    # Every reader and the zip layer is exercised.
    prefixes = {case.name.split("_")[0] for case in CASES}
    assert {"glb", "gltf", "obj", "ply", "stl", "zip"} <= prefixes


@pytest.mark.parametrize("name,filename,data", CONTROLS, ids=[c[0] for c in CONTROLS])
def test_control_samples_read(name, filename, data):
    asset = aio.read(data, filename)
    assert asset.triangle_count >= 1


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_case_raises_its_typed_error(case):
    start = time.perf_counter()
    try:
        aio.read(case.data, case.filename, case.limits or DEFAULT_LIMITS)
    except PipelineError as exc:
        assert type(exc) is case.expected, f"{case.name}: expected {case.expected.__name__}, got {type(exc).__name__}: {exc}"
        assert len(exc.message) >= 15, f"{case.name}: message too short to act on: {exc.message!r}"
        if case.message:
            assert case.message.lower() in exc.message.lower(), f"{case.name}: {case.message!r} not in {exc.message!r}"
    else:
        pytest.fail(f"{case.name}: read without error; expected {case.expected.__name__}")
    # Hostile input is refused quickly (bombs are never inflated, huge counts never allocated).
    assert time.perf_counter() - start < 5.0


def test_randomly_damaged_files_raise_only_typed_errors():
    """Byte flips, cuts and inserted junk in every control sample: each read either succeeds or raises a
    PipelineError, never a raw exception (IndexError, zlib.error, ValueError...)."""
    limits = Limits(max_input_triangles=100_000, max_input_vertices=100_000)
    outcomes = {"read": 0, "refused": 0}
    for name, filename, data in mutated_samples(3000, seed=7):
        try:
            aio.read(data, filename, limits)
            outcomes["read"] += 1
        except PipelineError:
            outcomes["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{name}: {type(exc).__name__}: {exc}")
    assert outcomes["refused"] > 1000 and outcomes["read"] > 100
