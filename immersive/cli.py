"""`immersive` command line: serve | worker | db upgrade | merchant create | ingest | samples.

Every command reads the same settings as the service (IMMERSIVE_* environment variables, .env)."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from asset_pipeline.errors import PipelineError
from asset_pipeline.io import model_files

from .config import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="database schema (Alembic migrations)")
merchant_app = typer.Typer(no_args_is_help=True, help="merchants (tenants) and their API keys")
app.add_typer(db_app, name="db")
app.add_typer(merchant_app, name="merchant")
console = Console(stderr=True)
out = Console()

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


def _runtime(migrate: bool = True):
    from .runtime import Runtime

    return Runtime.create(Settings(), migrate=migrate)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, help="TCP port"),
    workers: int = typer.Option(1, help="uvicorn worker processes (with worker=embedded each runs a job thread)"),
    log_level: str = typer.Option("info"),
) -> None:
    """Run the HTTP service (OpenAPI at /docs)."""
    import uvicorn

    uvicorn.run("immersive.app:app_from_env", factory=True, host=host, port=port, workers=workers, log_level=log_level)


@app.command()
def worker(
    threads: int = typer.Option(1, help="jobs run at the same time by this process (table polling; a queue worker runs one)"),
    burst: bool = typer.Option(False, help="queue worker: stop when the queue is empty"),
) -> None:
    """Run processing jobs until stopped (SIGINT/SIGTERM finish the current job first). With
    IMMERSIVE_WORKER=queue it is an RQ worker on Redis; otherwise it polls the catalog's job table. Run any
    number, on any machines that share the database, the storage (and Redis)."""
    import logging

    from .jobs.embedded import EmbeddedWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = _runtime()
    if runtime.settings.worker == "queue":
        from .jobs.redis_queue import run_worker

        console.print(f"worker: RQ on {runtime.settings.redis_url}, queue {runtime.settings.queue_name!r}")
        run_worker(runtime, burst=burst)
        console.print("worker: stopped")
        runtime.close()
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = EmbeddedWorker(runtime, threads=threads)
    worker.start()
    console.print(f"worker: {threads} thread(s) on {runtime.settings.resolved_database_url.split('@')[-1]}")
    stop.wait()
    console.print("worker: stopping after the current job")
    worker.stop()
    runtime.close()


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the migrations (SQLite or PostgreSQL, from IMMERSIVE_DATABASE_URL)."""
    from .catalog.database import current_revision, upgrade

    runtime = _runtime(migrate=False)
    upgrade(runtime.engine, revision)
    out.print(f"database at revision {current_revision(runtime.engine)}")


@app.command()
def gc() -> None:
    """Remove two-step uploads never completed (older than IMMERSIVE_UPLOAD_EXPIRY_HOURS) with their bytes,
    spool files of uploads that died, and saved try-on looks past IMMERSIVE_SAVED_LOOK_RETENTION_HOURS (the
    workers also do this about once an hour)."""
    from .janitor import clean

    runtime = _runtime()
    removed = clean(runtime)
    out.print(", ".join(f"{count} {what.replace('_', ' ')}" for what, count in removed.items()) + " removed")
    runtime.close()


@merchant_app.command("create")
def merchant_create(
    name: str = typer.Argument(..., help="display name"),
    slug: Optional[str] = typer.Option(None, help="URL name (default: from the name)"),
    role: str = typer.Option("merchandiser", help="role of the first key: merchandiser | reader"),
) -> None:
    """Create a merchant and its first API key. The key is printed once and never stored in plain."""
    from .catalog.merchants import create_api_key, create_merchant
    from .errors import DomainError

    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            merchant = create_merchant(session, name, slug)
            _, key = create_api_key(session, merchant, role, name="created by CLI")
        except DomainError as exc:
            console.print(f"[red]{exc.code}: {exc.message}[/red]")
            raise typer.Exit(1) from None
        session.commit()
    console.print(f"merchant {merchant.slug!r} created; its {role} API key (shown once):")
    out.print(key)


@merchant_app.command("key")
def merchant_key(slug: str, role: str = typer.Option("merchandiser", help="merchandiser | reader")) -> None:
    """Add an API key to an existing merchant (printed once)."""
    from .catalog.merchants import create_api_key, get_merchant_by_slug
    from .errors import DomainError

    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            _, key = create_api_key(session, get_merchant_by_slug(session, slug), role, name="created by CLI")
        except DomainError as exc:
            console.print(f"[red]{exc.code}: {exc.message}[/red]")
            raise typer.Exit(1) from None
        session.commit()
    out.print(key)


