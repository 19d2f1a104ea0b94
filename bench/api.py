"""Load generator for the service's read API, bounded in time: N concurrent keep-alive clients against
127.0.0.1, each sending the next request as soon as the last answer is read; prints requests/s and
latency percentiles per scenario next to the targets (>= 1500 req/s, p99 < 50 ms at 64 clients).

    .venv/bin/python bench/api.py                       # starts its own service (embedded deployment, temp data dir)
    .venv/bin/python bench/api.py --url http://127.0.0.1:8000 --merchant demo   # against a running one
    .venv/bin/python bench/api.py --cache-seconds 0     # every request reads the database

The client is a minimal asyncio HTTP/1.1 loop (no httpx): on a 2-core machine the load generator shares
the CPU with the server, so it has to cost as little per request as possible. Its own share is printed."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
TARGET_RPS = 1500
TARGET_P99_MS = 50.0


async def _client(host: str, port: int, paths: list[str], offset: int, stop_at: float, latencies: list[float], errors: list[str]):
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            start = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(f"{status} {path}")
    finally:
        writer.close()


async def _run(url: str, paths: list[str], clients: int, seconds: float) -> dict:
    parts = urlsplit(url)
    latencies: list[float] = []
    errors: list[str] = []
    warm_stop = time.perf_counter() + 1.0  # warm-up: connections, caches, the server's thread pool
    await asyncio.gather(*[_client(parts.hostname, parts.port or 80, paths, i, warm_stop, [], errors) for i in range(clients)])
    errors.clear()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(*[_client(parts.hostname, parts.port or 80, paths, i, stop_at, latencies, errors) for i in range(clients)])
    elapsed = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000,
        "errors": len(errors),
        "client_cpu": (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / elapsed,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_service(data_dir: Path, port: int, workers: int, cache_seconds: float) -> tuple[subprocess.Popen, str]:
    """An embedded-deployment service with the sample catalogue (fast pipeline: no USDZ/poster/validator;
    the vase's reconstruction is skipped to keep seeding short) plus plain products to make listing pages full."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IMMERSIVE_")},
        "IMMERSIVE_DATA_DIR": str(data_dir),
        "IMMERSIVE_PIPELINE_VALIDATE": "false",
        "IMMERSIVE_PIPELINE_USDZ": "false",
        "IMMERSIVE_PIPELINE_POSTER": "false",
        "IMMERSIVE_PUBLIC_CACHE_SECONDS": str(cache_seconds),
    }
    immersive = [sys.executable, "-m", "immersive.cli"]
    key = subprocess.run([*immersive, "merchant", "create", "Bench", "--slug", "bench"], env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    samples = sorted((ROOT / "samples").glob("*.glb"))
    subprocess.run([*immersive, "ingest", *map(str, samples), "--merchant", "bench", "--publish"], env=env, cwd=ROOT, check=True, capture_output=True)
    server = subprocess.Popen(
        [*immersive, "serve", "--port", str(port), "--log-level", "warning", "--workers", str(workers)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for i in range(190):
            client.post("/api/v1/products", json={"sku": f"PLAIN-{i:03d}", "name": f"Plain product {i}", "category": "decor", "status": "published"}).raise_for_status()
    return server, base


def _ingest_run(scans: list[Path], workers: int, redis_url: str, tmp: Path) -> dict:
    """Queue every scan (upload + validation read, untimed), then time `workers` queue worker processes
    (RQ over Redis, SQLite catalog, local storage, the full pipeline incl. USDZ and posters) until all are done.
    Each run has its own Redis database, so the worker registry counts only this run's workers."""
    from datetime import datetime

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IMMERSIVE_")},
        "IMMERSIVE_DATA_DIR": str(tmp / f"ingest-{workers}"),
        "IMMERSIVE_WORKER": "queue",
        "IMMERSIVE_REDIS_URL": redis_url,
        "IMMERSIVE_QUEUE_NAME": f"bench-{workers}-{os.getpid()}",
    }
    immersive = [sys.executable, "-m", "immersive.cli"]
    subprocess.run([*immersive, "merchant", "create", "Bench", "--slug", "bench"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*immersive, "ingest", *map(str, scans), "--merchant", "bench", "--queue"], env=env, cwd=ROOT, capture_output=True)
    database = tmp / f"ingest-{workers}" / "catalog.sqlite3"

    def jobs():
        import sqlite3

        with sqlite3.connect(database) as db:
            return db.execute("SELECT state, started_at, finished_at FROM jobs").fetchall()

    queued = len(jobs())
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = [
        subprocess.Popen([*immersive, "worker"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    # The clock starts when every worker has registered with RQ (imports and pipeline preload done); the
    # jobs waiting in the queue are then taken at once, so this times processing, not process start-up.
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    while len(Worker.all(connection=connection)) < workers:
        time.sleep(0.02)
    start = time.perf_counter()
    try:
        while True:
            rows = jobs()
            if all(state in ("succeeded", "failed", "cancelled") for state, _, _ in rows):
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
    finally:
        for proc in procs:
            proc.send_signal(2)
        for proc in procs:
            proc.wait(60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    job_seconds = [
        (datetime.fromisoformat(f) - datetime.fromisoformat(s)).total_seconds() for state, s, f in rows if s and f
    ]
    return {
        "workers": workers,
        "jobs": queued,
        "succeeded": sum(1 for r in rows if r[0] == "succeeded"),
        "seconds": elapsed,
        "jobs_per_minute": 60 * queued / elapsed,
        "sum_job_seconds": sum(job_seconds),
        "longest_job_seconds": max(job_seconds, default=0.0),
        "worker_cpu_seconds": cpu,  # workers, their work-horses and the tools these run (validator, ...)
    }


def ingest_bench(scans_dir: Path) -> int:
    scans = sorted(p for p in scans_dir.iterdir() if p.suffix.lower() in (".glb", ".gltf", ".obj", ".ply", ".stl", ".zip"))
    if not scans:
        print(f"no scans in {scans_dir}")
        return 2
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        print("redis-server is not installed (apt-get install redis-server)")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="immersive-ingest-"))
    port = _free_port()
    redis = subprocess.Popen(
        [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        runs = [_ingest_run(scans, n, f"redis://127.0.0.1:{port}/{n}", tmp) for n in (1, 2)]
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ingest of {len(scans)} scans from {scans_dir} (full web-ar pipeline incl. USDZ and posters), {os.cpu_count()} CPUs")
    print(
        f"{'queue workers':>13} {'jobs':>5} {'ok':>4} {'wall s':>8} {'jobs/min':>9} {'sum of job s':>13} "
        f"{'longest job s':>14} {'worker CPU s':>13} {'cores busy':>11}"
    )
    for r in runs:
        print(
            f"{r['workers']:>13} {r['jobs']:>5} {r['succeeded']:>4} {r['seconds']:>8.1f} {r['jobs_per_minute']:>9.2f} "
            f"{r['sum_job_seconds']:>13.1f} {r['longest_job_seconds']:>14.1f} {r['worker_cpu_seconds']:>13.1f} "
            f"{r['worker_cpu_seconds'] / r['seconds']:>11.2f}"
        )
    speedup = runs[1]["jobs_per_minute"] / runs[0]["jobs_per_minute"]
    print(f"2 vs 1 workers: {speedup:.2f}x  {'met' if speedup >= 1.8 else 'MISSED'} (target >= 1.8x)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service; default: start one")
    parser.add_argument("--merchant", default="bench", help="merchant slug whose public catalogue is read")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario")
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn processes of the started service")
    parser.add_argument("--cache-seconds", type=float, default=1.0, help="the started service's IMMERSIVE_PUBLIC_CACHE_SECONDS (0 = no cache)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ingest", action="store_true", help="instead: ingest throughput with 1 vs 2 queue workers")
    parser.add_argument("--scans", type=Path, default=ROOT.parent / "shared" / "scans", help="--ingest: folder of scans")
    args = parser.parse_args()
    if args.ingest:
        return ingest_bench(args.scans)

    server = tmp = None
    url = args.url
    if url is None:
        tmp = Path(tempfile.mkdtemp(prefix="immersive-bench-"))
        server, url = _start_service(tmp / "data", _free_port(), args.server_workers, args.cache_seconds)
    try:
        import httpx

        listing = httpx.get(f"{url}/api/v1/public/products/{args.merchant}", params={"per_page": 200}).json()
        skus = [p["sku"] for p in listing["items"] if p["has_ar"]] or [p["sku"] for p in listing["items"]]
        scenarios = {
            "catalog list (50/page)": [f"/api/v1/public/products/{args.merchant}?page={p}" for p in (1, 2, 3, 4)],
            "product read": [f"/api/v1/public/products/{args.merchant}/{sku}" for sku in skus],
        }
        results = {name: asyncio.run(_run(url, paths, args.clients, args.seconds)) for name, paths in scenarios.items()}
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    cache = "" if args.url else f", public cache {args.cache_seconds:g} s" if args.cache_seconds else ", public cache off"
    print(f"{args.clients} clients, {args.seconds:.0f} s per scenario, {os.cpu_count()} CPUs shared by server and load generator{cache}")
    print(f"{'scenario':<24} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} {'gen CPU':>8}  target")
    for name, r in results.items():
        ok = r["rps"] >= TARGET_RPS and r["p99_ms"] < TARGET_P99_MS and not r["errors"]
        print(
            f"{name:<24} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} "
            f"{r['errors']:>7} {r['client_cpu']:>7.0%}  {'met' if ok else 'MISSED'} (>= {TARGET_RPS} req/s, p99 < {TARGET_P99_MS:.0f} ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
