#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job: generate the sample products and optimize every
# one of them (plus the real scans in ../shared/scans when present) into web-AR bundles under data/bundles/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
.venv/bin/python -m samples.generate samples
inputs=(samples)
[ -d ../shared/scans ] && inputs+=(../shared/scans)
exec .venv/bin/asset-pipeline optimize "${inputs[@]}" -o data/bundles "$@"
