"""The try-on page in real headless Chromium with a fake camera: Chromium plays a video this test makes (skimage's
astronaut with a small head sway, written as Y4M) as the webcam (tryon_live.mjs).

- mode=kiosk: the page sends JPEG frames over the stream WebSocket and draws the transforms the service answers;
- mode=device: tasks-vision's Face Landmarker runs in the page (its module, wasm and model from our service, no
  frame sent anywhere) and the page's own fit (tryon.js) places the glasses.

In both, the glasses are drawn over the eyes: the overlay's pixels (its alpha) and the stage's pixels with and
without the product, against the pupils the service's Face Landmarker finds on the same video frames. The
measurements and the privacy notice are on screen and tryon_started/tryon_ended reach the service. Screenshots
go to artifacts/tryon/ (tryon-MODE-SKU.png: the stage; -page.png: the whole page)."""

from __future__ import annotations

import base64
import io
import math
import re

import numpy as np
import pytest
from PIL import Image

from immersive.tryon.tracking import FaceTracker
from tests.immersive.tryon.conftest import astronaut

from .support import changed, pixels

pytestmark = pytest.mark.xdist_group("browser")

SKU = "GL-1001"  # the sample glasses
WIDTH, HEIGHT, FRAMES = 640, 480, 60
MODES = ("kiosk", "device")
MIN_FRAMES = 10


def video_frames() -> list[np.ndarray]:
    """The portrait swaying a few pixels and turning a degree, one period over the loop (Chromium plays the file
    over and over)."""
    photo = Image.fromarray(astronaut()).resize((420, 420), Image.Resampling.BILINEAR)
    out = []
    for i in range(FRAMES):
        phase = 2 * math.pi * i / FRAMES
        canvas = Image.new("RGB", (WIDTH, HEIGHT), (70, 80, 90))
        canvas.paste(photo.rotate(math.sin(phase), Image.Resampling.BILINEAR), (round(110 + 8 * math.sin(phase)), round(30 + 3 * math.cos(phase))))
        out.append(np.asarray(canvas))
    return out


def write_y4m(frames: list[np.ndarray], path) -> None:
    """YUV4MPEG2, 4:2:0, BT.601 studio range (what Chromium's file capture reads)."""
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F30:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            ycc = np.asarray(Image.fromarray(frame).convert("YCbCr"), dtype=np.float64)
            y = 16 + ycc[..., 0] * 219 / 255
            chroma = [128 + (ycc[..., c].reshape(HEIGHT // 2, 2, WIDTH // 2, 2).mean((1, 3)) - 128) * 224 / 255 for c in (1, 2)]
            out.write(b"FRAME\n")
            out.writelines(np.clip(np.round(plane), 0, 255).astype(np.uint8).tobytes() for plane in (y, *chroma))


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory) -> dict:
    """The Y4M file and where the pupils are on its frames (the service's Face Landmarker): their mean and spread."""
    frames = video_frames()
    path = tmp_path_factory.mktemp("fake-camera") / "astronaut.y4m"
    write_y4m(frames, path)
    with FaceTracker("video") as tracker:  # as a stream: on a single photo the detector misses some of these frames
        pupils = []
        for i, frame in enumerate(frames):
            face = tracker.detect_one(frame, timestamp_ms=i * 33)
            assert face is not None
            pupils.append([face.pixels(468), face.pixels(473)])  # the person's right eye (image left), left eye
    pupils = np.asarray(pupils)
    return {"path": str(path), "pupils": pupils.mean(0), "sway_px": float(np.ptp(pupils[:, :, 0], axis=0).max())}


@pytest.fixture(scope="session")
def live(service, scenario, fake_camera, artifacts_dir, tmp_path_factory) -> dict[str, dict]:
    out = artifacts_dir / "tryon"
    out.mkdir(exist_ok=True)
    return scenario(
        "tryon_live.mjs",
        {
            "base": service.base, "merchant": service.merchant, "sku": SKU, "video": fake_camera["path"], "modes": list(MODES),
            "minFrames": MIN_FRAMES, "artifacts": str(out), "work": str(tmp_path_factory.mktemp("tryon-live")),
        },
        timeout=420,
    )


def run_of(live: dict, mode: str) -> dict:
    run = live[mode]
    assert "error" not in run, f"{mode}: {run['error']}"
    return run


def eye_boxes(fake_camera: dict, scale: tuple[float, float], mirrored: bool) -> tuple[list[tuple[int, int, int, int]], tuple[int, int, int, int]]:
    """Pixel boxes (x0, y0, x1, y1) in an image of the stage: one around each pupil (where a frame's rims and
    lenses are), and the band of the face a pair of glasses stays in (temples included)."""
    pupils = fake_camera["pupils"] * scale
    if mirrored:
        pupils[:, 0] = WIDTH * scale[0] - pupils[:, 0]
    gap = float(np.linalg.norm(pupils[1] - pupils[0]))
    sway = fake_camera["sway_px"] * scale[0]
    eyes = [(int(x - 0.45 * gap - sway), int(y - 0.35 * gap), int(x + 0.45 * gap + sway), int(y + 0.35 * gap)) for x, y in pupils]
    mid_x, eye_y = pupils[:, 0].mean(), pupils[:, 1].mean()
    band = (int(mid_x - 1.8 * gap), int(eye_y - 0.9 * gap), int(mid_x + 1.8 * gap), int(eye_y + 0.9 * gap))
    return eyes, band


def count_in(mask: np.ndarray, box: tuple[int, int, int, int]) -> int:
    x0, y0, x1, y1 = box
    return int(mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)].sum())


