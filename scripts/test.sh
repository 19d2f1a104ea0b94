#!/usr/bin/env bash
# Sets up (scripts/setup.sh, bench/setup.sh) and runs every test. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# The anchor tools (gltfpack, glTF Transform): interop tests check that they read what we write.
bash bench/setup.sh
# loadgroup: tests marked xdist_group("browser") share one worker (one service with the samples, one Chromium).
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadgroup "$@"
