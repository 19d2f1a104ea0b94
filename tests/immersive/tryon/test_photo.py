"""Photo try-on through POST /api/v1/tryon/photo: every sample try-on product on a real portrait
(skimage's astronaut) or, for the ring and the watch, on a synthetic hand the real Hand Landmarker finds,
asserted on the composited pixels against the landmarks; the head occluder hides the temples; transmissive
lenses pass the eyes through (clear) or darken them (tinted, or a variant); several faces, EXIF orientation,
the image by Accept; bad inputs answer 4xx with the reason. After every test the service's storage, database
and data directory are scanned: nothing of the photos is kept. Composites: artifacts/tryon/photo-*.png."""

from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from matplotlib.path import Path as PolygonPath
from PIL import Image

from asset_pipeline.io import read
from asset_pipeline.io.gltf import write_glb
from immersive.catalog.models import AssetFile, AssetVersion, Product
from immersive.tryon import fit
from immersive.tryon.render import LIPS_INNER, LIPS_OUTER, ModelRef, Occluder, Placement, head_occluder_bytes, shared_renderer
from immersive.tryon.tracking import HandTracker

from ..conftest import SAMPLES, Service, make_settings, running
from .conftest import astronaut
from .privacy import assert_nothing_kept
from .synthetic_hand import hand_photo

# One worker runs the module (with --dist loadgroup, as scripts/test.sh does): the catalogue is ingested once.
pytestmark = pytest.mark.xdist_group("tryon-photo")

PRODUCTS = {  # category -> (SKU, sample file)
    "glasses": ("GL-1001", "glasses.glb"),
    "sunglasses": ("SG-1002", "sunglasses.glb"),
    "hat": ("HT-2001", "hat.glb"),
    "earrings": ("ER-3001", "earrings.glb"),
    "necklace": ("NK-3002", "necklace.glb"),
    "lipstick": ("LP-6001", "lipstick.glb"),
    "ring": ("RG-3003", "ring.glb"),
    "watch": ("WT-4001", "watch.glb"),
}
MAX_BYTES = 3 * 1024 * 1024
MAX_PIXELS = 6_000_000
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
CHANGED = 10  # a pixel changed by more than this in some channel was drawn on (the rest is the photo's own)


def glasses_with_smoke_variant() -> bytes:
    """The sample glasses with KHR_materials_variants "Clear" (their lenses) and "Smoke" (dark lenses passing 20%)."""
    asset = read((SAMPLES / "glasses.glb").read_bytes(), "glasses.glb")
    clear = next(i for i, m in enumerate(asset.materials) if "KHR_materials_transmission" in m.get("extensions", {}))
    asset.materials.append(
        {
            "name": "Lens smoke",
            "pbrMetallicRoughness": {"baseColorFactor": [0.06, 0.06, 0.06, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.05},
            "extensions": {"KHR_materials_transmission": {"transmissionFactor": 0.2}},
        }
    )
    asset.variants = ["Clear", "Smoke"]
    for prim in asset.primitives():
        if prim.material == clear:
            prim.variant_mappings = [{"material": clear, "variants": [0]}, {"material": len(asset.materials) - 1, "variants": [1]}]
    return write_glb(asset)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """One embedded service for the module with every try-on sample published, the variant glasses, a chair
    (no try-on) and a draft pair of glasses."""
    settings = make_settings(tmp_path_factory.mktemp("tryon-photo"), "local", tryon_photo_max_bytes=MAX_BYTES, tryon_photo_max_pixels=MAX_PIXELS)
    with running(settings) as client:
        service = Service(client)
        for category, (sku, sample) in PRODUCTS.items():
            service.ingest(service.a, sku, sample, category=category, status="published")
        product = service.product(service.a, "GL-VAR", category="glasses", status="published")
        response = service.upload(service.a, product["id"], glasses_with_smoke_variant(), "glasses-variants.glb")
        assert service.wait_job(service.a, response.json()["job"]["id"])["state"] == "succeeded"
        service.ingest(service.a, "CH-5001", "chair.glb", category="chair", status="published")
        service.ingest(service.a, "GL-DRAFT", "glasses.glb", category="glasses")
        yield service


@pytest.fixture(autouse=True)
def nothing_kept(request):
    """After every test that used the shop: no photo, image or landmark in its storage, tables or data dir."""
    yield
    if "shop" in request.fixturenames:
        assert_nothing_kept(request.getfixturevalue("shop").runtime)


def jpeg(pixels: np.ndarray, **save) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=92, **save)
    return out.getvalue()