@dataclass
class IngestItem:
    path: Path
    sku: str
    name: str
    category: str | None = None
    fields: dict | None = None  # product fields when the product is created


@dataclass
class IngestResult:
    item: IngestItem
    state: str
    code: str = ""
    detail: str = ""
    seconds: float = 0.0
    triangles: int | None = None
    version: int | None = None


def _ingest(runtime, merchant_id: str, items: list[IngestItem], *, profile: str | None, publish: bool, wait: bool) -> list[IngestResult]:
    """Upload each file as a new version of its product (created when missing) and, unless `wait` is
    False, run its job here with a progress bar; a bad file is reported and the rest go on."""
    from .catalog import products as product_queries
    from .catalog.models import AssetVersion, Job
    from .errors import DomainError
    from .ingest import UploadOptions, accept, new_upload, spool_path
    from .jobs.process import process_upload

    results: list[IngestResult] = []
    columns = (TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.fields[stage]:<12}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        overall = progress.add_task("total", total=len(items), stage="")
        for item in items:
            task = progress.add_task(item.path.name[:28], total=100, stage="upload")
            start = time.perf_counter()
            try:
                with runtime.sessions() as session:
                    try:
                        product = product_queries.get_product_by_sku(session, merchant_id, item.sku)
                    except DomainError:
                        fields = {"sku": item.sku, "name": item.name, "category": item.category or "generic"}
                        fields.update(item.fields or {})
                        product = product_queries.create_product(session, merchant_id, fields)
                    if publish:
                        product.status = "published"
                    session.commit()
                    upload = new_upload(
                        merchant_id, product, item.path.name, UploadOptions(profile=profile, category=item.category), None
                    )
                    accepted = accept(runtime, session, upload, spool_path(item.path, runtime.settings.upload_limit_bytes))
                    job_id = accepted.job.id

                def on_progress(stage: str, fraction: float, task=task) -> None:
                    progress.update(task, completed=fraction * 100, stage=stage)

                if wait:
                    state = process_upload(job_id, runtime, progress=on_progress)
                    while state not in ("succeeded", "failed", "cancelled"):  # taken by a running service's worker
                        time.sleep(0.5)
                        with runtime.sessions() as session:
                            state = session.get(Job, job_id).state
                with runtime.sessions() as session:
                    job = session.get(Job, job_id)
                    result = IngestResult(item, job.state, job.error_code or "", job.error_message or "")
                    if job.version_id:
                        version = session.get(AssetVersion, job.version_id)
                        result.version = version.number
                        result.triangles = version.summary_json["triangles"]
            except (PipelineError, DomainError) as exc:
                result = IngestResult(item, "rejected", exc.code, exc.message)
            result.seconds = time.perf_counter() - start
            results.append(result)
            progress.update(task, completed=100, stage=result.state)
            progress.advance(overall)
    return results


def _summary(results: list[IngestResult]) -> None:
    """A table of outcomes, then each failure as `file: code: message` (readable at any terminal width)."""
    table = Table(title="ingest")
    for column in ("file", "sku", "result", "version", "triangles", "seconds"):
        table.add_column(column, justify="right" if column in ("version", "triangles", "seconds") else "left")
    for r in results:
        colour = {"succeeded": "green", "queued": "yellow", "skipped": "cyan"}.get(r.state, "red")
        table.add_row(
            r.item.path.name, r.item.sku, f"[{colour}]{r.state}[/{colour}]", str(r.version or ""),
            f"{r.triangles:,}" if r.triangles else "", f"{r.seconds:.1f}",
        )
    out.print(table)
    for r in results:
        if r.code:
            out.print(f"{r.item.path}: {r.code}: {r.detail}", soft_wrap=True, highlight=False, markup=False)


def _merchant_id(runtime, slug: str) -> str:
    from .catalog.merchants import get_merchant_by_slug
    from .errors import DomainError

    with runtime.sessions() as session:
        try:
            return get_merchant_by_slug(session, slug).id
        except DomainError as exc:
            console.print(f"[red]{exc.message}: create it with `immersive merchant create`[/red]")
            raise typer.Exit(2) from None


