"""An --auth-hook for the tests: decides on the request's query string.

``?user=NAME`` -> claims ``{"uid": NAME, "via": "hook"}``; ``?deny=STATUS`` -> that
status; ``?bug=1`` -> an exception (a bug: 500); nothing -> anonymous (None). The
claims the token gave, if any, come in ``data["auth"]`` and are kept.
"""

from __future__ import annotations

from typing import Any


def decide(data: dict[str, Any]) -> dict[str, Any] | int | None:
    query = data["query"]
    if "bug" in query:
        raise RuntimeError("a bug in the hook")
    if "deny" in query:
        return int(query["deny"])
    if "user" in query:
        return {**(data["auth"] or {}), "uid": query["user"], "via": "hook"}
    return data["auth"]
