"""The kiosk try-on stream: camera frames in, per-item transforms and measurements out, over one WebSocket
(immersive/api/tryon_stream.py accepts it; this module is the protocol and the loop).

Protocol (version STREAM_PROTOCOL), after the server's first message `{"type": "ready", ...}`:
- client -> server, binary: one camera frame, a JPEG (at most `max_frame_bytes`, `max_frame_pixels`). Frames
  are numbered 1, 2, 3... in the order they arrive (WebSocket messages are ordered, so the client knows the
  number of each frame it sent without sending it).
- client -> server, text: a JSON control message, at most MAX_CONTROL_BYTES:
  `{"type": "product", "sku": str, "variant": str | null}` switches the product (same merchant), answered by
  `{"type": "product", "product": {...}}`; `{"type": "camera", "horizontal_fov_deg": float}` sets the kiosk
  camera's field of view across the frame's longer side (default fit.DEFAULT_HORIZONTAL_FOV_DEG), answered by
  `{"type": "camera", ...}`.
- server -> client, text: `{"type": "frame", ...}` for every frame processed (see `FrameProcessor.process`):
  `seq`, `sku`, `face` (found or not), `items` (4x4 per item or node, column-major as three.js'
  Matrix4.elements, camera space: +X right, +Y up, looking down -Z, metres), `occluder` (the head occluder's
  4x4: canonical face -> camera, scale included), `camera` (intrinsics and the OpenGL projection, column-major),
  `measurements` (PD, face width with their 1-sigma uncertainty, frame-size advice), `counters` and `timing`.

Frames are never queued: while one frame is being processed, only the newest frame that arrived meanwhile is
kept and every older one is dropped (counted in `counters.dropped`), so a slow server answers late frames with
fresh ones instead of falling further and further behind. `received = processed + dropped` once the stream
is idle.

Each connection has its own VIDEO-mode landmarker (tracking between frames) and One Euro smoothing (the head
pose for face items, so the occluder and the product move together; each item's transform for hand items).

Privacy: frames, landmarks and measurements live in memory for the time of one frame and are never stored or
logged; a reply carries only transforms and measurements.

Bad input ends the connection with a WebSocket close code and a reason (StreamClosed): 1003 a binary message
that is not a JPEG, 1008 a bad control message, 1009 a message over its size limit, 4404 an unknown product,
4422 a product that cannot be tried on in the stream, 4408 no message for `idle_seconds`, 1011 a server fault."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import anyio
import numpy as np
from PIL import Image, UnidentifiedImageError

from . import fit
from .smoothing import OneEuroFilter, PoseFilter

STREAM_PROTOCOL = 1
MAX_CONTROL_BYTES = 4096
MIN_FOV_DEG, MAX_FOV_DEG = 20.0, 150.0
# The kiosk page's projection range (metres): a face is 0.2..2 m from a kiosk camera.
NEAR_M, FAR_M = 0.01, 10.0

FACE_CATEGORIES = ("glasses", "sunglasses", "hat", "earrings", "necklace")
HAND_CATEGORIES = ("ring", "watch", "bracelet")
EYEWEAR = ("glasses", "sunglasses")
EARRING_NODES = {"left": "EarringL", "right": "EarringR"}  # the person's side -> the spec's node


class StreamClosed(Exception):
    """Ends a stream with a WebSocket close code and a reason the client can show (<= 123 bytes in UTF-8)."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason.encode()[:123].decode(errors="ignore")


@dataclass(frozen=True)
class StreamLimits:
    max_frame_bytes: int
    max_frame_pixels: int
    idle_seconds: float


@dataclass(frozen=True)
class StreamProduct:
    """What the stream needs of a published product: which tracker, which items, the real frame width."""

    merchant: str
    sku: str
    category: str
    variant: str | None
    variants: tuple[str, ...]
    frame_width_mm: float | None  # eyewear: the real frame width from the asset's anchor (frame-size advice)

    @property
    def tracker(self) -> Literal["face", "hand"]:
        return "hand" if self.category in HAND_CATEGORIES else "face"

    @classmethod
    def from_public(cls, product: dict, variant: str | None = None) -> StreamProduct:
        """From the public product JSON (PublicProductOut); StreamClosed 4422 when it cannot be tried on here."""
        category, sku = product["category"], product["sku"]
        if category not in FACE_CATEGORIES + HAND_CATEGORIES:
            supported = ", ".join(FACE_CATEGORIES + HAND_CATEGORIES)
            raise StreamClosed(4422, f"{sku}: category {category!r} has no live try-on (supported: {supported})")
        asset = product.get("asset")
        if not asset:
            raise StreamClosed(4422, f"{sku} has no 3D model yet")
        variants = tuple(asset.get("variants") or ())
        if variant is not None and variant not in variants:
            raise StreamClosed(1008, f"{sku} has no variant {variant!r}")
        width = ((asset.get("anchor") or {}).get("sizes_m") or {}).get("frame_width_m")
        return cls(
            merchant=product["merchant"],
            sku=sku,
            category=category,
            variant=variant,
            variants=variants,
            frame_width_mm=float(width) * 1000.0 if category in EYEWEAR and width else None,
        )

    def describe(self) -> dict:
        nodes = list(EARRING_NODES.values()) if self.category == "earrings" else [None]
        return {
            "merchant": self.merchant,
            "sku": self.sku,
            "category": self.category,
            "variant": self.variant,
            "tracker": self.tracker,
            "items": nodes,
            "frame_width_mm": self.frame_width_mm,
        }


