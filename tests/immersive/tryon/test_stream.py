"""The kiosk stream WebSocket (/api/v1/tryon/stream) on real frames: skimage's astronaut as JPEG camera frames
through the real Face Landmarker; transforms put the glasses between the eyes, measurements are sane, frames
that arrive while one is processed are dropped (newest kept), product switches, and every bad message ends
the stream with its close code and reason. Nothing the stream saw is written to the data directory."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.websockets import WebSocketDisconnect

from immersive.tryon import fit

from ..conftest import Service, make_settings, running
from .conftest import astronaut

GLASSES, EARRINGS, RING, CHAIR = "GL-1", "ER-1", "RG-1", "CH-1"


@pytest.fixture(scope="module")
def stream_service(tmp_path_factory):
    """One embedded app with published glasses, earrings, a ring and a chair (the stream does not touch storage,
    so one deployment is enough); at most two streams at once."""
    settings = make_settings(tmp_path_factory.mktemp("stream"), "local", tryon_stream_max_connections=2, tryon_stream_idle_seconds=5)
    with running(settings) as client:
        service = Service(client)
        tenant = service.a
        service.ingest(tenant, GLASSES, "glasses.glb", category="glasses", status="published")
        service.ingest(tenant, EARRINGS, "earrings.glb", category="earrings", status="published")
        service.ingest(tenant, RING, "ring.glb", category="ring", status="published")
        service.ingest(tenant, CHAIR, "chair.glb", category="chair", status="published")
        yield service


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=quality)
    return out.getvalue()


def kiosk_frame() -> np.ndarray:
    """The astronaut's portrait in a 640x480 kiosk frame."""
    canvas = Image.new("RGB", (640, 480), (70, 80, 90))
    canvas.paste(Image.fromarray(astronaut()).resize((420, 420)), (110, 30))
    return np.asarray(canvas)


def url(service: Service, sku: str = GLASSES, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"merchant": service.a.slug, "sku": sku, **params}.items())
    return f"/api/v1/tryon/stream?{query}"


