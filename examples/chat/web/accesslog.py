"""Which requests the chat's web backend writes to its access log (``--access-log``).

A page load fetches some twenty files besides the page (scripts, styles, avatars),
and each message with a picture one more: logged one line each, they buried the
requests an operator looks for. So by default (``api``) the log has the page and the
API calls, not ``/static/...``, the uploaded files (``/uploads/...``) or the
browser's ``/favicon.ico``; ``all`` logs every request, ``off`` none (aiohttp's own
access logger either way, in its usual format).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from aiohttp import web
from aiohttp.web_log import AccessLogger

AccessLog = Literal["api", "all", "off"]
MODES: tuple[AccessLog, ...] = ("api", "all", "off")
ASSETS = ("/static/", "/uploads/", "/favicon.ico")  # what a page loads along with it


def logged(path: str, mode: AccessLog) -> bool:
    """Whether a request for ``path`` goes to the access log."""
    if mode == "all":
        return True
    return mode == "api" and not path.startswith(ASSETS)


class ApiAccessLogger(AccessLogger):
    """aiohttp's access logger, for the requests :func:`logged` keeps in ``api`` mode."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if logged(request.path, "api"):
            super().log(request, response, time)


def runner_options(mode: AccessLog, logger: logging.Logger) -> dict[str, Any]:
    """The access-log arguments of :class:`aiohttp.web.AppRunner` for ``mode``."""
    if mode == "off":
        return {"access_log": None}
    return {
        "access_log": logger,
        "access_log_class": ApiAccessLogger if mode == "api" else AccessLogger,
    }
