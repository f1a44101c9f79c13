"""What a body names (pure): a call, by name, with a hint when there is none; a batch
(``POST /api/v1/batch``), checked before any of it is done; a batch's answer, encoded."""

from __future__ import annotations

import difflib
from typing import Any

from .calls import CALLS, MAX_BATCH, MAX_BATCH_QUERIES, Call, reply, to_json
from .errors import ApiError

ITEM_KEYS = frozenset({"call", "args"})  # what a batch item holds
SENT: dict[str, Any] = reply(CALLS["send_to_all"], None)  # every send's answer (read only)
SENT_JSON = to_json(SENT)  # ... as a batch's answer carries it, encoded once


def call_named(name: str) -> Call:
    """The call of this name; ApiError ``unknown_call`` (with the closest name) if none."""
    call = CALLS.get(name)
    if call is None:
        close = difflib.get_close_matches(name[:60], CALLS, n=1)  # bounded: any name comes
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ApiError(
            "unknown_call", f"no call {name[:60]!r} (GET /api/v1/openapi.json lists them){hint}"
        )
    return call


def checked(items: Any) -> list[Any]:
    """A batch's items, if it is one that a batch may be (ApiError otherwise): a list,
    of at most MAX_BATCH calls, at most MAX_BATCH_QUERIES of them queries."""
    if type(items) is not list:
        raise ApiError("bad_json", 'a batch is a JSON array of {"call": NAME, "args": {...}}')
    if len(items) > MAX_BATCH:
        raise ApiError("batch_too_large", f"{len(items)} calls: a batch takes at most {MAX_BATCH}")
    if len(items) <= MAX_BATCH_QUERIES:
        return items  # (no need to count)
    queries = 0
    for item in items:
        name = item.get("call") if type(item) is dict else None
        call = CALLS.get(name) if type(name) is str else None
        queries += call is not None and call.query
    if queries > MAX_BATCH_QUERIES:
        raise ApiError(
            "batch_too_large",
            f"{queries} queries: a batch takes at most "
            f"{MAX_BATCH_QUERIES} (each waits for its answers)",
        )
    return items


def item_call(item: Any) -> tuple[Call, Any]:
    """A batch item's call and its arguments; ApiError if it is not an item."""
    if (
        type(item) is not dict
        or type(item.get("call")) is not str
        or not (item.keys() <= ITEM_KEYS)
    ):
        raise ApiError(
            "invalid_argument",
            'a batch item is {"call": NAME, "args": {...}} (args may be left out)',
        )
    return call_named(item["call"]), item.get("args", {})


def answer(replies: list[dict[str, Any]]) -> bytes:
    """A batch's answer as JSON: every send's (the same) encoded once."""
    return b"[" + b",".join(SENT_JSON if r is SENT else to_json(r) for r in replies) + b"]"