def column_major(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(4, 4).T


def closed_with(ws) -> tuple[int, str]:
    """The close code and reason the server ended the stream with (reading past any pending replies)."""
    while True:
        try:
            message = ws.receive()
        except WebSocketDisconnect as exc:
            return exc.code, exc.reason
        if message["type"] == "websocket.close":
            return message["code"], message.get("reason", "")


def test_glasses_land_between_the_eyes(stream_service, face_tracker):
    frame = kiosk_frame()
    with stream_service.client.websocket_connect(url(stream_service)) as ws:
        ready = ws.receive_json()
        assert ready["type"] == "ready" and ready["protocol"] == 1
        assert ready["product"]["category"] == "glasses" and ready["product"]["items"] == [None]
        assert 0.1 < ready["product"]["frame_width_mm"] / 1000 < 0.2  # the sample frame's real width
        replies = []
        for _ in range(3):
            ws.send_bytes(jpeg(frame))
            replies.append(ws.receive_json())
    assert [r["seq"] for r in replies] == [1, 2, 3]
    reply = replies[-1]
    assert reply["type"] == "frame" and reply["face"] and reply["sku"] == GLASSES
    assert reply["counters"] == {"received": 3, "processed": 3, "dropped": 0}
    assert {"decode_ms", "track_ms", "fit_ms", "wait_ms", "server_ms"} <= set(reply["timing"])

    # The camera: the frame's size and the OpenGL projection of the default field of view.
    camera = fit.Camera.for_image(640, 480)
    assert reply["camera"]["width"] == 640 and reply["camera"]["height"] == 480
    assert np.allclose(column_major(reply["camera"]["projection"]), camera.projection_matrix(0.01, 10.0), atol=1e-5)

    # The glasses' origin (bridge midpoint) projects between the pupils the landmarker sees on the same frame,
    # a little above them; the lenses face the camera.
    (item,) = reply["items"]
    transform = column_major(item["matrix"])
    assert np.allclose(transform[:3, :3] @ transform[:3, :3].T, np.eye(3), atol=1e-4), "a rigid motion: real size"
    bridge = camera.project(transform[:3, 3])
    face = face_tracker.detect_one(frame)
    right, left = face.pixels(468), face.pixels(473)
    pupil_gap = float(np.linalg.norm(left - right))
    assert abs(bridge[0] - (left[0] + right[0]) / 2) < 0.15 * pupil_gap
    assert 0 < (right[1] + left[1]) / 2 - bridge[1] < 0.6 * pupil_gap
    assert transform[2, 2] > 0.9  # lens normal +Z towards the camera (+Z in camera space)
    assert 0.2 < -transform[2, 3] < 2.0  # metres in front of the camera

    occluder = column_major(reply["occluder"])
    assert 0.7 < np.linalg.norm(occluder[:3, 0]) < 1.5  # canonical face scaled to this person

    measured = reply["measurements"]
    assert 50 < measured["pd"]["mm"] < 75 and 0 < measured["pd"]["sd_mm"] < 5
    assert measured["far_pd"]["mm"] > measured["pd"]["mm"]
    assert 100 < measured["face_width"]["mm"] < 170
    advice = measured["frame_size"]
    assert advice["size"] in ("narrow", "medium", "wide")
    assert math.isclose(advice["difference_mm"], advice["frame_width_mm"] - measured["face_width"]["mm"], abs_tol=0.2)


def test_frames_arriving_during_processing_are_dropped_newest_kept(stream_service):
    frame = jpeg(kiosk_frame())
    sent = 12
    with stream_service.client.websocket_connect(url(stream_service)) as ws:
        ws.receive_json()
        for _ in range(sent):  # faster than the landmarker: most arrive while one is being processed
            ws.send_bytes(frame)
        replies = []
        while not replies or replies[-1]["counters"]["processed"] + replies[-1]["counters"]["dropped"] < sent:
            replies.append(ws.receive_json())
    seqs = [r["seq"] for r in replies]
    last = replies[-1]["counters"]
    assert last["received"] == sent and last["processed"] == len(replies) and last["dropped"] == sent - len(replies)
    assert last["dropped"] > 0, "no frame was dropped: none arrived while another was processed"
    assert seqs == sorted(seqs) and seqs[-1] == sent, "the newest frame is the one kept"
    # A frame waited at most for the one frame before it: never a queue.
    assert all(r["timing"]["wait_ms"] < 5 * max(q["timing"]["track_ms"] for q in replies) + 200 for r in replies)


def test_no_face_and_product_switch(stream_service):
    grey = np.full((480, 640, 3), 120, np.uint8)
    with stream_service.client.websocket_connect(url(stream_service)) as ws:
        ws.receive_json()
        ws.send_bytes(jpeg(grey))
        empty = ws.receive_json()
        assert not empty["face"] and empty["items"] == [] and empty["measurements"] is None and empty["occluder"] is None

        ws.send_json({"type": "product", "sku": EARRINGS, "variant": None})
        switched = ws.receive_json()
        assert switched["type"] == "product" and switched["product"]["items"] == ["EarringL", "EarringR"]
        assert switched["product"]["frame_width_mm"] is None
        ws.send_bytes(jpeg(kiosk_frame()))
        reply = ws.receive_json()
        assert reply["sku"] == EARRINGS and reply["face"]
        assert [item["node"] for item in reply["items"]] == ["EarringL", "EarringR"]
        earring_left, earring_right = (column_major(item["matrix"])[:3, 3] for item in reply["items"])
        assert earring_left[0] > earring_right[0], "the person's left ear is on the image's right (+X)"
        assert reply["measurements"]["frame_size"] is None

        ws.send_json({"type": "camera", "horizontal_fov_deg": 75})
        assert ws.receive_json() == {"type": "camera", "horizontal_fov_deg": 75.0}
        ws.send_bytes(jpeg(kiosk_frame()))
        wider = ws.receive_json()
        assert math.isclose(wider["camera"]["focal_px"], fit.Camera.for_image(640, 480, 75).focal_px, rel_tol=1e-6)

        ws.send_json({"type": "product", "sku": RING, "variant": None})
        assert ws.receive_json()["product"]["tracker"] == "hand"
        ws.send_bytes(jpeg(kiosk_frame()))
        no_hand = ws.receive_json()
        assert no_hand["sku"] == RING and not no_hand["hand"] and no_hand["items"] == []


@pytest.mark.parametrize(
    ("send", "code", "reason"),
    [
        (lambda ws: ws.send_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100)), 1003, "not a readable JPEG"),
        (lambda ws: ws.send_bytes(b"\xff" * (1024 * 1024 + 1)), 1009, "over the limit"),
        (lambda ws: ws.send_text("hello"), 1008, "not JSON"),
        (lambda ws: ws.send_json({"type": "zoom"}), 1008, "unknown control message type"),
        (lambda ws: ws.send_json({"type": "product"}), 1008, "product message"),
        (lambda ws: ws.send_json({"type": "product", "sku": "NOPE"}), 4404, "NOPE"),
        (lambda ws: ws.send_json({"type": "product", "sku": GLASSES, "variant": "Gold"}), 1008, "no variant 'Gold'"),
        (lambda ws: ws.send_json({"type": "camera", "horizontal_fov_deg": 400}), 1008, "horizontal_fov_deg"),
        (lambda ws: ws.send_text("x" * 5000), 1009, "control message"),
    ],
    ids=["png", "too-big", "not-json", "unknown-type", "no-sku", "unknown-sku", "unknown-variant", "bad-fov", "long-text"],
)
def test_bad_messages_close_with_a_code_and_reason(stream_service, send, code, reason):
    with stream_service.client.websocket_connect(url(stream_service)) as ws:
        ws.receive_json()
        send(ws)
        found_code, found_reason = closed_with(ws)
    assert found_code == code and reason in found_reason, (found_code, found_reason)


