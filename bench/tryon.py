"""Try-on benchmark, part 1: per-frame latency of raw MediaPipe against our tracking + fit (+ smoothing), on a
640x480 stream. Target: our overhead <= 25% over raw MediaPipe.

    .venv/bin/python bench/tryon.py                 # 150 frames, 3 rounds
    .venv/bin/python bench/tryon.py --frames 300 --rounds 5
    .venv/bin/python bench/tryon.py --photo-requests 0      # without the photo try-on section
    .venv/bin/python bench/tryon.py --stream-seconds 0      # without the kiosk stream section

The stream is skimage's astronaut portrait moving and turning inside a 640x480 frame (a head drifting in
front of a kiosk camera), made before timing. Both sides run the Face Landmarker in VIDEO mode with the same
options (478 landmarks, blendshapes, transformation matrices) on the same frames:
- raw: `FaceLandmarker.detect_for_video` on an `mp.Image` (what an application calling MediaPipe pays);
- ours: `FaceTracker.detect_one` (the same call, then landmarks as numpy, largest face) + `fit.fit_face` (pose,
  iris scale, PD, face width) + `fit.glasses_transform` + `PoseFilter` (One Euro).
Rounds alternate raw / ours, each with a fresh landmarker; the median per-frame time of each side is taken per
round, and each side's fastest round is compared (the machine's 2 cores are shared; the least disturbed round
is the truest). Results: bench/out/tryon.json.

Photo try-on (`time_photo_tryon`): a real service (`immersive samples` + `immersive serve`, embedded deployment,
one process) on loopback; skimage's astronaut scaled to 1024x1024 (JPEG, quality 90) is POSTed to
/api/v1/tryon/photo for each face try-on sample, N timed requests after 2 warm-ups, one at a time; the
median round trip per product (upload, decode, track, fit, render, JPEG encode, base64 JSON back) and the
server's own stage medians (Server-Timing). Target: <= 300 ms. Rings and watches need a hand photo, which no
registry ships (the tests render one): they are not timed here.

Kiosk stream (`time_streams`): the same kind of service with the glasses GL-1001, and clients on the same machine
(websockets, one asyncio loop) sending the 640x480 stream above as JPEG (quality 80, what the kiosk page sends)
over WS /api/v1/tryon/stream. Each client keeps two frames unanswered, like the page: the server always has the
next frame waiting while it processes one, so a stream's fps is what the server can answer (no frame is dropped
at this pace). After a 1 s warm-up, replies are counted for `--stream-seconds`:
- one stream: answered fps (target >= 30), round trip per frame (send -> reply: the frame waits for the one
  before it, then decode + track + fit + smoothing) and the server's own stage medians;
- 1, 2, 3... concurrent streams until one falls under 15 fps: how many kiosks the machine's 2 cores hold at
  >= 15 fps each (the clients share those cores).
There is no server render in the stream: the kiosk page draws the product with three.js (WebGL) from the
transforms, so tracking+fit+render per frame is the server's tracking+fit plus the client's frame; the server
render is the photo try-on's (above)."""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from immersive.tryon import fit, models  # noqa: E402
from immersive.tryon.smoothing import PoseFilter  # noqa: E402
from immersive.tryon.tracking import FaceTracker  # noqa: E402

WIDTH, HEIGHT = 640, 480
TARGET_OVERHEAD = 0.25
PHOTO_SIZE = 1024
TARGET_PHOTO_MS = 300.0
PHOTO_PRODUCTS = {"glasses": "GL-1001", "sunglasses": "SG-1002", "hat": "HT-2001", "earrings": "ER-3001", "necklace": "NK-3002", "lipstick": "LP-6001"}


def make_stream(count: int) -> list[np.ndarray]:
    """The portrait swaying, turning a little in the image plane and zooming, 30 fps."""
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    frames = []
    for i in range(count):
        t = i / 30
        size = int(380 + 40 * math.sin(t * 0.9))
        turned = photo.resize((size, size), Image.Resampling.BILINEAR).rotate(6 * math.sin(t * 1.3), Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (WIDTH, HEIGHT), (70, 80, 90))
        canvas.paste(turned, (int(WIDTH / 2 - size / 2 + 60 * math.sin(t * 0.7)), int(HEIGHT / 2 - size / 2 + 20 * math.sin(t * 1.1))))
        frames.append(np.asarray(canvas))
    return frames


