"""Typed errors with a human message. Every problem with the input raises one of these (never a bare
traceback); the CLI prints `code: message` and exits non-zero, the service maps them to HTTP 4xx.

`code` is a stable machine name (also the HTTP error code the service returns); the message names the
problem in words a merchandiser can act on."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: something about the input or the request means the pipeline cannot produce a bundle.
    Never retried: the same input fails the same way."""

    code = "pipeline_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class EmptyInputError(PipelineError):
    code = "empty_input"


class UnsupportedFormatError(PipelineError):
    code = "unsupported_format"


class CorruptFileError(PipelineError):
    """The bytes claim a format but break its rules (truncated GLB, bad JSON chunk, faces past the
    vertex list, broken image...)."""

    code = "corrupt_file"


class InvalidGeometryError(PipelineError):
    """Geometry that cannot be processed: NaN/inf coordinates, no triangles, all faces degenerate."""

    code = "invalid_geometry"


class LimitExceededError(PipelineError):
    """The input is over a configured limit (file size, zip ratio, pixels, triangles)."""

    code = "limit_exceeded"


class UnsafeArchiveError(PipelineError):
    """A zip that tries to escape its folder (path traversal, absolute paths, links)."""

    code = "unsafe_archive"


class MissingDependencyError(PipelineError):
    """An optional tool (node for the validator, an encoder) is not installed."""

    code = "missing_dependency"


class OptionError(PipelineError):
    """A bad option value: unknown profile, unit, axis, malformed dimensions."""

    code = "invalid_option"
