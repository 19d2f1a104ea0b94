"""Photo try-on, saved looks, consents, and what on-device try-on reads from the service. All public (no key):
shoppers call them from the try-on page; the session is the page's pseudonymous random id.

- `POST /api/v1/tryon/photo` (multipart/form-data): `image` (JPEG, PNG or WebP file), `merchant`, `sku`, and
  optionally `variant`, `face` (0 = the largest face, 1 the next...), `hand` (same, for rings and watches),
  `finger` (index|middle|ring|pinky, default ring), `format` (jpeg|png). Answers JSON (TryOnOut: the
  composited image base64-encoded in `image.data`, the face measurements, which face or hand was used), or,
  when the Accept header prefers image/jpeg or image/png to JSON, the image itself with the rest of the JSON in
  the `X-Tryon-Result` header. Stage times are in `Server-Timing`.
- `POST /api/v1/tryon/looks`: the same form plus `session`; needs an active "save_look" consent of that session
  (403 `consent_required` otherwise). Runs the try-on and stores ONLY the composited image, for
  `saved_look_retention_hours`: 201 with `look` {id, url, expires_at} and the try-on answer.
- `GET /api/v1/tryon/looks/{id}`: the saved image (an unguessable id: whoever has it may see it, until it
  expires); `DELETE` with header `X-Session: <session>` deletes it (204).
- `POST /api/v1/consents` {session, purposes: ["save_look"], notice_version} -> 201; `POST
  /api/v1/consents/{id}/withdraw` {session} withdraws it and deletes the session's saved looks.
- `GET /api/v1/tryon/parameters`: fit.py's constants, the try-on spec and the model files (URL, SHA-256,
  size) for on-device tracking; `GET /api/v1/tryon/models/{name}`: a MediaPipe model file.

Privacy: the photo, landmarks and measurements exist only in the request's memory. The form is read into memory
(never spooled to disk), nothing of it is logged, and the database and storage see only what /looks keeps."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from asset_pipeline.tryon import spec_document

from ..catalog import looks as look_queries
from ..catalog.assets import current_versions
from ..catalog.merchants import get_merchant_by_slug
from ..catalog.models import utcnow
from ..catalog.products import get_product_by_sku
from ..errors import Forbidden, InvalidRequest, NotFound, TooLarge, UnsupportedMediaType
from ..runtime import Runtime
from ..tryon import fit, models
from ..tryon.photo import MAX_FACES, MAX_HANDS, Photo, PhotoLimits, TryOnProduct, decode_photo, try_on
from ..tryon.render import ModelRef, encode_image
from . import schemas
from .deps import BaseUrlDep, RuntimeDep, SessionDep

router = APIRouter(tags=["try-on"])

FORM_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers and the small fields around the image
MAX_FIELD_CHARS = 200
IMAGE_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}
SESSION_PATTERN = schemas.EVENT_SESSION_PATTERN
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorOut, "description": text}
    for code, text in {
        404: "unknown merchant or SKU, or an unpublished product",
        413: "the photo is over the byte or pixel limit",
        415: "not a JPEG, PNG or WebP image",
        422: "no face / no hand found (no_face, no_hand), a product without try-on (tryon_unavailable), a corrupt image, a bad field",
        503: "the tracking models are not installed",
    }.items()
}
_FORM_FIELDS = {
    "image": {"type": "string", "format": "binary", "description": "the photo: JPEG, PNG or WebP"},
    "merchant": {"type": "string"},
    "sku": {"type": "string"},
    "variant": {"type": "string", "description": "a KHR_materials_variants name of the product's model"},
    "face": {"type": "integer", "minimum": 0, "maximum": MAX_FACES - 1, "description": "0 = the largest face (default)"},
    "hand": {"type": "integer", "minimum": 0, "maximum": MAX_HANDS - 1, "description": "rings, watches: 0 = the largest hand"},
    "finger": {"type": "string", "enum": ["index", "middle", "ring", "pinky"], "description": "rings: default ring"},
    "format": {"type": "string", "enum": ["jpeg", "png"], "description": "the composited image's format (default: by Accept, else jpeg)"},
}


def _form_body(*extra: str) -> dict:
    properties = dict(_FORM_FIELDS)
    if "session" in extra:
        properties["session"] = {"type": "string", "pattern": SESSION_PATTERN, "description": "the session that consented to save_look"}
    required = ["image", "merchant", "sku", *extra]
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": properties, "required": required}}}}}


# ---- bodies ---------------------------------------------------------------------------------

class ImageOut(BaseModel):
    content_type: Literal["image/jpeg", "image/png"]
    width: int
    height: int
    data: str | None = Field(default=None, description="the composited image, base64 (absent in X-Tryon-Result: the image is the body)")


class MeasureOut(BaseModel):
    mm: float
    sd_mm: float = Field(description="one standard deviation")


class FrameSizeOut(BaseModel):
    size: Literal["narrow", "medium", "wide"] = Field(description="the frame compared with the face: too narrow, fits, too wide")
    frame_width_mm: float
    difference_mm: float = Field(description="frame - face width")
    tolerance_mm: float


class MeasurementsOut(BaseModel):
    pd: MeasureOut = Field(description="pupillary distance as seen (eyes on the camera)")
    far_pd: MeasureOut = Field(description="pupillary distance looking into the distance (the optician's PD)")
    face_width: MeasureOut = Field(description="across the temples at eye level, where a frame's temples pass")
    distance_m: float = Field(description="camera to the eyes (from the photo's focal length: EXIF, else a 60 degree lens)")
    frame_size: FrameSizeOut | None = Field(description="glasses and sunglasses with a measured frame width")


class SubjectOut(BaseModel):
    kind: Literal["face", "hand"]
    count: int = Field(description="faces (or hands) found in the photo")
    index: int = Field(description="the one used: 0 = the largest")
    handedness: Literal["Left", "Right"] | None = None
    finger: str | None = None


class TryOnOut(BaseModel):
    merchant: str
    sku: str
    category: str
    variant: str | None
    image: ImageOut
    subject: SubjectOut
    measurements: MeasurementsOut | None = Field(description="faces only; measured, returned, never stored")


class LookOut(BaseModel):
    id: str
    url: str
    content_type: str
    bytes: int
    expires_at: datetime


class SavedLookOut(TryOnOut):
    look: LookOut


class ConsentIn(BaseModel):
    session: str = Field(pattern=SESSION_PATTERN, description="the page's pseudonymous random session id")
    purposes: list[str] = Field(min_length=1, max_length=10, description=f"some of {', '.join(look_queries.CONSENT_PURPOSES)}")
    notice_version: str = Field(min_length=1, max_length=40, description="the version of the privacy notice the shopper saw")


class ConsentOut(BaseModel):
    id: str
    session: str
    purposes: list[str]
    notice_version: str
    given_at: datetime
    withdrawn_at: datetime | None


class WithdrawIn(BaseModel):
    session: str = Field(pattern=SESSION_PATTERN)


class WithdrawnOut(ConsentOut):
    deleted_looks: int = Field(description="saved looks deleted with the withdrawal")


class ModelFileOut(BaseModel):
    url: str
    sha256: str
    bytes: int


class ParametersOut(BaseModel):
    fit: dict[str, Any] = Field(description="immersive/tryon/fit.py's constants (fit_parameters())")
    spec: dict[str, Any] = Field(description="the try-on asset spec (asset_pipeline/tryon.py)")
    models: dict[str, ModelFileOut] = Field(description="MediaPipe model bundles by name, served by this service")


class ConsentRequired(Forbidden):
    code = "consent_required"


# ---- the form -------------------------------------------------------------------------------

class _Form:
    """multipart/form-data read into memory (a photo is never spooled to a temporary file): fields and the
    one `image` file."""

    def __init__(self, boundary: bytes):
        self.fields: dict[str, str] = {}
        self.image: bytes | None = None
        self._headers: dict[str, str] = {}
        self._field, self._value = b"", b""
        self._name = ""
        self._is_file = False
        self._buffer = bytearray()
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda d, s, e: setattr(self, "_field", self._field + d[s:e]),
                "on_header_value": lambda d, s, e: setattr(self, "_value", self._value + d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": lambda d, s, e: self._buffer.extend(d[s:e]),
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers, self._name, self._is_file, self._buffer = {}, "", False, bytearray()

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = b"filename" in params
        if self._is_file and (self._name != "image" or self.image is not None):
            raise InvalidRequest("send exactly one file, the photo, in the form field 'image'")

    def _part_end(self) -> None:
        if self._is_file:
            self.image = bytes(self._buffer)
        else:
            value = self._buffer.decode("utf-8", "replace")
            if len(value) > MAX_FIELD_CHARS:
                raise InvalidRequest(f"form field {self._name!r} is over {MAX_FIELD_CHARS} characters")
            self.fields[self._name] = value
        self._buffer = bytearray()


async def _read_form(request: Request, max_image_bytes: int) -> _Form:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise UnsupportedMediaType("send the photo as multipart/form-data with the file in the field 'image'")
    limit = max_image_bytes + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the photo is at most {max_image_bytes:,} bytes; this request is {int(declared):,}")
    form = _Form(params[b"boundary"])
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the photo is at most {max_image_bytes:,} bytes")
            form.parser.write(chunk)
        form.parser.finalize()
    except MultipartParseError as exc:
        raise InvalidRequest(f"the multipart/form-data body is malformed: {exc}") from None
    if form.image is None:
        raise InvalidRequest("the form has no file 'image': attach the photo")
    return form


def _required(form: _Form, name: str) -> str:
    value = form.fields.get(name, "").strip()
    if not value:
        raise InvalidRequest(f"the form field {name!r} is required")
    return value


def _index(form: _Form, name: str, most: int) -> int:
    value = form.fields.get(name, "0").strip() or "0"
    if not value.isdigit() or int(value) >= most:
        raise InvalidRequest(f"{name}={value!r}: expected 0 (the largest) to {most - 1}")
    return int(value)


def _accepts_image(request: Request) -> str | None:
    """'jpeg' or 'png' when the Accept header names that image type before JSON (order, not q-values)."""
    for media in (part.split(";")[0].strip().lower() for part in request.headers.get("accept", "").split(",")):
        if media in ("application/json", "*/*", "application/*"):
            return None
        for fmt, content_type in IMAGE_TYPES.items():
            if media == content_type:
                return fmt
    return None


# ---- try-on ---------------------------------------------------------------------------------

def _resolve(runtime: Runtime, merchant_slug: str, sku: str, variant: str | None) -> tuple[str, TryOnProduct]:
    """(merchant id, the published product's try-on description)."""
    with runtime.sessions() as session:
        merchant = get_merchant_by_slug(session, merchant_slug)
        product = get_product_by_sku(session, merchant.id, sku)
        if product.status != "published":
            raise NotFound(f"no product with SKU {sku!r}")
        version = current_versions(session, [product]).get(product.id)
        summary = version.summary_json if version else {}
        key = next((f.key for f in version.files if f.name == "model.glb"), None) if version else None
        category = product.category
    if variant is not None and variant not in (summary.get("variants") or []):
        known = ", ".join(summary.get("variants") or []) or "none"
        raise InvalidRequest(f"{sku} has no variant {variant!r} (its variants: {known})")
    storage = runtime.storage
    model = ModelRef(key, lambda: storage.get(key), variant) if key else None
    return merchant.id, TryOnProduct.check(sku, category, summary.get("anchor"), model)


class _Done:
    """A try-on's answer, ready to send or keep."""

    def __init__(self, body: dict[str, Any], image: bytes, fmt: str, timings_ms: dict[str, float], merchant_id: str):
        self.body, self.image, self.fmt, self.timings_ms, self.merchant_id = body, image, fmt, timings_ms, merchant_id

    def server_timing(self) -> str:
        return ", ".join(f"{name};dur={value}" for name, value in self.timings_ms.items())


def _run(runtime: Runtime, form: _Form, fmt: str) -> _Done:
    merchant_slug, sku = _required(form, "merchant"), _required(form, "sku")
    variant = form.fields.get("variant", "").strip() or None
    face_index, hand_index = _index(form, "face", MAX_FACES), _index(form, "hand", MAX_HANDS)
    finger = form.fields.get("finger", "ring").strip() or "ring"
    merchant_id, product = _resolve(runtime, merchant_slug, sku, variant)
    settings = runtime.settings
    started = time.perf_counter()
    photo: Photo = decode_photo(
        form.image or b"", PhotoLimits(settings.tryon_photo_max_bytes, settings.tryon_photo_max_pixels, settings.tryon_photo_max_edge)
    )
    decoded = time.perf_counter()
    result = try_on(photo, product, face_index=face_index, hand_index=hand_index, finger=finger)
    encoding = time.perf_counter()
    image = encode_image(result.image, fmt)  # type: ignore[arg-type]
    timings = {"decode": round((decoded - started) * 1000, 2), **result.timings_ms, "encode": round((time.perf_counter() - encoding) * 1000, 2)}
    height, width = result.image.shape[:2]
    body = {
        "merchant": merchant_slug,
        "sku": sku,
        "category": product.category,
        "variant": variant,
        "image": {"content_type": IMAGE_TYPES[fmt], "width": width, "height": height},
        "subject": result.subject,
        "measurements": result.measurements,
    }
    return _Done(body, image, fmt, timings, merchant_id)


def _format(request: Request, form: _Form) -> str:
    fmt = form.fields.get("format", "").strip().lower() or _accepts_image(request) or "jpeg"
    if fmt not in IMAGE_TYPES:
        raise InvalidRequest(f"format={fmt!r}: expected jpeg or png")
    return fmt


def _answer(request: Request, done: _Done, extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    model = SavedLookOut if extra else TryOnOut
    headers = {"Server-Timing": done.server_timing(), "Cache-Control": "no-store"}
    if _accepts_image(request):
        result = model.model_validate({**done.body, **(extra or {})}).model_dump(mode="json", exclude={"image": {"data"}})
        headers["X-Tryon-Result"] = json.dumps(result, separators=(",", ":"))
        return Response(done.image, status_code=status_code, media_type=IMAGE_TYPES[done.fmt], headers=headers)
    image = {**done.body["image"], "data": base64.b64encode(done.image).decode("ascii")}
    result = model.model_validate({**done.body, **(extra or {}), "image": image}).model_dump(mode="json")
    return JSONResponse(result, status_code=status_code, headers=headers)


@router.post(
    "/api/v1/tryon/photo",
    response_model=TryOnOut,
    responses={**ERRORS, 200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "TryOnOut, or the image itself by Accept"}},
    summary="Try a product on in a photo (no key)",
    openapi_extra=_form_body(),
)
async def photo_tryon(request: Request, runtime: RuntimeDep):
    """The photo with the product on the largest (or chosen) face or hand, rendered on the server, and the
    measurements. Nothing of the photo is stored."""
    form = await _read_form(request, runtime.settings.tryon_photo_max_bytes)
    done = await run_in_threadpool(_run, runtime, form, _format(request, form))
    return _answer(request, done)


# ---- saved looks ----------------------------------------------------------------------------

def _save(runtime: Runtime, form: _Form, fmt: str, base: str) -> tuple[_Done, dict[str, Any]]:
    session_id = _required(form, "session")
    if not re.fullmatch(SESSION_PATTERN, session_id):
        raise InvalidRequest("session: expected 8-64 of A-Z, a-z, 0-9, _ and -")
    with runtime.sessions() as session:
        if look_queries.active_consent(session, session_id, look_queries.SAVE_LOOK) is None:
            raise ConsentRequired(f"session {session_id} has not consented to save_look: POST /api/v1/consents first")
    done = _run(runtime, form, fmt)
    look_id = look_queries.new_look_id()
    key = look_queries.look_key(look_id)
    runtime.storage.put(key, done.image, IMAGE_TYPES[fmt])
    try:
        with runtime.sessions() as session:
            consent = look_queries.active_consent(session, session_id, look_queries.SAVE_LOOK)
            if consent is None:  # withdrawn while the try-on ran
                raise ConsentRequired(f"session {session_id} withdrew its consent to save_look")
            look = look_queries.add_look(
                session,
                look_id=look_id,
                session_id=session_id,
                consent=consent,
                merchant_id=done.merchant_id,
                sku=done.body["sku"],
                variant=done.body["variant"],
                content_type=IMAGE_TYPES[fmt],
                size=len(done.image),
                retention=timedelta(hours=runtime.settings.saved_look_retention_hours),
            )
            session.commit()
            out = LookOut(
                id=look.id, url=f"{base}/api/v1/tryon/looks/{look.id}", content_type=look.content_type, bytes=look.bytes, expires_at=look.expires_at
            )
    except BaseException:
        runtime.storage.delete(key)
        raise
    return done, {"look": out.model_dump(mode="json")}


@router.post(
    "/api/v1/tryon/looks",
    status_code=status.HTTP_201_CREATED,
    response_model=SavedLookOut,
    responses={**ERRORS, 403: {"model": schemas.ErrorOut, "description": "consent_required: no active save_look consent"}},
    summary="Try a product on in a photo and keep the composited image (with consent; no key)",
    openapi_extra=_form_body("session"),
)
async def save_look(request: Request, runtime: RuntimeDep, base: BaseUrlDep):
    """Stores only the composited image, only with the session's active save_look consent, until it expires
    (`saved_look_retention_hours`) or is deleted, or the consent is withdrawn."""
    form = await _read_form(request, runtime.settings.tryon_photo_max_bytes)
    done, extra = await run_in_threadpool(_save, runtime, form, _format(request, form), base)
    return _answer(request, done, extra, status.HTTP_201_CREATED)


@router.get(
    "/api/v1/tryon/looks/{look_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, 404: {"model": schemas.ErrorOut}},
    summary="A saved look's image (no key: the id is the secret)",
)
def read_look(look_id: str, runtime: RuntimeDep, session: SessionDep):
    look = look_queries.get_look(session, look_id)
    try:
        data = runtime.storage.get(look.storage_key)
    except NotFound:
        raise NotFound("no saved look with this id (it may have expired or been deleted)") from None
    seconds = max(int((look.expires_at - utcnow()).total_seconds()), 0)
    return Response(data, media_type=look.content_type, headers={"Cache-Control": f"private, max-age={seconds}"})


@router.delete(
    "/api/v1/tryon/looks/{look_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={404: {"model": schemas.ErrorOut, "description": "no such look in this session"}},
    summary="Delete a saved look (by the session that saved it)",
)
def delete_look(
    look_id: str,
    runtime: RuntimeDep,
    session: SessionDep,
    session_id: Annotated[str, Header(alias="X-Session", pattern=SESSION_PATTERN, description="the session that saved the look")],
):
    key = look_queries.delete_look(session, look_id, session_id)
    runtime.storage.delete(key)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- consents -------------------------------------------------------------------------------

def _consent_out(consent) -> dict[str, Any]:
    return ConsentOut(
        id=consent.id, session=consent.session, purposes=consent.purposes, notice_version=consent.notice_version,
        given_at=consent.given_at, withdrawn_at=consent.withdrawn_at,
    ).model_dump(mode="json")


@router.post(
    "/api/v1/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentOut,
    responses={422: {"model": schemas.ErrorOut}},
    summary="Record a session's consent (no key)",
)
def give_consent(body: ConsentIn, session: SessionDep):
    """A consent record for the pseudonymous session: the purposes agreed to (try-on: save_look) and the
    version of the privacy notice shown. Nothing identifies the person."""
    consent = look_queries.give_consent(session, body.session, body.purposes, body.notice_version)
    session.commit()
    return JSONResponse(_consent_out(consent), status_code=status.HTTP_201_CREATED)


@router.post(
    "/api/v1/consents/{consent_id}/withdraw",
    response_model=WithdrawnOut,
    responses={404: {"model": schemas.ErrorOut, "description": "no such consent in this session"}},
    summary="Withdraw a consent; withdrawing save_look deletes the session's saved looks",
)
def withdraw_consent(consent_id: str, body: WithdrawIn, runtime: RuntimeDep, session: SessionDep):
    consent, keys = look_queries.withdraw_consent(session, consent_id, body.session)
    for key in keys:  # the bytes first: a row without bytes answers 404, bytes without a row are lost
        runtime.storage.delete(key)
    session.commit()
    return {**_consent_out(consent), "deleted_looks": len(keys)}


# ---- on-device try-on -----------------------------------------------------------------------

@router.get("/api/v1/tryon/parameters", response_model=ParametersOut, summary="Fit constants, try-on spec and model files")
def parameters(base: BaseUrlDep):
    """What the browser's on-device try-on needs to place products exactly as the server does."""
    return ParametersOut(
        fit=fit.fit_parameters(),
        spec=spec_document(),
        models={
            bundle.name: ModelFileOut(url=f"{base}/api/v1/tryon/models/{bundle.name}", sha256=bundle.sha256, bytes=bundle.size)
            for bundle in models.BUNDLES
        },
    )


@router.get(
    "/api/v1/tryon/models/{name}",
    response_class=FileResponse,
    responses={404: {"model": schemas.ErrorOut}, 503: {"model": schemas.ErrorOut, "description": "not installed"}},
    summary="A MediaPipe model bundle (face_landmarker.task, hand_landmarker.task)",
)
def model_file(name: str, request: Request):
    bundle = next((b for b in models.BUNDLES if b.name == name), None)
    if bundle is None:
        raise NotFound(f"no model {name!r} (models: {', '.join(b.name for b in models.BUNDLES)})")
    etag = f'"{bundle.sha256}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return FileResponse(models.model_path(bundle), media_type="application/octet-stream", headers=headers)
