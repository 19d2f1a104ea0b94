#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job: the service in its embedded deployment (SQLite catalog,
# local file storage and the job worker, all under data/) with the sample products ingested as the
# published catalogue of the "demo" merchant, on http://127.0.0.1:8000 (OpenAPI at /docs).
# Settings come from IMMERSIVE_* variables (README); extra arguments go to `immersive serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# Generates the samples if missing and processes each one once (later runs skip unchanged files).
.venv/bin/immersive samples
echo "catalogue: http://127.0.0.1:8000/api/v1/public/products/demo   API docs: http://127.0.0.1:8000/docs"
echo "a new API key for the demo merchant: .venv/bin/immersive merchant key demo"
exec .venv/bin/immersive serve "$@"