def column_major(matrix: np.ndarray) -> list[float]:
    """A 4x4 as three.js' Matrix4.elements (column after column), rounded to 10 micrometres / 1e-6."""
    return [round(float(v), 6) for v in np.asarray(matrix, dtype=np.float64).T.ravel()]


def decode_jpeg(data: bytes, max_pixels: int) -> np.ndarray:
    """An RGB uint8 array of a JPEG; StreamClosed 1003 for anything else, 1009 over `max_pixels`."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.format != "JPEG":
            raise StreamClosed(1003, f"frames must be JPEG images, got {image.format}")
        if image.width * image.height > max_pixels:
            raise StreamClosed(1009, f"frame {image.width}x{image.height} is over {max_pixels} pixels")
        return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise StreamClosed(1003, f"a binary message is not a readable JPEG: {exc}") from None


def camera_json(camera: fit.Camera) -> dict:
    return {
        "width": camera.width,
        "height": camera.height,
        "focal_px": round(camera.focal_px, 4),
        "cx": camera.cx,
        "cy": camera.cy,
        "near": NEAR_M,
        "far": FAR_M,
        "projection": column_major(camera.projection_matrix(NEAR_M, FAR_M)),
    }


def _measure(value: fit.Measurement) -> dict:
    return {"mm": round(value.value_mm, 2), "sd_mm": round(value.uncertainty_mm, 2)}


class FrameProcessor:
    """One connection's tracking, fit and smoothing. Not thread-safe: the stream calls it from one worker
    thread at a time (MediaPipe's VIDEO mode needs one caller with increasing timestamps)."""

    def __init__(self, product: StreamProduct, horizontal_fov_deg: float = fit.DEFAULT_HORIZONTAL_FOV_DEG):
        self._face_tracker = None
        self._hand_tracker = None
        self.horizontal_fov_deg = horizontal_fov_deg
        self.set_product(product)

    def set_product(self, product: StreamProduct) -> None:
        """Switches the product; the landmarker of its tracker is created on the first switch that needs it."""
        from .tracking import FaceTracker, HandTracker

        self.product = product
        if product.tracker == "face" and self._face_tracker is None:
            self._face_tracker = FaceTracker("video", max_faces=1)
        if product.tracker == "hand" and self._hand_tracker is None:
            self._hand_tracker = HandTracker("video", max_hands=1)
        self._reset_smoothing()

    def set_fov(self, horizontal_fov_deg: float) -> None:
        self.horizontal_fov_deg = horizontal_fov_deg
        self._reset_smoothing()  # a new camera model moves every transform at once: no smoothing across it

    def _reset_smoothing(self) -> None:
        self._head = PoseFilter()
        self._head_scale = OneEuroFilter(min_cutoff_hz=0.5, beta=0.0)
        self._items: dict[str, PoseFilter] = {}

    def close(self) -> None:
        for tracker in (self._face_tracker, self._hand_tracker):
            if tracker is not None:
                tracker.close()

    def process(self, jpeg: bytes, seq: int, time_s: float, max_pixels: int) -> dict:
        """The reply to one frame (without the stream's counters). `time_s` is the frame's arrival on the
        connection's clock: the landmarker's timestamp and the smoothing's time."""
        started = time.perf_counter()
        frame = decode_jpeg(jpeg, max_pixels)
        decoded = time.perf_counter()
        height, width = frame.shape[:2]
        camera = fit.Camera.for_image(width, height, self.horizontal_fov_deg)
        timestamp_ms = int(time_s * 1000)
        reply: dict[str, Any] = {
            "type": "frame",
            "seq": seq,
            "sku": self.product.sku,
            "face": False,
            "hand": False,
            "items": [],
            "occluder": None,
            "measurements": None,
            "camera": camera_json(camera),
        }
        if self.product.tracker == "face":
            face = self._face_tracker.detect_one(frame, timestamp_ms=timestamp_ms)
            tracked = time.perf_counter()
            if face is not None:
                reply["face"] = True
                self._face_reply(reply, face, camera, time_s)
        else:
            hands = self._hand_tracker.detect(frame, timestamp_ms=timestamp_ms)
            tracked = time.perf_counter()
            if hands:
                reply["hand"] = True
                self._hand_reply(reply, hands[0], camera, time_s)
        if not reply["face"] and not reply["hand"]:
            self._reset_smoothing()  # the next face may be someone else: start afresh
        done = time.perf_counter()
        reply["timing"] = {
            "decode_ms": round((decoded - started) * 1000, 2),
            "track_ms": round((tracked - decoded) * 1000, 2),
            "fit_ms": round((done - tracked) * 1000, 2),
        }
        return reply

    def _face_reply(self, reply: dict, face, camera: fit.Camera, time_s: float) -> None:
        try:
            measured = fit.fit_face(face, camera)
        except fit.FitError as exc:
            reply["fit_error"] = str(exc)
            return
        # One filter for the head: the occluder and every item follow the same smoothed pose.
        pose = measured.pose
        rigid = self._head(np.block([[pose.rotation, pose.translation_m[:, None]], [np.zeros((1, 3)), np.ones((1, 1))]]), time_s)
        scale = float(self._head_scale([pose.scale], time_s)[0])
        smoothed = replace(measured, pose=replace(pose, rotation=rigid[:3, :3], translation_m=rigid[:3, 3], scale=scale))
        category = self.product.category
        if category in EYEWEAR:
            reply["items"] = [{"node": None, "matrix": column_major(fit.glasses_transform(smoothed)), "visible": True}]
        elif category == "hat":
            reply["items"] = [{"node": None, "matrix": column_major(fit.hat_transform(smoothed)), "visible": True}]
        elif category == "necklace":
            reply["items"] = [{"node": None, "matrix": column_major(fit.necklace_transform(smoothed)), "visible": True}]
        elif category == "earrings":
            reply["items"] = [
                {"node": EARRING_NODES[e.side], "matrix": column_major(e.transform), "visible": e.visible}
                for e in fit.earring_transforms(smoothed)
            ]
        reply["occluder"] = column_major(smoothed.pose.matrix())
        advice = None
        if self.product.frame_width_mm:
            a = fit.frame_size_advice(measured.face_width, self.product.frame_width_mm)
            advice = {
                "size": a.size,
                "frame_width_mm": round(a.frame_width_mm, 1),
                "difference_mm": round(a.difference_mm, 1),
                "tolerance_mm": round(a.tolerance_mm, 1),
            }
        reply["measurements"] = {
            "pd": _measure(measured.pd),
            "far_pd": _measure(measured.far_pd),
            "face_width": _measure(measured.face_width),
            "distance_m": round(measured.distance_m, 4),
            "frame_size": advice,
        }

    def _hand_reply(self, reply: dict, hand, camera: fit.Camera, time_s: float) -> None:
        try:
            hand_fit = fit.fit_hand(hand, camera)
            transform = fit.ring_transform(hand_fit) if self.product.category == "ring" else fit.watch_transform(hand_fit)
        except fit.FitError as exc:
            reply["fit_error"] = str(exc)
            return
        smoother = self._items.setdefault("product", PoseFilter())
        reply["items"] = [{"node": None, "matrix": column_major(smoother(transform, time_s)), "visible": True}]
        reply["handedness"] = hand.handedness


class LatestFrame:
    """A one-frame slot: putting a frame replaces (drops) the one waiting, taking waits for one."""

    def __init__(self):
        self._frame: tuple[int, bytes, float] | None = None
        self._ready = anyio.Event()

    def put(self, seq: int, data: bytes, time_s: float) -> bool:
        """True when a waiting frame was replaced (dropped)."""
        dropped = self._frame is not None
        self._frame = (seq, data, time_s)
        self._ready.set()
        return dropped

    async def take(self) -> tuple[int, bytes, float]:
        while self._frame is None:
            await self._ready.wait()
            self._ready = anyio.Event()
        frame, self._frame = self._frame, None
        return frame


Message = dict  # an ASGI websocket message: {"type": "websocket.receive", "bytes" | "text": ...} or a disconnect
ResolveProduct = Callable[[str, str | None], Awaitable[StreamProduct]]


class KioskStream:
    """The loop of one connection: a reader task takes messages as fast as they come (frames into the
    LatestFrame slot, control messages applied), a worker task processes the newest frame in a thread and
    sends its reply. The first StreamClosed or the client's disconnect ends both."""

    def __init__(self, processor: FrameProcessor, limits: StreamLimits, resolve_product: ResolveProduct):
        self.processor = processor
        self.limits = limits
        self.resolve_product = resolve_product
        self.received = self.processed = self.dropped = 0
        self._slot = LatestFrame()
        self._pending_product: StreamProduct | None = None
        self._pending_fov: float | None = None
        self._send_lock = anyio.Lock()
        self._started = time.monotonic()

    def ready_message(self) -> dict:
        return {
            "type": "ready",
            "protocol": STREAM_PROTOCOL,
            "product": self.processor.product.describe(),
            "camera": {"horizontal_fov_deg": self.processor.horizontal_fov_deg},
            "limits": {
                "max_frame_bytes": self.limits.max_frame_bytes,
                "max_frame_pixels": self.limits.max_frame_pixels,
                "idle_seconds": self.limits.idle_seconds,
                "max_control_bytes": MAX_CONTROL_BYTES,
            },
        }

    async def run(self, receive: Callable[[], Awaitable[Message]], send_text: Callable[[str], Awaitable[None]]) -> None:
        """Runs until the client disconnects (returns) or a StreamClosed is raised (the caller closes with it)."""
        self._send_text = send_text
        await self._send(self.ready_message())
        closed: list[StreamClosed] = []

        async def until_closed(task, *args) -> None:
            try:
                await task(*args)
            except StreamClosed as exc:
                closed.append(exc)
            group.cancel_scope.cancel()  # the reader's end (disconnect) or either's StreamClosed ends both

        async with anyio.create_task_group() as group:
            group.start_soon(until_closed, self._work)
            group.start_soon(until_closed, self._read, receive)
        if closed:
            raise closed[0]

    async def _send(self, message: dict) -> None:
        async with self._send_lock:
            await self._send_text(json.dumps(message, separators=(",", ":")))

    async def _read(self, receive) -> None:
        while True:
            with anyio.move_on_after(self.limits.idle_seconds) as idle:
                message = await receive()
            if idle.cancelled_caught:
                raise StreamClosed(4408, f"no message for {self.limits.idle_seconds:g} s")
            if message["type"] == "websocket.disconnect":
                return
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                if len(data) > self.limits.max_frame_bytes:
                    raise StreamClosed(1009, f"a frame of {len(data)} bytes is over the limit of {self.limits.max_frame_bytes}")
                self.received += 1
                if self._slot.put(self.received, data, time.monotonic() - self._started):
                    self.dropped += 1
            elif text is not None:
                await self._control(text)

    async def _control(self, text: str) -> None:
        if len(text.encode()) > MAX_CONTROL_BYTES:
            raise StreamClosed(1009, f"a control message is over {MAX_CONTROL_BYTES} bytes")
        try:
            message = json.loads(text)
        except ValueError:
            raise StreamClosed(1008, "a text message is not JSON: control messages are JSON objects") from None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "product":
            sku, variant = message.get("sku"), message.get("variant")
            if not isinstance(sku, str) or not sku or not (variant is None or isinstance(variant, str)):
                raise StreamClosed(1008, 'product message: expected {"type": "product", "sku": str, "variant": str | null}')
            product = await self.resolve_product(sku, variant)
            self._pending_product = product
            await self._send({"type": "product", "product": product.describe()})
        elif kind == "camera":
            fov = message.get("horizontal_fov_deg")
            if isinstance(fov, bool) or not isinstance(fov, (int, float)) or not MIN_FOV_DEG <= fov <= MAX_FOV_DEG:
                raise StreamClosed(1008, f"camera message: horizontal_fov_deg must be a number in {MIN_FOV_DEG:g}..{MAX_FOV_DEG:g}")
            self._pending_fov = float(fov)
            await self._send({"type": "camera", "horizontal_fov_deg": float(fov)})
        else:
            raise StreamClosed(1008, f"unknown control message type {kind!r}: expected product or camera")

    async def _work(self) -> None:
        while True:
            seq, data, time_s = await self._slot.take()
            taken = time.monotonic() - self._started
            # Switches apply between frames, in the worker thread (a new tracker takes a moment to load).
            product, self._pending_product = self._pending_product, None
            fov, self._pending_fov = self._pending_fov, None
            if product is not None:
                await anyio.to_thread.run_sync(self.processor.set_product, product)
            if fov is not None:
                self.processor.set_fov(fov)
            reply = await anyio.to_thread.run_sync(self.processor.process, data, seq, time_s, self.limits.max_frame_pixels)
            self.processed += 1
            reply["counters"] = {"received": self.received, "processed": self.processed, "dropped": self.dropped}
            reply["timing"]["wait_ms"] = round((taken - time_s) * 1000, 2)
            reply["timing"]["server_ms"] = round((time.monotonic() - self._started - time_s) * 1000, 2)
            await self._send(reply)