def time_raw(frames: list[np.ndarray]) -> list[float]:
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(models.model_path(models.FACE_LANDMARKER))),
        running_mode=vision.RunningMode.VIDEO,
        num_faces=1,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )
    times = []
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        for i, frame in enumerate(frames):
            start = time.perf_counter()
            landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=frame), i * 33)
            times.append(time.perf_counter() - start)
    return times


def time_ours(frames: list[np.ndarray]) -> tuple[list[float], list[float], int]:
    """(per-frame total, per-frame fit + smoothing only, frames with a face)."""
    camera = fit.Camera.for_image(WIDTH, HEIGHT)
    smoother = PoseFilter()
    times, fit_times, found = [], [], 0
    with FaceTracker("video") as tracker:
        for i, frame in enumerate(frames):
            start = time.perf_counter()
            face = tracker.detect_one(frame, timestamp_ms=i * 33)
            tracked = time.perf_counter()
            if face is not None:
                result = fit.fit_face(face, camera)
                smoother(fit.glasses_transform(result), i / 30)
                found += 1
            end = time.perf_counter()
            times.append(end - start)
            fit_times.append(end - tracked)
    return times, fit_times, found


def _serve_samples(data_dir: Path, settings: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`immersive samples` (the demo catalogue, fast pipeline) then `immersive serve` on a free loopback port;
    `settings`: more IMMERSIVE_* variables."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IMMERSIVE_")},
        "IMMERSIVE_DATA_DIR": str(data_dir),
        "IMMERSIVE_PIPELINE_VALIDATE": "false",
        "IMMERSIVE_PIPELINE_USDZ": "false",
        "IMMERSIVE_PIPELINE_POSTER": "false",
        **(settings or {}),
    }
    immersive = [sys.executable, "-m", "immersive.cli"]
    subprocess.run([*immersive, "samples"], env=env, cwd=ROOT, check=True, capture_output=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [*immersive, "serve", "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    server.terminate()
    raise RuntimeError("the service did not start")


def time_photo_tryon(requests: int) -> dict:
    """Median round trip and server stage times of POST /api/v1/tryon/photo per face try-on sample."""
    import io

    import httpx
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((PHOTO_SIZE, PHOTO_SIZE), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=90)
    photo = buffer.getvalue()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        server, base = _serve_samples(Path(tmp))
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                for category, sku in PHOTO_PRODUCTS.items():
                    totals, stages = [], {}
                    for i in range(requests + 2):
                        start = time.perf_counter()
                        response = client.post(
                            "/api/v1/tryon/photo", data={"merchant": "demo", "sku": sku}, files={"image": ("photo.jpg", photo, "image/jpeg")}
                        )
                        elapsed = time.perf_counter() - start
                        response.raise_for_status()
                        if i < 2:
                            continue  # warm-up: the model's first load, the renderer's first frame
                        totals.append(elapsed * 1000)
                        for part in response.headers["server-timing"].split(", "):
                            name, duration = part.split(";dur=")
                            stages.setdefault(name, []).append(float(duration))
                    results[category] = {
                        "median_ms": statistics.median(totals),
                        "p90_ms": float(np.percentile(totals, 90)),
                        "server_stages_median_ms": {name: statistics.median(values) for name, values in stages.items()},
                    }
        finally:
            server.terminate()
            server.wait(30)
    worst = max(r["median_ms"] for r in results.values())
    return {
        "size": [PHOTO_SIZE, PHOTO_SIZE],
        "requests": requests,
        "products": results,
        "target_ms": TARGET_PHOTO_MS,
        "meets_target": worst <= TARGET_PHOTO_MS,
    }


def print_photo(photo: dict) -> None:
    stages = list(next(iter(photo["products"].values()))["server_stages_median_ms"])
    print(f"\nphoto try-on {photo['size'][0]}x{photo['size'][1]}, median of {photo['requests']} requests (ms)")
    print(f"{'':12}{'round trip':>11}{'p90':>8}" + "".join(f"{name:>9}" for name in stages))
    for category, r in photo["products"].items():
        print(f"{category:12}{r['median_ms']:>11.1f}{r['p90_ms']:>8.1f}" + "".join(f"{r['server_stages_median_ms'][n]:>9.1f}" for n in stages))
    print(f"target <= {photo['target_ms']:.0f} ms per photo: {'met' if photo['meets_target'] else 'NOT met'}")


STREAM_SKU = "GL-1001"
TARGET_STREAM_FPS = 30.0
TARGET_KIOSK_FPS = 15.0
STREAM_IN_FLIGHT = 2  # frames a client keeps unanswered (the kiosk page's KioskStreamClient)
STREAM_WARMUP_S = 1.0


async def _kiosk_client(url: str, frames: list[bytes], seconds: float) -> dict:
    """One kiosk: frames sent as fast as answered (two unanswered); replies counted after the warm-up."""
    import websockets

    async with websockets.connect(url, max_size=None) as ws:
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready
        sent_at: dict[int, float] = {}

        async def send() -> None:
            await ws.send(frames[len(sent_at) % len(frames)])
            sent_at[len(sent_at) + 1] = time.perf_counter()

        for _ in range(STREAM_IN_FLIGHT):
            await send()
        start = time.perf_counter()
        replies = []
        while (now := time.perf_counter()) - start < STREAM_WARMUP_S + seconds:
            reply = json.loads(await ws.recv())
            now = time.perf_counter()
            if now - start >= STREAM_WARMUP_S:
                replies.append((now, now - sent_at[reply["seq"]], reply))
            while len(sent_at) - reply["seq"] < STREAM_IN_FLIGHT:
                await send()
    span = replies[-1][0] - replies[0][0]
    last = replies[-1][2]
    return {
        "fps": (len(replies) - 1) / span,
        "round_trip_median_ms": statistics.median(r[1] for r in replies) * 1000,
        "round_trip_p90_ms": float(np.percentile([r[1] for r in replies], 90) * 1000),
        "server_median_ms": {
            name: statistics.median(r[2]["timing"][name] for r in replies) for name in ("decode_ms", "track_ms", "fit_ms", "wait_ms", "server_ms")
        },
        "faces": sum(r[2]["face"] for r in replies) / len(replies),
        "counters": last["counters"],
    }


def time_streams(seconds: float, max_streams: int) -> dict:
    """One stream's fps and round trip, then 1..max_streams concurrent streams until one is under 15 fps."""
    import asyncio
    import io

    jpegs = []
    for frame in make_stream(60):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, "JPEG", quality=80)
        jpegs.append(buffer.getvalue())

    async def run(url: str, count: int) -> list[dict]:
        await asyncio.sleep(2.0)  # the server frees the last run's streams (landmarkers) after their last frame
        return await asyncio.gather(*(_kiosk_client(url, jpegs, seconds) for _ in range(count)))

    with tempfile.TemporaryDirectory() as tmp:
        server, base = _serve_samples(Path(tmp), {"IMMERSIVE_TRYON_STREAM_MAX_CONNECTIONS": str(max_streams)})
        url = f"ws{base.removeprefix('http')}/api/v1/tryon/stream?merchant=demo&sku={STREAM_SKU}"
        try:
            single = asyncio.run(run(url, 1))[0]
            concurrent = []
            for count in range(1, max_streams + 1):
                streams = asyncio.run(run(url, count))
                concurrent.append({"streams": count, "fps_each": [s["fps"] for s in streams], "min_fps": min(s["fps"] for s in streams)})
                if concurrent[-1]["min_fps"] < TARGET_KIOSK_FPS:
                    break
        finally:
            server.terminate()
            server.wait(30)
    held = [c["streams"] for c in concurrent if c["min_fps"] >= TARGET_KIOSK_FPS]
    return {
        "size": [WIDTH, HEIGHT],
        "seconds": seconds,
        "one_stream": single,
        "target_fps": TARGET_STREAM_FPS,
        "meets_target": single["fps"] >= TARGET_STREAM_FPS,
        "concurrent": concurrent,
        "kiosks_at_15_fps": max(held, default=0),
        "render": "client: the kiosk page draws the product with three.js from the transforms (no server render in the stream)",
    }


def print_streams(streams: dict) -> None:
    one = streams["one_stream"]
    server = one["server_median_ms"]
    print(f"\nkiosk stream {streams['size'][0]}x{streams['size'][1]} JPEG over WebSocket on loopback, {streams['seconds']:g} s per run")
    print(f"one stream: {one['fps']:.1f} fps answered (target >= {streams['target_fps']:.0f}: {'met' if streams['meets_target'] else 'NOT met'}), "
          f"round trip median {one['round_trip_median_ms']:.1f} ms (p90 {one['round_trip_p90_ms']:.1f}); server per frame: "
          + ", ".join(f"{name[:-3]} {value:.1f}" for name, value in server.items()) + " ms")
    for run in streams["concurrent"]:
        print(f"{run['streams']} concurrent: " + ", ".join(f"{fps:.1f}" for fps in run["fps_each"]) + " fps")
    print(f"kiosks held at >= {TARGET_KIOSK_FPS:.0f} fps each: {streams['kiosks_at_15_fps']}; render: {streams['render']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photo-requests", type=int, default=15, help="timed photo try-ons per product (0: skip)")
    parser.add_argument("--stream-seconds", type=float, default=8.0, help="timed seconds per kiosk stream run (0: skip)")
    parser.add_argument("--max-streams", type=int, default=6, help="most concurrent kiosk streams tried")
    args = parser.parse_args()
    frames = make_stream(args.frames)
    rounds = []
    for _ in range(args.rounds):
        raw = time_raw(frames)
        ours, fit_only, found = time_ours(frames)
        rounds.append({
            "raw_median_ms": statistics.median(raw) * 1000,
            "ours_median_ms": statistics.median(ours) * 1000,
            "fit_smoothing_median_ms": statistics.median(fit_only) * 1000,
            "raw_p90_ms": float(np.percentile(raw, 90) * 1000),
            "ours_p90_ms": float(np.percentile(ours, 90) * 1000),
            "frames_with_face": found,
        })
    best_raw = min(rounds, key=lambda r: r["raw_median_ms"])
    best_ours = min(rounds, key=lambda r: r["ours_median_ms"])
    best = {
        "raw_median_ms": best_raw["raw_median_ms"],
        "raw_p90_ms": best_raw["raw_p90_ms"],
        "ours_median_ms": best_ours["ours_median_ms"],
        "ours_p90_ms": best_ours["ours_p90_ms"],
        "fit_smoothing_median_ms": min(r["fit_smoothing_median_ms"] for r in rounds),
        "frames_with_face": best_ours["frames_with_face"],
    }
    overhead = best["ours_median_ms"] / best["raw_median_ms"] - 1
    result = {
        "frames": args.frames,
        "size": [WIDTH, HEIGHT],
        "rounds": rounds,
        "best": best,
        "overhead": overhead,
        "target_overhead": TARGET_OVERHEAD,
        "meets_target": overhead <= TARGET_OVERHEAD,
    }
    if args.photo_requests:
        result["photo"] = time_photo_tryon(args.photo_requests)
    if args.stream_seconds:
        result["stream"] = time_streams(args.stream_seconds, args.max_streams)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "tryon.json").write_text(json.dumps(result, indent=1))
    print(f"{'':24}{'median ms':>10}{'p90 ms':>10}")
    print(f"{'raw MediaPipe':24}{best['raw_median_ms']:>10.2f}{best['raw_p90_ms']:>10.2f}")
    print(f"{'tracking + fit + smooth':24}{best['ours_median_ms']:>10.2f}{best['ours_p90_ms']:>10.2f}")
    print(f"{'  of which fit + smooth':24}{best['fit_smoothing_median_ms']:>10.2f}")
    print(f"faces found: {best['frames_with_face']}/{args.frames}; overhead {overhead:+.1%} (target <= {TARGET_OVERHEAD:.0%}): "
          f"{'met' if result['meets_target'] else 'NOT met'}")
    if "photo" in result:
        print_photo(result["photo"])
    if "stream" in result:
        print_streams(result["stream"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