@pytest.mark.parametrize(
    ("sku", "params", "code", "reason"),
    [
        ("NOPE", {}, 4404, "NOPE"),
        (CHAIR, {}, 4422, "no live try-on"),
        (GLASSES, {"variant": "Gold"}, 1008, "no variant"),
    ],
)
def test_products_that_cannot_stream_are_refused(stream_service, sku, params, code, reason):
    with stream_service.client.websocket_connect(url(stream_service, sku, **params)) as ws:
        found_code, found_reason = closed_with(ws)
    assert found_code == code and reason in found_reason, (found_code, found_reason)
    with stream_service.client.websocket_connect("/api/v1/tryon/stream") as ws:
        assert closed_with(ws)[0] == 1008


def test_connections_over_the_limit_are_closed_1013(stream_service):
    with stream_service.client.websocket_connect(url(stream_service)) as first, stream_service.client.websocket_connect(url(stream_service)) as second:
        first.receive_json(), second.receive_json()
        with stream_service.client.websocket_connect(url(stream_service)) as third:
            code, reason = closed_with(third)
        assert code == 1013 and "try again later" in reason
    # Closed streams free their places.
    with stream_service.client.websocket_connect(url(stream_service)) as again:
        assert again.receive_json()["type"] == "ready"


def test_idle_stream_is_closed(stream_service):
    with stream_service.client.websocket_connect(url(stream_service)) as ws:
        ws.receive_json()
        code, reason = closed_with(ws)  # the fixture's idle limit is 5 s
    assert code == 4408 and "no message" in reason


def files_under(root: Path) -> set[tuple[str, int]]:
    """Every file with its size (SQLite's transient journals aside)."""
    return {
        (str(p.relative_to(root)), p.stat().st_size)
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm", "-journal"))
    }


def test_nothing_the_stream_sees_is_stored(stream_service):
    data_dir = stream_service.runtime.settings.data_dir
    before = files_under(data_dir)
    with stream_service.client.websocket_connect(url(stream_service)) as ws:
        ws.receive_json()
        for _ in range(2):
            ws.send_bytes(jpeg(kiosk_frame()))
            assert ws.receive_json()["face"]
    assert files_under(data_dir) == before
