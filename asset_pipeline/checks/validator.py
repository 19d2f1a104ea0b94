"""Khronos glTF-Validator bridge: every GLB of a bundle goes through the official validator (npm
`gltf-validator`, run by node on `node/validate.mjs`), the same check glTF viewers, Khronos' sample
repository and the 3D Commerce certification use.

The validator is an optional dependency: node plus the pinned npm package in `checks/node/`. Install it
with `SETUP_COMMAND` (the project's setup script does). `run_validator(..., required=None)` reports
"not run" when it is missing instead of failing, so the pipeline works without node; `required=True`
makes a missing validator an error."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import MissingDependencyError, PipelineError
from ..metadata import ValidatorResult

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "validate.mjs"
PACKAGE_JSON = NODE_DIR / "node_modules" / "gltf-validator" / "package.json"
SETUP_COMMAND = f"npm ci --prefix {NODE_DIR} --no-audit --no-fund"
"""What installs the validator (scripts/setup.sh runs the same in that folder)."""
UNCOMPRESSED = "{} (uncompressed)"
"""Result name for the same GLB written without meshopt/Draco: this validator version reads neither
extension's contents, so geometry validity of a compressed file is checked on its uncompressed twin."""
MAX_MESSAGES = 50
DEFAULT_TIMEOUT_S = 300.0
"""For the whole batch, generous: three real product GLBs (11 MB) validate in 0.3 s here, including node start-up."""


def _node() -> str | None:
    return shutil.which("node")


def _missing_reason() -> str | None:
    """Why the validator cannot run, or None when it can."""
    if _node() is None:
        return f"node is not installed (install Node.js >= 18, then run: {SETUP_COMMAND})"
    if not PACKAGE_JSON.is_file():
        return f"the npm package gltf-validator is not installed (run: {SETUP_COMMAND})"
    return None


def validator_available() -> bool:
    """True when node and the pinned gltf-validator package are installed."""
    return _missing_reason() is None


def _safe_name(name: str, index: int) -> str:
    """A file name inside the temp dir that cannot escape it, unique per input."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name) or "file"
    return f"{index:03d}_{stem}"


def run_validator(
    files: dict[str, bytes], required: bool | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> list[ValidatorResult]:
    """Validate GLB/glTF bytes by name with the Khronos validator; one `ValidatorResult` per file, in order.

    - `required=None`: run when installed; when node or the package is missing, or the validator fails or
      times out, one `ran=False` result per file with the reason (the bundle is still produced and the
      report's targets say the validator did not run).
    - `required=True`: any of those raises (`MissingDependencyError` naming the install command when missing).
    - `required=False`: never run (every result `ran=False`, reason "validation disabled").
    One node process validates all files (its start-up costs more than validating a small GLB)."""
    if not files:
        return []
    if required is False:
        return [ValidatorResult(file=name, ran=False, reason="validation disabled") for name in files]
    reason = _missing_reason()
    if reason is not None:
        if required:
            raise MissingDependencyError(f"the Khronos glTF-Validator cannot run: {reason}")
        return [ValidatorResult(file=name, ran=False, reason=reason) for name in files]
    try:
        return _validate(files, timeout)
    except PipelineError as exc:
        if required:
            raise
        return [ValidatorResult(file=name, ran=False, reason=exc.message) for name in files]


def _validate(files: dict[str, bytes], timeout: float) -> list[ValidatorResult]:
    with tempfile.TemporaryDirectory(prefix="gltf-validate-") as tmp:
        paths: dict[str, str] = {}
        for i, (name, data) in enumerate(files.items()):
            path = os.path.join(tmp, _safe_name(name, i))
            with open(path, "wb") as fh:
                fh.write(data)
            paths[path] = name
        try:
            proc = subprocess.run(
                [_node(), str(SCRIPT)],
                input=json.dumps(list(paths)).encode(),
                capture_output=True,
                cwd=NODE_DIR,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise PipelineError(f"the glTF validator did not finish within {timeout:g} s for {len(files)} file(s)") from None
    if proc.returncode != 0:
        raise PipelineError(
            f"the glTF validator failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace').strip()[-2000:]}"
        )
    by_name = {}
    for line in proc.stdout.decode().splitlines():
        if line.strip():
            raw = json.loads(line)
            by_name[paths[raw["file"]]] = _result(paths[raw["file"]], raw)
    missing = [name for name in files if name not in by_name]
    if missing:
        raise PipelineError(f"the glTF validator returned no result for {', '.join(missing)}")
    return [by_name[name] for name in files]


def _result(name: str, raw: dict) -> ValidatorResult:
    if "fatal" in raw:
        # Not even recognisable as glTF/GLB: that is an error in the file, not a missing validator.
        return ValidatorResult(
            file=name,
            ran=True,
            errors=1,
            messages=[{"code": "UNREADABLE", "severity": "error", "message": raw["fatal"]}],
        )
    return ValidatorResult(
        file=name,
        ran=True,
        errors=int(raw["numErrors"]),
        warnings=int(raw["numWarnings"]),
        infos=int(raw["numInfos"]),
        hints=int(raw["numHints"]),
        messages=list(raw["messages"])[:MAX_MESSAGES],
    )
