"""aiohttp's own error lines, on our terms (the chat's backend and ``gw api`` serve
with aiohttp; their connections: :mod:`common.httpconns`).

aiohttp logs ``Error handling request`` with a traceback for every request it cannot
parse (a bad chunk size, a header line too long, a control character in a header) and
for every handler that raises; a flood of either is a flood of tracebacks, and the
first kind's quote the broken line: a ``Cookie`` or ``Authorization`` header, secrets.
:class:`RequestErrors`, a filter on aiohttp's server logger, turns the first kind into
one line a second that names the status and the kind of fault, never the request's
bytes (aiohttp has answered 400 already), and lets the second through (the traceback
of a bug) at most once a second.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

from .logs import Throttled

SERVER_LOGGER = "aiohttp.server"


class RequestErrors(logging.Filter):
    """See the module's docstring."""

    def __init__(self, throttled: Throttled) -> None:
        super().__init__()
        self.throttled = throttled

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Error handling request"):
            return True  # aiohttp's other lines: as they are
        exc = record.exc_info[1] if record.exc_info else None
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        if isinstance(exc, HttpProcessingError):
            self.throttled.info(
                "malformed",
                "answered a malformed HTTP request from %s: %s (%s)",
                remote,
                exc.code,
                type(exc).__name__,
            )
            return False
        said = self.throttled.admit("bug")
        if said is None:
            return False
        record.msg = f"{record.msg}{said}"
        return True


def quiet_aiohttp(log: logging.Logger) -> None:
    """Install :class:`RequestErrors` on aiohttp's server logger (its lines written
    through ``log``'s throttle), once per process."""
    server = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, RequestErrors) for f in server.filters):
        server.addFilter(RequestErrors(Throttled(log)))
