"""When and how long the http(s) store and handler wait before asking again.

A request is retried only when asking again cannot do harm and may help:

- the method is idempotent (``GET``, ``HEAD``, ``OPTIONS``): a ``POST`` save is never
  repeated, since the peer may have stored the first one;
- the peer answered a status that says "later" (408, 429, 500, 502, 503, 504), or the
  connection broke (reset, aborted, closed before or during the answer, an answer
  shorter than its Content-Length). A refused connection counts only once the model
  has started to arrive (a proxy restarting between files); for the first request it
  means nothing listens there, and waiting would only delay the error. A socket timeout
  is not retried: the peer already had ``timeout`` seconds.

The wait is ``Retry-After`` when the peer sends it (seconds or an HTTP date, capped at
``MAX_RETRY_AFTER``), otherwise capped exponential backoff with jitter: attempt ``n``
(0-based) waits between half and all of ``min(BACKOFF_CAP, base * 2**n)``, so clients
that failed together do not come back together.
"""

from __future__ import annotations

import email.utils
import http.client
import random
import time
import urllib.error

__all__ = [
    "BACKOFF_CAP",
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_BACKOFF",
    "IDEMPOTENT_METHODS",
    "MAX_RETRY_AFTER",
    "RETRY_STATUSES",
    "backoff_seconds",
    "is_transient",
    "retry_after_seconds",
]

DEFAULT_RETRIES = 4
"""Retries after the first try (so 5 requests at most) for one file."""
DEFAULT_RETRY_BACKOFF = 0.25
"""Seconds the first retry waits at most (halved to doubled with each attempt, jittered)."""
BACKOFF_CAP = 8.0
"""The longest backoff between two tries, in seconds."""
MAX_RETRY_AFTER = 30.0
"""The longest a ``Retry-After`` is honoured, in seconds (a longer one waits this long)."""
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_BROKEN = (
    ConnectionResetError,  # also http.client.RemoteDisconnected
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.IncompleteRead,
    http.client.BadStatusLine,
)


def is_transient(exc: BaseException, *, refused: bool = False) -> bool:
    """Whether a transport failure may go away if the request is sent again.

    ``refused``: count a refused connection as transient (only once the peer has
    answered before; see the module's docstring).
    """
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, ConnectionRefusedError):
        return refused
    return isinstance(exc, _BROKEN)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, capped at ``MAX_RETRY_AFTER``; None
    when there is none or it cannot be read (the backoff applies then)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT by definition
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff_seconds(attempt: int, base: float = DEFAULT_RETRY_BACKOFF) -> float:
    """The wait after failed attempt ``attempt`` (0-based): jittered, capped."""
    ceiling = min(BACKOFF_CAP, base * 2.0**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter: not a secret
