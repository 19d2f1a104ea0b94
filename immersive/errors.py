"""Domain errors: raised by the catalog, storage and ingest functions, which know nothing of HTTP. The API
maps each to a status code and the JSON body {"error": code, "detail": message}, the same shape as the
pipeline's own typed errors (asset_pipeline.errors.PipelineError)."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """Missing, or belonging to another merchant (the two look the same from outside)."""

    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class InvalidRequest(DomainError):
    code = "invalid_request"
    status = 422


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415


class TooLarge(DomainError):
    code = "limit_exceeded"  # the pipeline's code for the same problem
    status = 413


class RangeNotSatisfiable(DomainError):
    code = "range_not_satisfiable"
    status = 416

    def __init__(self, message: str, size: int):
        super().__init__(message)
        self.size = size