def paths(run: dict, service) -> list[str]:
    """The page's requests as "METHOD /path", after checking that every one went to the service (no CDN, no
    third party: nothing about the shopper leaves for anywhere else)."""
    out = []
    for request in run["requests"]:
        method, url = request.split(" ", 1)
        if url in ("data:", "blob:"):  # made in the page (the model's decoded textures)
            continue
        assert url.startswith(service.base + "/"), f"a request left the service: {request}"
        out.append(f"{method} {url.removeprefix(service.base)}")
    return out


def test_kiosk_receives_transforms_over_the_websocket(live, service):
    run = run_of(live, "kiosk")
    assert run["title"].startswith("Try on: ")
    (socket,) = run["webSockets"]
    assert socket.startswith(f"ws://{service.base.removeprefix('http://')}/api/v1/tryon/stream?") and f"sku={SKU}" in socket
    last = run["last"]
    assert last["type"] == "frame" and last["face"] and last["sku"] == SKU and len(last["items"]) == 1
    counters = last["counters"]
    assert counters["processed"] >= MIN_FRAMES
    # The page keeps at most two frames unanswered; the server drops, never queues.
    sent = last["stats"]["sent"]
    assert counters["received"] <= sent <= counters["processed"] + counters["dropped"] + 2
    assert {"decode_ms", "track_ms", "fit_ms", "wait_ms", "server_ms"} <= set(last["timing"])
    assert not any("/viewer/vendor/tasks-vision/" in request for request in paths(run, service)), "kiosk mode tracks on the server"


def test_device_mode_tracks_in_the_browser(live, service):
    run = run_of(live, "device")
    assert run["webSockets"] == [], "no stream: frames stay in the browser"
    requests = paths(run, service)
    assert "GET /viewer/vendor/tasks-vision/vision_bundle.mjs" in requests
    assert any(r.startswith("GET /viewer/vendor/tasks-vision/wasm/") and r.endswith(".wasm") for r in requests)
    assert "GET /api/v1/tryon/models/face_landmarker.task" in requests and "GET /api/v1/tryon/parameters" in requests
    assert {r.split()[0] for r in requests} <= {"GET", "POST"} and [r for r in requests if r.startswith("POST")] == ["POST /api/v1/events"]
    last = run["last"]
    assert last["face"] and last["sku"] == SKU and len(last["items"]) == 1 and last["occluder"] is not None
    assert last["stats"]["framesWithFace"] >= MIN_FRAMES


