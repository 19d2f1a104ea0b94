"""Asset files from local storage: GET/HEAD /files/{key} for keys under assets/ (sources are never
served). Keys are content-addressed, so the ETag is the sha256 in the key and responses are cacheable
for a year as immutable. Single byte ranges give 206 (or 416 past the end); If-None-Match gives 304.
With S3 storage the route redirects to the object's presigned or CDN URL instead of proxying bytes."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from ..errors import NotFound, RangeNotSatisfiable
from ..storage import PUBLIC_PREFIX, content_type_for
from .deps import RuntimeDep

router = APIRouter(tags=["delivery"])

IMMUTABLE = "public, max-age=31536000, immutable"
ASSET_KEY = re.compile(r"^assets/[0-9a-f]{2}/([0-9a-f]{64})/[A-Za-z0-9._-]+$")
SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single byte range asked for, clipped to the file; None = whole file (no header, or several
    ranges, which a server may answer in full). Raises RangeNotSatisfiable."""
    if not header:
        return None
    match = SINGLE_RANGE.match(header.strip())
    if not match or (not match[1] and not match[2]):
        if header.strip().startswith("bytes=") and "," in header:
            return None
        raise RangeNotSatisfiable(f"malformed Range {header!r}", size)
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
        if start >= size or end < start:
            raise RangeNotSatisfiable(f"range {header!r} is outside the {size:,}-byte file", size)
        return start, end
    suffix = int(match[2])
    if suffix == 0:
        raise RangeNotSatisfiable("an empty suffix range", size)
    return max(size - suffix, 0), size - 1


@router.head("/files/{key:path}", operation_id="head_file", include_in_schema=False)
@router.get("/files/{key:path}", operation_id="download_file", summary="Download an asset file")
def download(key: str, request: Request, runtime: RuntimeDep):
    match = ASSET_KEY.match(key)
    if not key.startswith(PUBLIC_PREFIX) or not match:
        raise NotFound(f"no file {key}")
    if runtime.settings.storage != "local":
        url = runtime.storage.url(key)
        return RedirectResponse(url, status_code=307)
    etag = f'"{match[1]}"'
    size = runtime.storage.size(key)
    headers = {
        "ETag": etag,
        "Cache-Control": IMMUTABLE,
        "Accept-Ranges": "bytes",
        "Content-Type": content_type_for(key),
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
    span = _range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if span is not None and if_range is not None and if_range.strip() != etag:
        span = None  # the client's copy is another version: send the whole file
    if span is None:
        status, start, end = 200, 0, size - 1
    else:
        status, (start, end) = 206, span
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    if request.method == "HEAD" or size == 0:
        return Response(status_code=status, headers=headers)
    return StreamingResponse(runtime.storage.open_range(key, start, end), status_code=status, headers=headers)
