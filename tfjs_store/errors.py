"""The one error hierarchy of tfjs-store.

::

    TfjsStoreError                     base of everything this package raises on purpose
    ├── InvalidModelError (ValueError) a model.json, artifact or weight buffer is malformed
    │   ├── WeightDataError            weight bytes do not match the weight specs
    │   ├── UnsafePathError            a manifest path would leave the model's folder
    │   ├── IntegrityError             a recorded checksum does not match the bytes
    │   └── WireFormatError            an HTTP body is not the multipart or JSON body it claims
    ├── HandlerError                   no handler, or several, for a URL (TF.js's wording)
    ├── OptionError (TypeError)        a handler does not take an option it was given
    ├── ModelNotFoundError             nothing at the URL (also a FileNotFoundError)
    ├── ConflictError                  a conditional save found another version committed
    ├── StorageError (OSError)         the storage underneath failed
    │   └── HTTPStatusError            an HTTP peer answered with a non-2xx status
    │       └── HTTPNotFoundError      it answered 404 (also a ModelNotFoundError)
    └── MissingDependencyError         a scheme's package is not installed (also an ImportError)

Every message names the problem and, where it helps, the file and field concerned.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "HTTPNotFoundError",
    "HTTPStatusError",
    "HandlerError",
    "IntegrityError",
    "InvalidModelError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "OptionError",
    "StorageError",
    "TfjsStoreError",
    "UnsafePathError",
    "WeightDataError",
    "WireFormatError",
]


class TfjsStoreError(Exception):
    """Base class of every error tfjs-store raises on purpose."""


class InvalidModelError(TfjsStoreError, ValueError):
    """A model.json, a set of artifacts or the weight data is malformed."""


class WeightDataError(InvalidModelError):
    """The weight bytes do not match what the weight specs describe."""


class UnsafePathError(InvalidModelError):
    """A weights-manifest path points outside the model's folder."""


class IntegrityError(InvalidModelError):
    """A checksum recorded at save time does not match the stored bytes."""


class WireFormatError(InvalidModelError):
    """A model's HTTP body (TF.js's multipart upload, or the JSON body with base64
    weights) breaks its format (``format.wire``); ``too_large`` when it breaks a size
    limit the reader set."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class HandlerError(TfjsStoreError):
    """No IOHandler, or more than one, was found for a URL."""


class OptionError(TfjsStoreError, TypeError):
    """A handler was given options it does not take (``options``, for ``url``)."""

    def __init__(self, message: str, *, options: tuple[str, ...], url: str | None = None) -> None:
        super().__init__(message)
        self.options = options
        self.url = url


class ModelNotFoundError(TfjsStoreError, FileNotFoundError):
    """No model exists at the given URL."""


class ConflictError(TfjsStoreError):
    """A conditional save (``if_match`` / ``if_none_match``) was refused: the model's
    current version is not the one the save was made against (``current``: that
    version, None when there is no model). Nothing visible changed."""

    def __init__(self, message: str, *, current: str | None = None) -> None:
        super().__init__(message)
        self.current = current


class StorageError(TfjsStoreError, OSError):
    """The storage underneath a handler failed (I/O, network, permissions)."""


class HTTPStatusError(StorageError):
    """An HTTP peer answered with a status outside 2xx."""

    def __init__(self, message: str, *, status: int, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class HTTPNotFoundError(HTTPStatusError, ModelNotFoundError):
    """An HTTP peer answered 404: nothing at the URL (``status`` is 404).

    Catchable as ``ModelNotFoundError`` (and ``FileNotFoundError``), as a missing model
    is on every other storage, and as ``HTTPStatusError``, as any other status is.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message, status=404, url=url)


class MissingDependencyError(TfjsStoreError, ImportError):
    """A URL scheme is known but the package that implements it is not installed."""
