"""`asset-pipeline` command line: optimize | inspect | validate. It only composes library calls.

Exit codes: 0 all good; 1 some input failed (each failure printed as `file: code: message`); 2 bad usage."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import PipelineError
from .profiles import DEFAULT_PROFILE, PROFILES

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)
out = Console()


class TextureFormat(str, Enum):
    """--texture-format choices: stages.textures.TEXTURE_FORMATS (not imported here, to keep start-up light)."""

    webp = "webp"
    ktx2 = "ktx2"
    keep = "keep"


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"


@app.command()
def optimize(
    inputs: list[Path] = typer.Argument(..., help="model files, zips or folders of them"),
    outdir: Path = typer.Option(..., "-o", "--outdir", help="a bundle folder per input is written inside"),
    profile: str = typer.Option(DEFAULT_PROFILE, "--profile", "-p", help=f"one of: {', '.join(PROFILES)}"),
    unit: Optional[str] = typer.Option(None, help="source unit when the file does not say: m, cm, mm, in, ft"),
    up: Optional[str] = typer.Option(None, help="source up axis: +Y, +Z, -Z, +X, ..."),
    dims: Optional[str] = typer.Option(None, "--dims", help="real size WxHxD in metres (or 83x69x57cm)"),
    category: Optional[str] = typer.Option(None, help="product category (drives placement and size checks)"),
    no_usdz: bool = typer.Option(False, "--no-usdz", help="skip model.usdz"),
    no_poster: bool = typer.Option(False, "--no-poster", help="skip poster.webp/thumb.webp"),
    validate: Optional[bool] = typer.Option(None, "--validate/--no-validate", help="run the Khronos glTF-Validator (default: when installed)"),
    texture_format: Optional[TextureFormat] = typer.Option(
        None,
        "--texture-format",
        help="webp | ktx2 (KHR_texture_basisu, GPU-compressed) | keep (original PNG/JPEG); default: as the profile says",
    ),
) -> None:
    """Optimize each input into OUTDIR/<name>/ (model.glb, LODs, model.usdz, poster, metadata.json, report.json)."""
    from .pipeline import optimize as run_pipeline

    from .io import model_files

    files = model_files(inputs)
    if not files:
        console.print("[red]no model files found in the inputs[/red]")
        raise typer.Exit(2)
    results: list[tuple[str, object]] = []
    failures = 0
    with Progress(
        TextColumn("[bold]{task.fields[file]}"),
        TextColumn("{task.fields[stage]:<11}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        for path in files:
            task = bar.add_task("", total=1.0, file=path.name, stage="start")

            def progress(stage: str, fraction: float, task=task) -> None:
                bar.update(task, completed=fraction, stage=stage)

            try:
                bundle = run_pipeline(
                    path,
                    profile,
                    unit=unit,
                    up=up,
                    dimensions=dims,
                    category=category,
                    progress=progress,
                    validate=validate,
                    usdz=False if no_usdz else None,
                    poster=not no_poster,
                    texture_format=texture_format.value if texture_format else None,
                )
            except PipelineError as exc:
                failures += 1
                bar.update(task, completed=1.0, stage="[red]failed")
                results.append((path.name, exc))
                continue
            bundle.write(outdir / path.stem)
            bar.update(task, completed=1.0, stage="[green]done")
            results.append((path.name, bundle))

    table = Table(title=f"profile {profile}")
    for col in ("input", "triangles in", "triangles out", "model.glb", "error (mean/bbox)", "targets passed"):
        table.add_column(col, justify="right" if col != "input" else "left")
    for name, result in results:
        if isinstance(result, PipelineError):
            table.add_row(name, "", "", "", "", f"[red]{result.code}[/red]")
            continue
        md = result.metadata  # type: ignore[attr-defined]
        err = md.lods[0].error
        table.add_row(
            name,
            f"{md.source_geometry.triangles:,}",
            f"{md.geometry.triangles:,}",
            _fmt_bytes(md.files["model.glb"].bytes),
            f"{err.mean_rel * 100:.4f}%" if err else "lossless",
            ", ".join(result.report.passed_targets) or "none",  # type: ignore[attr-defined]
        )
    out.print(table)
    for name, result in results:
        if isinstance(result, PipelineError):
            console.print(f"[red]{name}: {result}[/red]")
    if failures:
        console.print(f"{failures} of {len(files)} inputs failed")
        raise typer.Exit(1)


@app.command()
def inspect(
    file: Path = typer.Argument(..., help="a model file or zip"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Statistics of a model: format, triangles, vertices, draw calls, dimensions, materials, textures, variants."""
    from . import io

    try:
        asset = io.read_path(file)
    except PipelineError as exc:
        console.print(f"[red]{file.name}: {exc}[/red]")
        raise typer.Exit(1)
    from .stages.textures import image_size

    dims = asset.dimensions()
    info = {
        "file": file.name,
        "format": asset.provenance.format if asset.provenance else "?",
        "sha256": asset.provenance.sha256 if asset.provenance else "",
        "bytes": asset.provenance.size_bytes if asset.provenance else 0,
        "triangles": asset.triangle_count,
        "vertices": asset.vertex_count,
        "points": sum(p.vertex_count for p in asset.primitives() if p.mode == "points"),
        "draw_calls": asset.draw_calls,
        "nodes": len(asset.nodes),
        "meshes": len(asset.meshes),
        "dimensions": [round(float(d), 6) for d in dims],
        "unit_scale": asset.unit_scale,
        "materials": [m.get("name", f"material_{i}") for i, m in enumerate(asset.materials)],
        "material_extensions": sorted({e for m in asset.materials for e in m.get("extensions", {})}),
        "textures": [
            {"name": t.name, "mime_type": t.mime_type, "bytes": len(t.data), "size": list(image_size(t.data))}
            for t in asset.textures
        ],
        "variants": asset.variants,
        "notes": asset.provenance.notes if asset.provenance else [],
    }
    if as_json:
        out.print_json(json.dumps(info))
        return
    table = Table(title=file.name, show_header=False)
    for key, value in info.items():
        if key == "textures":
            value = "\n".join(f"{t['name'] or '-'} {t['mime_type']} {t['size'][0]}x{t['size'][1]} {_fmt_bytes(t['bytes'])}" for t in value)
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        elif isinstance(value, int):
            value = f"{value:,}"
        table.add_row(key, str(value))
    out.print(table)


@app.command()
def validate(
    files: list[Path] = typer.Argument(..., help="GLB files"),
    as_json: bool = typer.Option(False, "--json", help="print the validator results as JSON"),
) -> None:
    """Run the Khronos glTF-Validator on GLB files; exit 1 if any has errors."""
    from .checks.validator import run_validator

    missing = [f for f in files if not f.is_file()]
    if missing:
        console.print(f"[red]no such file: {', '.join(map(str, missing))}[/red]")
        raise typer.Exit(2)
    try:
        results = run_validator({str(f): f.read_bytes() for f in files}, required=True)
    except PipelineError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1)
    if as_json:
        out.print_json(json.dumps([r.model_dump() for r in results]))
    else:
        table = Table(title="Khronos glTF-Validator")
        for col in ("file", "errors", "warnings", "infos", "hints"):
            table.add_column(col)
        for r in results:
            table.add_row(r.file, str(r.errors), str(r.warnings), str(r.infos), str(r.hints))
        out.print(table)
        for r in results:
            for m in r.messages:
                out.print(f"{Path(r.file).name}: {m.get('severity')} {m.get('code')}: {m.get('message')} {m.get('pointer', '')}")
    if any(r.errors for r in results):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