def png(pixels: np.ndarray, **save) -> bytes:
    """Lossless: the service decodes exactly `pixels`, so every changed pixel was drawn by the try-on."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", **save)
    return out.getvalue()


def portrait() -> np.ndarray:
    """The astronaut at 1024 x 1024, as the service decodes the JPEG sent."""
    data = jpeg(np.asarray(Image.fromarray(astronaut()).resize((1024, 1024), Image.Resampling.LANCZOS)))
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def try_on(client, merchant: str, image: bytes, sku: str, filename: str = "photo.jpg", headers=None, **fields):
    data = {"merchant": merchant, "sku": sku, **{k: str(v) for k, v in fields.items()}}
    return client.post("/api/v1/tryon/photo", data=data, files={"image": (filename, image, "application/octet-stream")}, headers=headers or {})


def composite(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    body = response.json()
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(body["image"]["data"]))).convert("RGB"))


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.abs(after.astype(int) - before.astype(int)).max(-1) > CHANGED


def save_artifact(artifacts_dir, name: str, image: np.ndarray) -> None:
    (artifacts_dir / "tryon").mkdir(exist_ok=True)
    Image.fromarray(image).save(artifacts_dir / "tryon" / f"photo-{name}.png")


def luminance(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(float) @ np.array([0.2126, 0.7152, 0.0722])


def eye_boxes(face) -> list[tuple[slice, slice]]:
    """Around each pupil, half the eye's corner-to-corner width across: iris and the white of the eye."""
    boxes = []
    for pupil, corners in zip(face.pixels([468, 473]), ((33, 133), (263, 362))):
        half = int(np.linalg.norm(face.pixels(corners[0]) - face.pixels(corners[1])) / 4)
        x, y = pupil.round().astype(int)
        boxes.append((slice(y - half // 2, y + half // 2 + 1), slice(x - half, x + half + 1)))
    return boxes


def box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def contains(bbox, point, margin: float = 0.0) -> bool:
    x0, y0, x1, y1 = bbox
    return x0 - margin <= point[0] <= x1 + margin and y0 - margin <= point[1] <= y1 + margin


@pytest.fixture(scope="module")
def hand_tracker():
    with HandTracker("image") as tracker:
        yield tracker


# ---- every sample product -------------------------------------------------------------------

@pytest.mark.parametrize("category", ["glasses", "sunglasses", "hat", "earrings", "necklace", "lipstick"])
def test_face_products_on_a_portrait(category, shop, face_tracker, artifacts_dir):
    photo = portrait()
    response = try_on(shop.client, shop.a.slug, png(photo), PRODUCTS[category][0], filename="photo.png", format="png")
    after = composite(response)
    save_artifact(artifacts_dir, category, after)
    body = response.json()
    assert body["subject"] == {"kind": "face", "count": 1, "index": 0, "handedness": None, "finger": None}
    assert body["image"]["width"] == 1024 and body["image"]["content_type"] == "image/png"
    assert 55 < body["measurements"]["pd"]["mm"] < 75 and body["measurements"]["pd"]["sd_mm"] > 0
    assert 120 < body["measurements"]["face_width"]["mm"] < 170
    face = face_tracker.detect_one(photo)
    mask = changed(photo, after)
    assert mask.sum() > 100, "nothing was drawn"
    pupils = face.pixels([468, 473])
    midline = face.pixels([10, 152])[:, 0].mean()
    face_width = abs(face.pixels(454)[0] - face.pixels(234)[0])
    chin = face.pixels(152)

    if category in ("glasses", "sunglasses"):
        assert body["measurements"]["frame_size"]["size"] in ("narrow", "medium", "wide")
        assert body["measurements"]["frame_size"]["frame_width_mm"] == pytest.approx(138, abs=5)
        bbox = box(mask)
        assert all(contains(bbox, p) for p in pupils)
        pd_px = float(np.linalg.norm(pupils[1] - pupils[0]))
        for pupil in pupils:  # the rim goes round each eye: drawn pixels left and right of the pupil on its row
            row = mask[int(round(pupil[1]))]
            x = int(round(pupil[0]))
            assert row[max(x - int(0.6 * pd_px), 0) : x].any() and row[x + 1 : x + int(0.6 * pd_px)].any()
        ratios = [luminance(after[eye]).mean() / luminance(photo[eye]).mean() for eye in eye_boxes(face)]
        if category == "glasses":  # clear lenses: the eyes show through, barely changed
            assert all(0.85 < r < 1.2 for r in ratios), ratios
        else:  # tinted lenses pass 35% of the light, tinted dark green-grey, and show their own dark colour
            assert all(r < 0.65 for r in ratios), ratios
    elif category == "hat":
        assert body["measurements"]["frame_size"] is None
        brows = face.pixels(list(BROWS))[:, 1].min()
        ys, xs = np.nonzero(mask)
        assert ys.max() < brows, "the hat comes down over the brows"
        assert abs(xs.mean() - midline) < 0.1 * face_width
    elif category == "earrings":
        ys, xs = np.nonzero(mask)
        eye_line, chin_y = pupils[:, 1].mean(), chin[1]
        for side in (xs < midline, xs >= midline):
            assert side.sum() > 10, "an earring is missing"
            cx, cy = xs[side].mean(), ys[side].mean()
            assert eye_line < cy < chin_y
            assert abs(cx - midline) > 0.4 * face_width, "an earring is not at the side of the head"
    elif category == "necklace":
        ys, xs = np.nonzero(mask)
        assert ys.min() > chin[1], "the necklace reaches above the chin"
        assert abs(xs.mean() - midline) < 0.15 * face_width
    else:  # lipstick: only the lips change, towards the shade
        lips = face.pixels(list(LIPS_OUTER))
        width = float(np.ptp(lips[:, 0]))
        bbox = lips.min(0) - 0.1 * width, lips.max(0) + 0.1 * width
        ys, xs = np.nonzero(mask)
        assert (xs >= bbox[0][0]).all() and (xs <= bbox[1][0]).all() and (ys >= bbox[0][1]).all() and (ys <= bbox[1][1]).all()
        grid = np.stack(np.meshgrid(np.arange(1024), np.arange(1024)), -1).reshape(-1, 2) + 0.5
        inside = (PolygonPath(lips).contains_points(grid) & ~PolygonPath(face.pixels(list(LIPS_INNER))).contains_points(grid)).reshape(1024, 1024)
        shade = np.array([176, 32, 56])  # the sample's Bullet material (#b02038)
        before_distance = np.linalg.norm(photo[inside].mean(0) - shade)
        after_distance = np.linalg.norm(after[inside].mean(0) - shade)
        assert after_distance < 0.7 * before_distance


@pytest.mark.parametrize("category", ["ring", "watch"])
def test_hand_products_on_a_hand(category, shop, hand_tracker, artifacts_dir):
    photo = hand_photo()
    response = try_on(shop.client, shop.a.slug, png(photo), PRODUCTS[category][0], filename="hand.png", format="png")
    after = composite(response)
    save_artifact(artifacts_dir, category, after)
    body = response.json()
    # A right hand seen from its back: the ring's stone and the watch's dial face the camera.
    assert body["subject"]["kind"] == "hand" and body["subject"]["count"] == 1 and body["subject"]["handedness"] == "Right"
    assert body["measurements"] is None
    (hand,) = hand_tracker.detect(photo)
    points = hand.landmarks[:, :2] * (photo.shape[1], photo.shape[0])
    palm = float(np.linalg.norm(points[9] - points[0]))
    mask = changed(photo, after)
    assert mask.sum() > 50
    ys, xs = np.nonzero(mask)
    if category == "ring":
        assert body["subject"]["finger"] == "ring"
        on_phalanx = points[13] + fit.RING_POSITION_ON_PHALANX * (points[14] - points[13])
        bbox = box(mask)
        assert contains(bbox, on_phalanx, margin=2)
        assert np.hypot(bbox[2] - bbox[0], bbox[3] - bbox[1]) < 0.6 * palm, "the ring is larger than a finger's width"
    else:  # the watch sits on the forearm just past the wrist landmark, across it
        axis = (points[9] - points[0]) / palm
        along = ((np.stack([xs, ys], 1) - points[0]) @ axis).mean() / palm
        across = ((np.stack([xs, ys], 1) - points[0]) @ np.array([-axis[1], axis[0]])).mean() / palm
        assert -0.8 < along < 0.1 and abs(across) < 0.3, (along, across)
        assert (luminance(after[mask]) > 180).mean() > 0.2, "the white dial is not in view"


# ---- occluder, variants, faces, orientation, answer forms --------------------------------------------

def _model_ref(shop: Service, sku: str, variant: str | None = None) -> ModelRef:
    with shop.runtime.sessions() as session:
        product = session.query(Product).filter_by(sku=sku).one()
        key = session.query(AssetFile.key).join(AssetVersion).filter(AssetVersion.id == product.asset.current_version_id, AssetFile.name == "model.glb").scalar()
    return ModelRef(key, lambda: shop.runtime.storage.get(key), variant)


def test_the_head_occluder_hides_the_temples(shop, face_tracker, artifacts_dir):
    """Drawn without the occluder, the temples run back over the cheeks and hair beside the eyes; with it they
    are hidden behind the head, and nothing else changes."""
    photo = portrait()
    camera = fit.Camera.for_image(1024, 1024)
    face_fit = fit.fit_face(face_tracker.detect_one(photo), camera)
    placements = [Placement(fit.glasses_transform(face_fit))]
    model = _model_ref(shop, "GL-1001")
    renderer = shared_renderer()
    hidden = renderer.composite(photo, camera, model, placements, [Occluder("head", face_fit.pose.matrix())])
    bare = renderer.composite(photo, camera, model, placements, [])
    save_artifact(artifacts_dir, "glasses-no-occluder", bare)
    temples = changed(photo, bare) & ~changed(photo, hidden)
    assert temples.sum() > 30
    front = box(changed(photo, hidden))
    ys, xs = np.nonzero(temples)
    outside = (xs < front[0] + 0.15 * (front[2] - front[0])) | (xs > front[2] - 0.15 * (front[2] - front[0]))
    assert outside.mean() > 0.9, "what the occluder hid is not at the sides, where the temples run back"


def test_the_package_occluder_is_the_samples_one():
    assert head_occluder_bytes() == (SAMPLES / "head_occluder.glb").read_bytes()


def test_a_variant_changes_the_lenses(shop, face_tracker):
    photo = portrait()
    face = face_tracker.detect_one(photo)

    def pupil_light(**fields) -> float:
        after = composite(try_on(shop.client, shop.a.slug, png(photo), "GL-VAR", format="png", **fields))
        return float(np.mean([luminance(after[eye]).mean() for eye in eye_boxes(face)]))

    clear, smoke, default = pupil_light(variant="Clear"), pupil_light(variant="Smoke"), pupil_light()
    assert default == pytest.approx(clear, rel=0.02)
    assert smoke < 0.65 * clear
    unknown = try_on(shop.client, shop.a.slug, jpeg(photo), "GL-VAR", variant="Gold")
    assert unknown.status_code == 422 and "no variant 'Gold'" in unknown.json()["detail"]


def test_the_largest_or_the_chosen_face(shop):
    head = Image.fromarray(astronaut()[0:300, 90:390])
    canvas = np.full((460, 800, 3), 200, np.uint8)
    canvas[10:450, 0:440] = np.asarray(head.resize((440, 440)))  # the larger face, on the left
    canvas[60:400, 460:800] = np.asarray(head.resize((340, 340)))
    for index, (x0, x1) in enumerate(((0, 440), (460, 800))):
        response = try_on(shop.client, shop.a.slug, png(canvas), "GL-1001", face=index, format="png")
        assert response.json()["subject"] == {"kind": "face", "count": 2, "index": index, "handedness": None, "finger": None}
        xs = np.nonzero(changed(canvas, composite(response)))[1]
        assert x0 <= xs.min() and xs.max() < x1, f"face {index}: the glasses are not on that face"
    third = try_on(shop.client, shop.a.slug, png(canvas), "GL-1001", face=2)
    assert third.status_code == 422 and third.json()["error"] == "no_face" and "has 2 faces" in third.json()["detail"]


def test_exif_orientation_and_focal_length(shop, face_tracker):
    """A phone photo stored sideways with EXIF orientation 6 and a 50 mm-equivalent lens: answered upright,
    the glasses on the eyes, the distance from the real focal length (longer than the default lens gives)."""
    upright = portrait()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    exif.get_ifd(0x8769)[0xA405] = 50
    sideways = np.asarray(Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90))
    response = try_on(shop.client, shop.a.slug, png(sideways, exif=exif), "GL-1001", format="png")
    after = composite(response)
    assert after.shape == upright.shape
    pupils = face_tracker.detect_one(upright).pixels([468, 473])
    assert all(contains(box(changed(upright, after)), p) for p in pupils)
    plain = try_on(shop.client, shop.a.slug, jpeg(upright), "GL-1001").json()["measurements"]
    measured = response.json()["measurements"]
    assert measured["distance_m"] > 1.3 * plain["distance_m"]
    assert measured["pd"]["mm"] == pytest.approx(plain["pd"]["mm"], rel=0.05)


def test_the_image_itself_by_accept(shop):
    response = try_on(shop.client, shop.a.slug, jpeg(portrait()), "HT-2001", headers={"Accept": "image/png"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (1024, 1024)
    result = json.loads(response.headers["x-tryon-result"])
    assert result["sku"] == "HT-2001" and "data" not in result["image"] and result["measurements"]["pd"]["mm"] > 0
    assert {part.split(";")[0] for part in response.headers["server-timing"].split(", ")} == {"decode", "track", "fit", "render", "encode"}
    assert response.headers["cache-control"] == "no-store"
    as_jpeg = try_on(shop.client, shop.a.slug, jpeg(portrait()), "HT-2001")
    assert as_jpeg.json()["image"]["content_type"] == "image/jpeg"
    assert base64.b64decode(as_jpeg.json()["image"]["data"])[:3] == b"\xff\xd8\xff"


def test_one_renderer_serves_concurrent_requests(shop):
    photo = jpeg(portrait())
    skus = ["GL-1001", "HT-2001", "NK-3002", "ER-3001"]
    alone = [try_on(shop.client, shop.a.slug, photo, sku, format="png").json()["image"]["data"] for sku in skus]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda sku: try_on(shop.client, shop.a.slug, photo, sku, format="png").json()["image"]["data"], skus))
    assert together == alone


# ---- refusals -------------------------------------------------------------------------------

def _noise(size: int) -> bytes:
    return np.random.default_rng(5).integers(0, 256, size, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    "case, make, sku, fields, status, code, detail",
    [
        ("text", lambda: b"hello, not a photo", "GL-1001", {}, 415, "unsupported_media_type", "JPEG, PNG or WebP"),
        ("gif", lambda: _gif(), "GL-1001", {}, 415, "unsupported_media_type", "GIF"),
        ("truncated", lambda: jpeg(portrait())[:20000], "GL-1001", {}, 422, "corrupt_image", "cannot be decoded"),
        ("too many bytes", lambda: b"\xff\xd8\xff" + _noise(MAX_BYTES + 10), "GL-1001", {}, 413, "limit_exceeded", "at most"),
        ("too many pixels", lambda: png(np.zeros((2600, 2600, 3), np.uint8)), "GL-1001", {}, 413, "limit_exceeded", "pixels"),
        ("pixel bomb", lambda: _png_header(30000, 30000), "GL-1001", {}, 413, "limit_exceeded", "pixels"),
        ("no face", lambda: png(np.full((400, 400, 3), 180, np.uint8)), "GL-1001", {}, 422, "no_face", "no face found"),
        ("no hand", lambda: jpeg(portrait()), "RG-3003", {}, 422, "no_hand", "no hand found"),
        ("bad finger", lambda: png(hand_photo()), "RG-3003", {"finger": "thumb"}, 422, "invalid_request", "finger"),
        ("bad face", lambda: jpeg(portrait()), "GL-1001", {"face": "-1"}, 422, "invalid_request", "face="),
        ("bad format", lambda: jpeg(portrait()), "GL-1001", {"format": "bmp"}, 422, "invalid_request", "jpeg or png"),
        ("no try-on", lambda: jpeg(portrait()), "CH-5001", {}, 422, "tryon_unavailable", "has no try-on"),
        ("draft", lambda: jpeg(portrait()), "GL-DRAFT", {}, 404, "not_found", "GL-DRAFT"),
        ("unknown", lambda: jpeg(portrait()), "NOPE-1", {}, 404, "not_found", "NOPE-1"),
    ],
)
def test_bad_requests_say_why(case, make, sku, fields, status, code, detail, shop):
    response = try_on(shop.client, shop.a.slug, make(), sku, **fields)
    assert response.status_code == status, (case, response.text)
    assert response.json()["error"] == code and detail in response.json()["detail"], (case, response.json())


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels: refused from its header, never decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(out, "GIF")
    return out.getvalue()


def test_malformed_forms(shop):
    client = shop.client
    as_json = client.post("/api/v1/tryon/photo", json={"merchant": shop.a.slug, "sku": "GL-1001"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.json()["detail"]
    no_file = client.post("/api/v1/tryon/photo", data={"merchant": shop.a.slug, "sku": "GL-1001"}, files={"other": ("x", b"1")})
    assert no_file.status_code == 422 and "'image'" in no_file.json()["detail"]
    no_sku = client.post("/api/v1/tryon/photo", data={"merchant": shop.a.slug}, files={"image": ("p.jpg", jpeg(portrait()))})
    assert no_sku.status_code == 422 and "'sku' is required" in no_sku.json()["detail"]
    unknown_merchant = try_on(client, "nobody-here", jpeg(portrait()), "GL-1001")
    assert unknown_merchant.status_code == 404
    garbage = client.post("/api/v1/tryon/photo", content=b"not a multipart body", headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert garbage.status_code == 422 and "malformed" in garbage.json()["detail"]


# ---- the scale-out deployment ---------------------------------------------------------------

def test_photo_tryon_in_each_deployment(service, face_tracker):
    """PostgreSQL + S3 + queue workers as well as the embedded deployment: the model comes from the storage,
    the answer is the same kind, and nothing is kept."""
    service.ingest(service.a, "GL-1001", "glasses.glb", category="glasses", status="published")
    photo = portrait()
    after = composite(try_on(service.client, service.a.slug, png(photo), "GL-1001", format="png"))
    pupils = face_tracker.detect_one(photo).pixels([468, 473])
    assert all(contains(box(changed(photo, after)), p) for p in pupils)
    assert_nothing_kept(service.runtime)
