"""Benchmark: our pipeline against gltfpack (native and npm/WASM) and glTF Transform `optimize`, on the same
inputs at the same triangle budget, every output measured the same way.

    bash bench/setup.sh                       # anchors: npm ci + native gltfpack into bench/bin/
    .venv/bin/python bench/pipeline.py [--scans DIR] [--only NAME] [--repeat N]

Per scan and tool: wall time, peak memory (max RSS of the tool's process, measured by GNU time), output bytes,
triangles and geometric error (our reader decodes every output: meshopt, Draco, quantization), Khronos
glTF-Validator errors, and for textured inputs the SSIM of the base colour textures against the source's.
A second table checks the targets as ratios within this one run. Results go to bench/out/ as JSON + Markdown.

How each number is measured (also printed under the tables):
- Budget: the `web-ar` profile's LOD0 triangle budget B; every tool simplifies to ratio min(1, B / source
  triangles) (gltfpack `-si R`, glTF Transform `--simplify-ratio R --simplify-error 1`, or no simplification).
- Anchors read what they can: gltfpack reads .obj/.gltf/.glb, glTF Transform .gltf/.glb. A zip is extracted,
  other formats converted to a plain GLB with our reader + writer; both outside the timed region (footnoted).
- Ours runs in a fresh process per run: `optimize(path, "web-ar", usdz=False, poster=False, validate=False)`.
  The pipeline always builds LODs (no option skips them), so "time" for ours is its GLB path: the stage-log
  sum of read..textures + compress (LOD0) plus the write_glb of model.glb, timed in that process. "process"
  is the whole subprocess (interpreter start, imports, LODs and report included) for every tool.
- Geometric error: symmetric surface distance between the ORIGINAL input geometry (as our reader reads it,
  node transforms applied) and the output, as % of the source's bounding-box diagonal. Anchors keep the
  source frame; ours is normalized (metres, +Y up, front +Z, bottom-centre origin), so the exact similarity
  transform its normalize stage applied is recovered (least squares over the vertices before/after that
  stage) and inverted on our output before measuring. Relative errors do not depend on the frame's scale.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

METHOD = "How each number is measured" + __doc__.split("How each number is measured", 1)[1].rstrip()

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:  # run as a script: make the project importable without installing it
    sys.path.insert(0, str(ROOT))

DEFAULT_SCANS = ROOT.parent / "shared" / "scans"
OUT = BENCH / "out"
GNU_TIME = Path("/usr/bin/time")  # Debian package "time"; bench/setup.sh installs it
NATIVE_GLTFPACK = BENCH / "bin" / "gltfpack"
NPM_GLTFPACK = BENCH / "node_modules" / "gltfpack" / "cli.js"
GLTF_TRANSFORM = BENCH / "node_modules" / "@gltf-transform" / "cli" / "bin" / "cli.js"
PROFILE = "web-ar"
INPUT_SUFFIXES = {".obj", ".ply", ".stl", ".glb", ".gltf", ".zip"}
ANCHOR_TIMEOUT_S = 900.0
OURS_TIMEOUT_S = 1800.0
# The stages whose work model.glb needs; "lods" and "package" (LOD GLBs, their error, report) are not.
GLB_STAGES = ("read", "repair", "reconstruct", "normalize", "bake", "simplify", "textures", "compress")
SSIM_TARGET = 0.98
TRIANGLE_MATCH = 0.01  # "at the same triangle count": within 1%
# "Error no worse" allows the metric's own sampling noise: re-measuring one output with other seeds moved
# the Hausdorff estimate (a maximum over 50k samples) by up to ~+-10% and the mean by ~+-0.2% (bunny).
MEAN_TOLERANCE = 0.01
HAUSDORFF_TOLERANCE = 0.15


# ---- running a tool -------------------------------------------------------------------------------
@dataclass
class Run:
    wall_s: float
    peak_mb: float
    returncode: int
    timed_out: bool
    stderr: str


def run_timed(cmd: list[str], timeout: float, cwd: Path | None = None) -> Run:
    """Run `cmd` under GNU time in its own process group: wall time, and the tool's max RSS.

    The RSS comes from GNU time (`%M`), not from this process's wait4: a child forked or vforked from a
    Python process that has numpy and the pipeline loaded starts its rusage high-water mark at this
    process's size, while time's own child starts from time's ~2 MB."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        rss_file = Path(tmp) / "rss"
        err_file = Path(tmp) / "stderr"
        with open(err_file, "wb") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), *cmd],
                cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
            )  # fmt: skip
            try:
                proc.wait(timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group: time and the tool it started
                proc.wait()
                timed_out = True
            wall = time.perf_counter() - start
        tail = err_file.read_bytes()[-4000:].decode(errors="replace")
        rss_text = rss_file.read_text().split() if rss_file.exists() else []
    # GNU time writes "Command exited with non-zero status N" before %M when the tool fails.
    peak_kb = float(rss_text[-1]) if rss_text and rss_text[-1].isdigit() else float("nan")
    return Run(wall, peak_kb / 1024.0, proc.returncode, timed_out, tail)


# ---- our pipeline, in its own process ---------------------------------------------------------------
def run_ours_child(source: str, outdir: str) -> None:
    """Entry point of the child process (`--run-ours`): one optimize() call, instrumented, results to outdir.

    Two thin wrappers record what the stage log does not: the duration of the write_glb call that made
    model.glb (found by identity of the bytes it returned) and the world-space vertices just before and after the normalize stage, from which the
    parent recovers the transform. The wrappers' own copying time is measured and taken off the stage."""
    t0 = time.perf_counter()
    import asset_pipeline
    import asset_pipeline.io.gltf as gltf_io
    import asset_pipeline.stages.normalize as normalize_mod

    import_s = time.perf_counter() - t0
    writes: list[tuple[bytes, float]] = []  # (returned bytes, seconds) of every write_glb call
    captured: dict[str, Any] = {"overhead_s": 0.0}

    real_write_glb = gltf_io.write_glb

    def timed_write_glb(*args: Any, **kwargs: Any) -> bytes:
        start = time.perf_counter()
        data = real_write_glb(*args, **kwargs)
        writes.append((data, time.perf_counter() - start))
        return data

    real_normalize = normalize_mod.normalize

    def capturing_normalize(asset: Any, options: Any) -> Any:
        start = time.perf_counter()
        step = max(1, asset.vertex_count // 20000)
        captured["before"] = sampled_world_vertices(asset, step)
        captured["overhead_s"] += time.perf_counter() - start
        report = real_normalize(asset, options)
        start = time.perf_counter()
        captured["after"] = sampled_world_vertices(asset, step)
        captured["overhead_s"] += time.perf_counter() - start
        return report

    gltf_io.write_glb = timed_write_glb
    normalize_mod.normalize = capturing_normalize
    t1 = time.perf_counter()
    bundle = asset_pipeline.optimize(source, PROFILE, usdz=False, poster=False, validate=False)
    optimize_s = time.perf_counter() - t1

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.glb").write_bytes(bundle.files["model.glb"])
    (out / "metadata.json").write_bytes(bundle.files["metadata.json"])
    stage_ms = [(s.stage, s.ms) for s in bundle.metadata.stage_log]
    model_write_s = next((s for data, s in writes if data is bundle.files["model.glb"]), None)
    glb_stage_s = sum(ms for name, ms in stage_ms if name in GLB_STAGES) / 1000.0
    transform, fit = fit_similarity(captured.get("before"), captured.get("after"))
    result = {
        "import_s": import_s,
        "optimize_s": optimize_s,
        "stage_ms": stage_ms,
        "model_glb_write_s": model_write_s,
        "instrument_overhead_s": captured["overhead_s"],
        "glb_path_s": glb_stage_s + (model_write_s or 0.0) - captured["overhead_s"],
        "lod_files": [name for name in bundle.files if name.startswith("model.lod")],
        "normalize_transform": transform.tolist() if transform is not None else None,
        "normalize_fit": fit,
    }
    (out / "bench.json").write_text(json.dumps(result, indent=2))


def sampled_world_vertices(asset: Any, step: int) -> tuple[np.ndarray, list[int]]:
    """Every `step`-th vertex of each drawn primitive in world space, in drawing order: cheap enough to take
    inside a timed stage, and in correspondence before/after a stage that moves vertices without
    adding or removing any."""
    parts = [
        prim.positions[::step].astype(np.float64) @ world[:3, :3].T + world[:3, 3]
        for _, mesh, world in asset.mesh_instances()
        for prim in mesh.primitives
    ]
    counts = [len(prim.positions) for _, mesh, _ in asset.mesh_instances() for prim in mesh.primitives]
    return np.concatenate(parts) if parts else np.zeros((0, 3)), counts


def fit_similarity(before: Any, after: Any) -> tuple[np.ndarray | None, str]:
    """The 4x4 affine M with after = M @ before (least squares on corresponding vertices; `before`/`after`
    from `sampled_world_vertices`), or None with the reason when the stage changed the vertex set (then
    the parent aligns by bounding boxes)."""
    if before is None or after is None:
        return None, "normalize stage not captured"
    (src, counts_before), (dst, counts_after) = before, after
    if counts_before != counts_after or len(src) < 4:
        return None, f"normalize changed the vertex count ({sum(counts_before)} -> {sum(counts_after)})"
    homo = np.hstack([src, np.ones((len(src), 1))])
    solution, *_ = np.linalg.lstsq(homo, dst, rcond=None)
    matrix = np.eye(4)
    matrix[:3, :3] = solution[:3].T
    matrix[:3, 3] = solution[3]
    residual = np.abs(homo @ solution - dst).max()
    diag = float(np.linalg.norm(dst.max(0) - dst.min(0))) or 1.0
    if residual > 1e-4 * diag:
        return None, f"normalize is not affine per vertex (max residual {residual / diag:.2e} of diagonal)"
    return matrix, f"least squares over {len(src)} vertices, max residual {residual / diag:.1e} of diagonal"


def rotations_24() -> list[np.ndarray]:
    """The 24 proper rotations that map axes onto axes (what an up/front change can be)."""
    out = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        for signs in np.ndindex(2, 2, 2):
            m = np.zeros((3, 3))
            for row, col in enumerate(perm):
                m[row, col] = -1.0 if signs[row] else 1.0
            if np.linalg.det(m) > 0:
                out.append(m)
    return out


def align_by_bounds(reference: np.ndarray, moved: np.ndarray) -> tuple[np.ndarray, str]:
    """Fallback when the normalize transform could not be captured: the axis-aligned rotation + uniform
    scale + translation mapping `moved`'s bounding box onto `reference`'s, ties broken by nearest-vertex
    distance. Returns the 4x4 matrix taking `moved` into the reference frame."""
    from scipy.spatial import cKDTree

    ref_lo, ref_hi = reference.min(0), reference.max(0)
    mov_lo, mov_hi = moved.min(0), moved.max(0)
    scale = np.linalg.norm(ref_hi - ref_lo) / max(np.linalg.norm(mov_hi - mov_lo), 1e-12)
    tree = cKDTree(reference[:: max(1, len(reference) // 50000)])
    sample = moved[:: max(1, len(moved) // 5000)]
    best: tuple[float, np.ndarray] | None = None
    for rot in rotations_24():
        ext = np.abs(rot @ (mov_hi - mov_lo)) * scale
        if np.abs(ext - (ref_hi - ref_lo)).max() > 0.02 * np.linalg.norm(ref_hi - ref_lo):
            continue
        centre = (rot @ ((mov_lo + mov_hi) / 2)) * scale
        m = np.eye(4)
        m[:3, :3] = rot * scale
        m[:3, 3] = (ref_lo + ref_hi) / 2 - centre
        score = tree.query(sample @ m[:3, :3].T + m[:3, 3])[0].mean()
        if best is None or score < best[0]:
            best = (score, m)
    if best is None:
        raise RuntimeError("no axis-aligned similarity maps the output's bounding box onto the source's")
    return best[1], "aligned by bounding boxes (axis rotation + uniform scale), ties by nearest-vertex distance"


# ---- inputs ----------------------------------------------------------------------------------------
@dataclass
class Scan:
    path: Path
    name: str
    source_triangles: int
    ratio: float
    textured: bool
    anchor_inputs: dict[str, Path] = field(default_factory=dict)  # "gltfpack" | "gltf-transform" -> path
    anchor_notes: dict[str, str] = field(default_factory=dict)
    surface: Any = None  # measure.Surface of the source: the error reference for every tool


def prepare_scan(path: Path, work: Path, budget: int) -> tuple[Scan, Any]:
    """Read the source with our reader (the error reference) and give each anchor an input it can read."""
    from asset_pipeline.io import read_path, sniff
    from asset_pipeline.measure import Surface

    reference = read_path(path)
    tris = reference.triangle_count
    scan = Scan(path, path.name, tris, min(1.0, budget / tris) if tris else 1.0, bool(reference.textures))
    scan.surface = Surface.of(reference)
    fmt = sniff(path.read_bytes()[:65536], path.name)
    work.mkdir(parents=True, exist_ok=True)
    if fmt in ("glb", "gltf"):
        scan.anchor_inputs = {"gltfpack": path, "gltf-transform": path}
    elif fmt == "zip":
        inner = extract_model(path, work / "unzipped")
        scan.anchor_inputs = {"gltfpack": inner, "gltf-transform": inner}
        note = f"zip extracted to {inner.name} (+ side files) before the run, untimed"
        scan.anchor_notes = {"gltfpack": note, "gltf-transform": note}
    else:
        from asset_pipeline.io.gltf import write_glb

        converted = work / (path.stem + ".plain.glb")
        converted.write_bytes(write_glb(reference))  # reference.encoding is None: plain float arrays
        note = f"{fmt.upper()} converted to a plain GLB by our reader + writer before the run, untimed"
        scan.anchor_inputs = {"gltfpack": path if fmt == "obj" else converted, "gltf-transform": converted}
        scan.anchor_notes = {"gltf-transform": note} if fmt == "obj" else {"gltfpack": note, "gltf-transform": note}
    return scan, reference


def extract_model(zip_path: Path, dest: Path) -> Path:
    """Extract a zip (members kept inside `dest`) and return its one .gltf/.glb."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            if not str(target).startswith(str(dest.resolve())):
                raise RuntimeError(f"{zip_path.name}: member {member.filename!r} escapes the folder")
        zf.extractall(dest)
    models = sorted(p for p in dest.rglob("*") if p.suffix.lower() in (".gltf", ".glb"))
    if len(models) != 1:
        raise RuntimeError(f"{zip_path.name}: expected one .gltf/.glb inside, found {len(models)}")
    return models[0]


# ---- tools -----------------------------------------------------------------------------------------
@dataclass
class Tool:
    name: str
    anchor: str | None  # which anchor input it reads; None = ours (reads the scan itself)
    textured_only: bool = False

    def command(self, scan: Scan, src: Path, out: Path) -> list[str]:
        ratio = [] if scan.ratio >= 1.0 else ["-si", f"{scan.ratio:.6f}"]
        if self.name == "gltfpack":
            return [str(NATIVE_GLTFPACK), "-i", str(src), "-o", str(out), "-cc", *ratio]
        if self.name == "gltfpack -tw":
            return [str(NATIVE_GLTFPACK), "-i", str(src), "-o", str(out), "-cc", "-tw", *ratio]
        if self.name == "gltfpack (npm wasm)":
            return ["node", str(NPM_GLTFPACK), "-i", str(src), "-o", str(out), "-cc", *ratio]
        if self.name == "gltf-transform":
            simplify = (
                ["--simplify", "false"]
                if scan.ratio >= 1.0
                # The default error bound (1e-4 of the extent) stops far short of the ratio: lift it so
                # the ratio alone decides, as for gltfpack and ours.
                else ["--simplify-ratio", f"{scan.ratio:.6f}", "--simplify-error", "1"]
            )
            return [
                "node", str(GLTF_TRANSFORM), "optimize", str(src), str(out),
                "--compress", "draco",  # the web-ar profile's geometry compression
                "--texture-compress", "webp",  # ours writes WebP; also the texture target's anchor
                "--prune-attributes", "false",  # default prune drops SheenChair's TEXCOORD_1 (occlusion)
                *simplify,
            ]  # fmt: skip
        raise ValueError(self.name)

    def available(self) -> str | None:
        need = {
            "gltfpack": NATIVE_GLTFPACK,
            "gltfpack -tw": NATIVE_GLTFPACK,
            "gltfpack (npm wasm)": NPM_GLTFPACK,
            "gltf-transform": GLTF_TRANSFORM,
        }.get(self.name)
        if need is not None and not need.exists():
            return f"{need.relative_to(ROOT)} missing: run bash bench/setup.sh"
        return None


TOOLS = [
    Tool("ours", None),
    Tool("gltfpack", "gltfpack"),
    Tool("gltfpack (npm wasm)", "gltfpack"),
    Tool("gltf-transform", "gltf-transform"),
    # Like-with-like for textures: gltfpack -cc alone copies JPEG/PNG through, ours writes WebP.
    Tool("gltfpack -tw", "gltfpack", textured_only=True),
]


# ---- measuring an output ---------------------------------------------------------------------------
@dataclass
class Row:
    scan: str
    tool: str
    time_s: float | None = None
    process_s: float | None = None
    peak_mb: float | None = None
    bytes: int | None = None
    image_bytes: int | None = None
    triangles: int | None = None
    hausdorff_pct: float | None = None
    mean_pct: float | None = None
    validator_errors: int | None = None
    validator_warnings: int | None = None
    base_color_ssim: float | None = None
    times_s: list[float] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)  # ours: the stage log of the fastest run
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def glb_image_bytes(data: bytes) -> int:
    """Bytes of the images embedded in a GLB (their buffer views), so geometry can be compared alone."""
    import struct

    length = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + length])
    views = doc.get("bufferViews", [])
    return sum(views[img["bufferView"]]["byteLength"] for img in doc.get("images", []) if "bufferView" in img)


def surface_error(reference: Any, output: Any, to_reference: np.ndarray | None) -> tuple[float, float]:
    """(hausdorff %, mean %) of the output against the reference surface (`measure.Surface`, built once per
    scan), both of the reference's bbox diagonal; `to_reference` maps the output's world space into the
    reference's first."""
    from asset_pipeline.measure import Surface, geometric_error

    verts, faces = output.world_geometry()
    if to_reference is not None:
        verts = verts @ to_reference[:3, :3].T + to_reference[:3, 3]
    err = geometric_error(reference, Surface(verts, faces))
    return 100.0 * err.hausdorff_rel, 100.0 * err.mean_rel


def base_color_images(asset: Any) -> dict[str, tuple[int, bytes]]:
    """Material key -> (material index, encoded base colour image) for every material with one."""
    out: dict[str, tuple[int, bytes]] = {}
    for i, mat in enumerate(asset.materials):
        ref = mat.get("pbrMetallicRoughness", {}).get("baseColorTexture")
        if isinstance(ref, dict) and 0 <= ref.get("index", -1) < len(asset.textures):
            out[mat.get("name") or f"#{i}"] = (i, asset.textures[ref["index"]].data)
    return out


def base_color_ssim(source: Any, output: Any) -> tuple[float | None, str]:
    """Lowest SSIM over the source's base colour textures vs the output's (matched by material name, else by
    index when the material count is unchanged). The output image is resized to the source's size, so lost
    resolution counts against it."""
    import io as _io

    from PIL import Image
    from skimage.metrics import structural_similarity

    src = base_color_images(source)
    dst = base_color_images(output)
    same_count = len(source.materials) == len(output.materials)
    by_index = {i: data for i, data in dst.values()}
    scores: list[float] = []
    unmatched: list[str] = []
    done: set[tuple[int, int]] = set()
    for key, (index, data) in src.items():
        match = dst[key][1] if key in dst else by_index.get(index) if same_count else None
        if match is None:
            unmatched.append(key)
            continue
        pair = (hash(data), hash(match))
        if pair in done:
            continue
        done.add(pair)
        a = Image.open(_io.BytesIO(data)).convert("RGB")
        b = Image.open(_io.BytesIO(match)).convert("RGB")
        if b.size != a.size:
            b = b.resize(a.size, Image.Resampling.LANCZOS)
        scores.append(
            float(structural_similarity(np.asarray(a), np.asarray(b), channel_axis=2, data_range=255))
        )
    note = f"{len(scores)} base colour texture(s) compared"
    if unmatched:
        note += f"; no output base colour for {', '.join(unmatched)}"
    return (min(scores) if scores else None), note


def measure(row: Row, out_path: Path, reference: Any, scan: Scan, to_reference: np.ndarray | None) -> None:
    from asset_pipeline.checks.validator import run_validator
    from asset_pipeline.io import read_path

    data = out_path.read_bytes()
    row.bytes = len(data)
    row.image_bytes = glb_image_bytes(data)
    output = read_path(out_path)
    row.triangles = output.triangle_count
    row.hausdorff_pct, row.mean_pct = surface_error(scan.surface, output, to_reference)
    [result] = run_validator({out_path.name: data}, required=True)
    row.validator_errors, row.validator_warnings = result.errors, result.warnings
    if result.errors:
        codes = sorted({m.get("code", "?") for m in result.messages if m.get("severity") in (0, "error", "Error")})
        row.notes.append("validator errors: " + ", ".join(codes or [m.get("code", "?") for m in result.messages[:5]]))
    if scan.textured:
        row.base_color_ssim, note = base_color_ssim(reference, output)
        row.notes.append(note)


# ---- one scan x tool -------------------------------------------------------------------------------
def bench_tool(tool: Tool, scan: Scan, reference: Any, work: Path, repeat: int) -> Row:
    row = Row(scan.name, tool.name)
    missing = tool.available()
    if missing:
        row.error = missing
        return row
    out_dir = work / tool.name.replace(" ", "_").replace("(", "").replace(")", "")
    out_dir.mkdir(parents=True, exist_ok=True)
    ours_info: dict[str, Any] | None = None
    runs: list[Run] = []
    for _ in range(repeat):
        if tool.anchor is None:
            shutil.rmtree(out_dir, ignore_errors=True)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--run-ours", str(scan.path), str(out_dir)]
            run = run_timed(cmd, OURS_TIMEOUT_S, cwd=ROOT)
            out_path = out_dir / "model.glb"
        else:
            out_path = out_dir / "out.glb"
            out_path.unlink(missing_ok=True)
            run = run_timed(tool.command(scan, scan.anchor_inputs[tool.anchor], out_path), ANCHOR_TIMEOUT_S)
        if run.timed_out or run.returncode != 0 or not out_path.exists():
            why = "timed out" if run.timed_out else f"exit {run.returncode}"
            row.error = f"{why}: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else 'no output'}"
            return row
        runs.append(run)
        if tool.anchor is None:
            info = json.loads((out_dir / "bench.json").read_text())
            if ours_info is None or info["glb_path_s"] < ours_info["glb_path_s"]:
                ours_info = info
            row.times_s.append(info["glb_path_s"])
        else:
            row.times_s.append(run.wall_s)
    # Best of N: the machine is shared, the minimum is the run least disturbed by others.
    row.time_s = min(row.times_s)
    row.process_s = min(r.wall_s for r in runs)
    row.peak_mb = max(r.peak_mb for r in runs)
    if tool.anchor is not None and tool.anchor in scan.anchor_notes:
        row.notes.append(scan.anchor_notes[tool.anchor])
    to_reference = None
    if ours_info is not None:
        row.stage_ms = {name: ms for name, ms in ours_info["stage_ms"]}
        row.stage_ms["write_glb(model.glb)"] = round(1000 * (ours_info["model_glb_write_s"] or 0.0), 2)
        row.stage_ms["instrumentation (subtracted)"] = round(1000 * ours_info["instrument_overhead_s"], 2)
        row.notes.append(
            f"time = GLB path (stage log {'+'.join(GLB_STAGES)} + write_glb(model.glb)); process includes "
            f"imports {ours_info['import_s']:.2f}s, LODs ({len(ours_info['lod_files'])} files), report"
        )
        if ours_info["normalize_transform"] is not None:
            to_reference = np.linalg.inv(np.asarray(ours_info["normalize_transform"]))
            row.notes.append("error frame: normalize transform inverted (" + ours_info["normalize_fit"] + ")")
        else:
            from asset_pipeline.io import read_path

            verts = read_path(out_dir / "model.glb").world_geometry()[0]
            to_reference, how = align_by_bounds(reference.world_geometry()[0], verts)
            row.notes.append(f"error frame: {how} ({ours_info['normalize_fit']})")
    try:
        measure(row, out_path, reference, scan, to_reference)
    except Exception as exc:  # a measurement that fails is reported in the table, the run goes on
        row.error = f"measuring failed: {type(exc).__name__}: {exc}"
    return row


# ---- targets ---------------------------------------------------------------------------------------
def targets(scan: Scan, rows: dict[str, Row]) -> list[dict[str, Any]]:
    """The issue's targets as ratios within this run: (target, value text, PASS/MISS/n/a, detail)."""
    ours, gp, gt = rows.get("ours"), rows.get("gltfpack"), rows.get("gltf-transform")
    out: list[dict[str, Any]] = []

    def add(target: str, ok: bool | None, value: str, detail: str = "") -> None:
        out.append({"scan": scan.name, "target": target, "value": value, "status": {True: "PASS", False: "MISS", None: "n/a"}[ok], "detail": detail})

    def usable(row: Row | None) -> bool:
        return row is not None and row.error is None and row.time_s is not None

    def why(*named: tuple[str, Row | None]) -> str:
        return "; ".join(
            f"{name}: {'not run' if row is None else row.error}" for name, row in named if not usable(row)
        )

    if usable(ours) and usable(gt):
        r = ours.time_s / gt.time_s
        add("time <= 1.0x gltf-transform", r <= 1.0, f"{r:.2f}x", f"{ours.time_s:.2f}s vs {gt.time_s:.2f}s; by process {ours.process_s / gt.process_s:.2f}x")
    else:
        add("time <= 1.0x gltf-transform", None, "-", why(("ours", ours), ("gltf-transform", gt)))
    if usable(ours) and usable(gp):
        r = ours.time_s / gp.time_s
        add("time <= 2.5x gltfpack (native)", r <= 2.5, f"{r:.2f}x", f"{ours.time_s:.2f}s vs {gp.time_s:.2f}s; by process {ours.process_s / gp.process_s:.2f}x")
        r = ours.bytes / gp.bytes
        same_tris = abs(ours.triangles - gp.triangles) <= TRIANGLE_MATCH * max(gp.triangles, 1)
        err_ok = (
            ours.mean_pct <= gp.mean_pct * (1 + MEAN_TOLERANCE)
            and ours.hausdorff_pct <= gp.hausdorff_pct * (1 + HAUSDORFF_TOLERANCE)
        )
        add(
            "bytes <= 0.9x gltfpack -cc, error no worse",
            r <= 0.9 and err_ok and same_tris,
            f"{r:.2f}x",
            f"{ours.bytes:,} vs {gp.bytes:,} B; triangles {ours.triangles:,} vs {gp.triangles:,}"
            f"{'' if same_tris else ' (NOT the same count)'}; mean {ours.mean_pct:.4f}% vs {gp.mean_pct:.4f}%, "
            f"hausdorff {ours.hausdorff_pct:.3f}% vs {gp.hausdorff_pct:.3f}%"
            + (f"; geometry only (minus images) {(ours.bytes - ours.image_bytes) / max(gp.bytes - gp.image_bytes, 1):.2f}x" if scan.textured else ""),
        )
    else:
        add("time <= 2.5x gltfpack (native)", None, "-", why(("ours", ours), ("gltfpack", gp)))
        add("bytes <= 0.9x gltfpack -cc, error no worse", None, "-", why(("ours", ours), ("gltfpack", gp)))
    if scan.textured:
        target = "WebP bytes <= gltf-transform webp, SSIM >= 0.98"
        if usable(ours) and usable(gt):
            r = ours.bytes / gt.bytes
            detail = f"{ours.bytes:,} vs {gt.bytes:,} B"
            if ours.base_color_ssim is None:
                # e.g. GlamVelvetSofa: textures (normal, sheen...) but base colour is a factor only.
                add(target, r <= 1.0, f"{r:.2f}x, SSIM n/a", detail + "; no base colour texture: bytes only")
            else:
                gt_ssim = "-" if gt.base_color_ssim is None else f"{gt.base_color_ssim:.4f}"
                add(
                    target,
                    r <= 1.0 and ours.base_color_ssim >= SSIM_TARGET,
                    f"{r:.2f}x, SSIM {ours.base_color_ssim:.4f}",
                    detail + f"; gltf-transform's own SSIM {gt_ssim}",
                )
        else:
            add(target, None, "-", why(("ours", ours), ("gltf-transform", gt)))
    return out


# ---- output ----------------------------------------------------------------------------------------
def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def results_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    head = ["scan", "tool", "time s", "process s", "peak MB", "bytes", "triangles", "hausdorff %", "mean %", "validator err/warn", "base SSIM", "note"]
    notes: dict[str, int] = {}
    body = []
    for r in rows:
        marks = []
        for n in r.notes:
            if "before the run, untimed" in n:
                marks.append(str(notes.setdefault(n, len(notes) + 1)))
        if r.error:
            body.append([r.scan, r.tool, *["-"] * 9, "FAILED: " + r.error])
            continue
        body.append([
            r.scan, r.tool + (f" [{','.join(marks)}]" if marks else ""),
            fmt(r.time_s, ".2f"), fmt(r.process_s, ".2f"), fmt(r.peak_mb, ".0f"), fmt(r.bytes, ","), fmt(r.triangles, ","),
            fmt(r.hausdorff_pct, ".3f"), fmt(r.mean_pct, ".4f"),
            f"{fmt(r.validator_errors, 'd')}/{fmt(r.validator_warnings, 'd')}", fmt(r.base_color_ssim, ".4f"), "",
        ])  # fmt: skip
    footnotes = [f"[{i}] {text}" for text, i in notes.items()]
    return head, body + [[f] for f in footnotes]


def markdown(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    extra = []
    for row in body:
        if len(row) == 1:
            extra.append(row[0])
        else:
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines + ([""] + extra if extra else []))


def stage_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Our stage log (ms, fastest run) per scan: where our time goes."""
    ours = [r for r in rows if r.tool == "ours" and r.stage_ms]
    names: list[str] = []
    for r in ours:
        names += [n for n in r.stage_ms if n not in names]
    return ["scan", *names], [[r.scan, *(fmt(r.stage_ms.get(n), ".0f") for n in names)] for r in ours]


def print_tables(rows: list[Row], target_rows: list[dict[str, Any]], header: str) -> str:
    """Print the tables with rich; return them as Markdown."""
    from rich.console import Console
    from rich.table import Table

    head, body = results_table(rows)
    target_head = ["scan", "target", "value", "status", "detail"]
    target_body = [[t[k] for k in target_head] for t in target_rows]
    stage_head, stage_body = stage_table(rows)
    tables = [
        ("asset pipeline vs anchors (" + header + ")", head, body),
        ("targets (ratios within this run)", target_head, target_body),
        ("ours: stage log, ms (GLB path = read..textures + compress + write_glb(model.glb))", stage_head, stage_body),
    ]
    console = Console(width=220)
    parts = []
    for title, columns, lines in tables:
        table = Table(title=title)
        for c in columns:
            table.add_column(c, justify="left" if c in ("scan", "tool", "note", "target", "detail") else "right", overflow="fold")
        for line in lines:
            if len(line) == len(columns):
                status = line[3] if columns is target_head else None
                style = {"PASS": "green", "MISS": "red"}.get(status or "")
                table.add_row(*(f"[{style}]{v}[/]" if style and v == status else v for v in line))
        console.print(table)
        for line in lines:
            if len(line) == 1:  # a footnote
                console.print(line[0])
        parts.append(f"### {title}\n\n" + markdown(columns, lines))
    return "\n\n".join(parts)


def environment() -> dict[str, str]:
    def version(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[-1]
        except Exception as exc:
            return f"unavailable ({exc})"

    import asset_pipeline

    return {
        "asset_pipeline": asset_pipeline.__version__,
        "gltfpack native": version([str(NATIVE_GLTFPACK), "-v"]),
        "gltfpack npm": version(["node", str(NPM_GLTFPACK), "-v"]),
        "gltf-transform": version(["node", str(GLTF_TRANSFORM), "--version"]),
        "node": version(["node", "--version"]),
        "python": sys.version.split()[0],
        "cpus": str(os.cpu_count()),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=Path, default=DEFAULT_SCANS, help="folder of inputs (default ../shared/scans)")
    parser.add_argument("--only", action="append", default=[], help="scan file name (or part of it); repeatable")
    parser.add_argument("--tools", action="append", default=[], help="tool name; repeatable (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scan x tool; the fastest counts (default 3)")
    parser.add_argument("--run-ours", nargs=2, metavar=("SOURCE", "OUTDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_ours:
        run_ours_child(*args.run_ours)
        return 0

    from asset_pipeline.profiles import get_profile

    budget = get_profile(PROFILE).max_triangles
    assert budget is not None
    if not args.scans.is_dir():
        parser.error(f"{args.scans}: no such folder")
    paths = sorted(p for p in args.scans.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
    if args.only:
        paths = [p for p in paths if any(o.lower() in p.name.lower() for o in args.only)]
    tools = [t for t in TOOLS if not args.tools or t.name in args.tools]
    if not paths or not tools:
        parser.error("nothing to run (check --scans/--only/--tools)")
    started = datetime.now(timezone.utc)
    env = environment()
    print("environment:", json.dumps(env))
    rows: list[Row] = []
    target_rows: list[dict[str, Any]] = []
    scans_info = []
    work_root = OUT / "work"
    for path in paths:
        work = work_root / path.name
        try:
            scan, reference = prepare_scan(path, work, budget)
        except Exception as exc:
            print(f"{path.name}: cannot prepare: {type(exc).__name__}: {exc}", file=sys.stderr)
            rows.append(Row(path.name, "(input)", error=f"{type(exc).__name__}: {exc}"))
            continue
        scans_info.append({"scan": scan.name, "source_triangles": scan.source_triangles, "ratio": scan.ratio, "textured": scan.textured, "anchor_inputs": {k: str(v) for k, v in scan.anchor_inputs.items()}})
        by_tool: dict[str, Row] = {}
        for tool in tools:
            if tool.textured_only and not scan.textured:
                continue
            print(f"{scan.name} ({scan.source_triangles:,} triangles, ratio {scan.ratio:.4f}): {tool.name} ...", flush=True)
            row = bench_tool(tool, scan, reference, work, args.repeat)
            print(f"  -> {row.error or f'{row.time_s:.2f}s {row.bytes:,} B {row.triangles:,} tris err {row.validator_errors}'}", flush=True)
            rows.append(row)
            by_tool[tool.name] = row
        target_rows.extend(targets(scan, by_tool))
    header = f"profile {PROFILE}, budget {budget:,} triangles, best of {args.repeat}, {started:%Y-%m-%d %H:%M} UTC"
    md = print_tables(rows, target_rows, header)
    print(METHOD)
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {
        "started": started.isoformat(),
        "profile": PROFILE,
        "budget_triangles": budget,
        "repeat": args.repeat,
        "environment": env,
        "scans": scans_info,
        "rows": [asdict(r) for r in rows],
        "targets": target_rows,
    }
    stamp = started.strftime("%Y%m%dT%H%M%S")
    (OUT / f"results-{stamp}.json").write_text(json.dumps(doc, indent=2))
    (OUT / "latest.json").write_text(json.dumps(doc, indent=2))
    (OUT / "latest.md").write_text(f"# bench/pipeline.py results\n\n{md}\n\n{METHOD}\n")
    print(f"\nwritten: {OUT / f'results-{stamp}.json'}, {OUT / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