@pytest.mark.parametrize("mode", MODES)
def test_glasses_are_drawn_over_the_eyes(live, fake_camera, mode):
    run = run_of(live, mode)
    stage = run["stage"]
    assert stage["video"] == [WIDTH, HEIGHT] and stage["mirrored"]
    assert abs(stage["box"][0] / stage["box"][1] - WIDTH / HEIGHT) < 0.01, "the stage has the video's aspect ratio"

    # The overlay alone (the canvas' own pixels, not mirrored): its alpha is where the product was drawn.
    overlay = np.asarray(Image.open(io.BytesIO(base64.b64decode(run["overlay"]))).convert("RGBA"))
    drawn = overlay[..., 3] > 0
    assert list(overlay.shape[1::-1]) == stage["canvas"]
    eyes, band = eye_boxes(fake_camera, (overlay.shape[1] / WIDTH, overlay.shape[0] / HEIGHT), mirrored=False)
    assert drawn.mean() > 0.003, "hardly anything drawn"
    for eye in eyes:
        assert count_in(drawn, eye) > 50, f"nothing drawn around the pupil in {eye}"
    assert count_in(drawn, band) > 0.9 * drawn.sum(), "the glasses are drawn away from the eyes"
    xs = np.nonzero(drawn)[1]
    gap = (eyes[1][0] + eyes[1][2] - eyes[0][0] - eyes[0][2]) / 2
    centre_x = (eyes[0][0] + eyes[0][2] + eyes[1][0] + eyes[1][2]) / 4
    assert abs(xs.mean() - centre_x) < 0.3 * gap, "the glasses are not centred between the eyes"

    # The stage as the shopper sees it (mirrored), with and without the product on the same video frame.
    with_product, without = pixels(run["shots"]["stage"]), pixels(run["shots"]["without"])
    difference = changed(with_product, without)
    eyes, band = eye_boxes(fake_camera, (with_product.shape[1] / WIDTH, with_product.shape[0] / HEIGHT), mirrored=True)
    for eye in eyes:
        assert count_in(difference, eye) > 50, f"the stage did not change around the pupil in {eye}"
    assert count_in(difference, band) > 0.9 * difference.sum()


@pytest.mark.parametrize("mode", MODES)
def test_measurements_and_privacy_notice_on_screen(live, mode):
    run = run_of(live, mode)
    shown = run["shown"]
    assert not shown["measurementsHidden"]
    pd = re.fullmatch(r"(\d+\.\d) mm ± (\d+\.\d)", shown["pd"])
    width = re.fullmatch(r"(\d+\.\d) mm ± (\d+\.\d)", shown["faceWidth"])
    assert pd and 50 < float(pd[1]) < 75 and 0 < float(pd[2]) < 5, shown["pd"]
    assert width and 100 < float(width[1]) < 170, shown["faceWidth"]
    assert shown["frameSizeValue"] in ("narrow", "medium", "wide") and shown["frameSize"].startswith(shown["frameSizeValue"])
    measured = run["last"]["measurements"]
    assert abs(measured["pd"]["mm"] - float(pd[1])) < 5
    expected = "on this device only" if mode == "device" else "discarded at once"
    assert expected in run["privacy"] and "stored" in run["privacy"]


@pytest.mark.parametrize("mode", MODES)
def test_tryon_events_reach_the_service(live, service, mode):
    run = run_of(live, mode)
    events = service.events(session=run["session"], sku=SKU)
    by_type = {event["type"]: event for event in events}
    assert by_type["tryon_started"]["props"] == {"mode": mode, "category": "glasses"}
    ended = by_type["tryon_ended"]["props"]
    assert ended["mode"] == mode and ended["frames_with_face"] >= MIN_FRAMES and ended["frames"] >= ended["frames_with_face"]
    assert ended["duration_ms"] > 0
