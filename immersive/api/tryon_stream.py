"""Live try-on: the kiosk stream WebSocket and the try-on page.

- `WS /api/v1/tryon/stream?merchant=&sku=[&variant=]`: camera frames (binary JPEG) in, transforms and
  measurements out; the protocol, the frame dropping and the close codes are immersive/tryon/stream.py's. Public
  like the product API (a kiosk or a phone has no key); at most `tryon_stream_max_connections` streams at once
  per service process (each holds a landmarker and a core's worth of work), more are closed with 1013.
- `GET /tryon/{merchant}/{sku}[?mode=device|kiosk]`: the try-on page (web_viewer/pages/tryon.html with the
  product's public JSON inlined). mode=device (the default) tracks the face in the browser, so no frame leaves
  the phone; mode=kiosk sends frames to the stream above.
- `GET /api/v1/tryon/occluders/head.glb`: the head-and-neck occluder (immersive/tryon/data/head_occluder.glb, the
  canonical face's frame, metres) the page draws into the depth buffer, as the photo renderer does.

The page also reads GET /api/v1/tryon/parameters (fit constants and model files, immersive/api/tryon.py)."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import cache

import anyio
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import HTMLResponse, Response
from starlette.websockets import WebSocketDisconnect

from ..errors import DomainError
from ..tryon.render import head_occluder_bytes
from ..tryon.stream import (
    FrameProcessor,
    KioskStream,
    StreamClosed,
    StreamLimits,
    StreamProduct,
)
from .deps import BaseUrlDep, RuntimeDep
from .files import etag_matches
from .public import published_product
from .viewer import VENDOR_CACHE, published_product_page

router = APIRouter(tags=["tryon"])
log = logging.getLogger(__name__)


class _StreamCount:
    """Streams open in this process (the event loop is single-threaded: a plain counter is enough)."""

    def __init__(self):
        self.open = 0


def _stream_count(websocket: WebSocket) -> _StreamCount:
    state = websocket.app.state
    if not hasattr(state, "tryon_streams"):
        state.tryon_streams = _StreamCount()
    return state.tryon_streams


async def _product(websocket: WebSocket, merchant: str, sku: str, variant: str | None) -> StreamProduct:
    runtime = websocket.app.state.runtime
    base = (runtime.settings.public_base_url or str(websocket.base_url).replace("ws", "http", 1)).rstrip("/")
    status, body = await published_product(websocket, runtime, base, merchant, sku)  # type: ignore[arg-type]
    if status != 200:
        raise StreamClosed(4404, json.loads(body)["detail"])
    return StreamProduct.from_public(json.loads(body), variant)


@router.websocket("/api/v1/tryon/stream")
async def tryon_stream(websocket: WebSocket):
    await websocket.accept()  # before any check: a close code and reason only reach the client after the handshake
    settings = websocket.app.state.runtime.settings
    count = _stream_count(websocket)
    if count.open >= settings.tryon_stream_max_connections:
        await websocket.close(1013, f"{count.open} try-on streams are open, the most this server takes; try again later")
        return
    count.open += 1
    processor = None
    try:
        params = websocket.query_params
        merchant, sku = params.get("merchant"), params.get("sku")
        if not merchant or not sku:
            raise StreamClosed(1008, "the stream URL needs ?merchant=...&sku=...")
        product = await _product(websocket, merchant, sku, params.get("variant"))
        try:
            with anyio.CancelScope(shield=True):  # a landmarker made here is always closed below
                processor = await anyio.to_thread.run_sync(FrameProcessor, product)
        except DomainError as exc:  # ModelMissing: the landmarker is not installed
            raise StreamClosed(1011, exc.message) from None
        limits = StreamLimits(
            max_frame_bytes=settings.tryon_stream_max_frame_bytes,
            max_frame_pixels=settings.tryon_stream_max_frame_pixels,
            idle_seconds=settings.tryon_stream_idle_seconds,
        )

        async def resolve(new_sku: str, variant: str | None) -> StreamProduct:
            return await _product(websocket, merchant, new_sku, variant)

        await KioskStream(processor, limits, resolve).run(websocket.receive, websocket.send_text)
    except StreamClosed as closed:
        await websocket.close(closed.code, closed.reason)
    except WebSocketDisconnect:
        pass
    except Exception:
        # No frame or landmark reaches the log: the stream's objects are not part of the message.
        log.exception("try-on stream failed")
        await websocket.close(1011, "internal error")
    finally:
        count.open -= 1
        if processor is not None:
            # Shielded: a cancelled connection (server shutdown, a test client's exit) still closes its landmarker.
            # Left to the garbage collector, MediaPipe's own __del__ can block forever on its dispatcher.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(processor.close)


@router.head("/tryon/{merchant_slug}/{sku}", include_in_schema=False)
@router.get("/tryon/{merchant_slug}/{sku}", response_class=HTMLResponse, summary="Try-on page (on-device or kiosk stream)")
async def tryon_page(merchant_slug: str, sku: str, request: Request, runtime: RuntimeDep, base: BaseUrlDep):
    return await published_product_page(request, runtime, base, merchant_slug, sku, "tryon.html")


@cache
def _head_occluder() -> tuple[bytes, str]:
    data = head_occluder_bytes()
    return data, f'"{hashlib.sha256(data).hexdigest()}"'


@router.head("/api/v1/tryon/occluders/head.glb", include_in_schema=False)
@router.get("/api/v1/tryon/occluders/head.glb", summary="The head-and-neck occluder (GLB, canonical face frame, metres)")
async def head_occluder(request: Request):
    data, etag = _head_occluder()
    headers = {"ETag": etag, "Cache-Control": VENDOR_CACHE}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="model/gltf-binary", headers=headers)