@app.command()
def ingest(
    inputs: list[Path] = typer.Argument(..., help="model files, zips or folders of them"),
    merchant: str = typer.Option(..., "--merchant", "-m", help="merchant slug"),
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="pipeline profile (default: the service's)"),
    category: Optional[str] = typer.Option(None, help="category of products created here"),
    publish: bool = typer.Option(False, help="publish the products"),
    wait: bool = typer.Option(True, "--wait/--queue", help="process here (default) or leave the jobs to the workers"),
) -> None:
    """Batch upload: each file becomes a new asset version of the product whose SKU is the file name's stem
    (created as a draft when missing). Continues past bad files; exit code 1 if any failed."""
    runtime = _runtime()
    files = model_files(inputs)
    if not files:
        console.print("[red]no model files found in the inputs[/red]")
        raise typer.Exit(2)
    items = [IngestItem(path=f, sku=f.stem, name=f.stem.replace("_", " ").replace("-", " "), category=category) for f in files]
    results = _ingest(runtime, _merchant_id(runtime, merchant), items, profile=profile, publish=publish, wait=wait)
    _summary(results)
    runtime.close()
    if any(r.state not in ("succeeded", "queued") for r in results):
        raise typer.Exit(1)


@app.command()
def samples(
    merchant: str = typer.Option("demo", help="merchant slug (created with a printed key if missing)"),
    profile: Optional[str] = typer.Option(None, "--profile", "-p"),
    directory: Path = typer.Option(SAMPLES_DIR, help="folder with products.json and the model files"),
) -> None:
    """Generate the sample products if missing and ingest them as the merchant's published catalogue.
    Products whose current version was made from the same file are skipped, so running it again is cheap;
    their catalogue fields (name, price, hotspots, ...) are still brought in line with products.json."""
    import json

    from pydantic import ValidationError

    from .api.products import product_columns
    from .api.schemas import ProductIn
    from .catalog import products as product_queries
    from .catalog.assets import current_versions
    from .catalog.merchants import create_api_key, create_merchant, get_merchant_by_slug
    from .errors import DomainError
    from .ingest import spool_path

    catalogue = directory / "products.json"
    if not catalogue.exists() or any(not (directory / p["file"]).exists() for p in json.loads(catalogue.read_text())["products"]):
        from samples.generate import generate

        console.print(f"generating the samples into {directory}")
        generate(directory)
    entries = json.loads(catalogue.read_text())["products"]
    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            merchant_row = get_merchant_by_slug(session, merchant)
        except DomainError:
            merchant_row = create_merchant(session, "Demo store" if merchant == "demo" else merchant, merchant)
            _, key = create_api_key(session, merchant_row, "merchandiser", name="samples")
            session.commit()
            console.print(f"merchant {merchant!r} created; its merchandiser API key (shown once):")
            out.print(key)
        merchant_id = merchant_row.id

    items, skipped = [], []
    with runtime.sessions() as session:
        for entry in entries:
            path = directory / entry["file"]
            given = {name: value for name, value in entry.items() if name in ProductIn.model_fields}
            given["variants"] = [{"name": v} if isinstance(v, str) else v for v in entry.get("variants", [])]
            try:
                fields = product_columns(ProductIn.model_validate({**given, "status": "published"}).model_dump(mode="json"))
            except ValidationError as exc:
                console.print(f"[red]{catalogue}: product {entry.get('sku')!r}: {exc}[/red]")
                raise typer.Exit(2) from None
            item = IngestItem(path=path, sku=entry["sku"], name=entry["name"], category=entry["category"], fields=fields)
            try:
                product = product_queries.get_product_by_sku(session, merchant_id, entry["sku"])
            except DomainError:
                items.append(item)
                continue
            changed = {name: value for name, value in fields.items() if getattr(product, name) != value}
            if changed:
                product_queries.update_product(session, product, changed)
            current = current_versions(session, [product]).get(product.id)
            sha = spool_path(path, runtime.settings.upload_limit_bytes).sha256
            (skipped if current is not None and current.source_sha256 == sha else items).append(item)
        session.commit()
    results = _ingest(runtime, merchant_id, items, profile=profile, publish=True, wait=True)
    results += [IngestResult(item, "skipped", detail="current version made from this file") for item in skipped]
    _summary(results)
    runtime.close()
    if any(r.state not in ("succeeded", "skipped") for r in results):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
