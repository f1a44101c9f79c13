"""The chat protocol of the design documents (seed 001), shared by both servers.

A client sends JSON text frames::

    {"event": "join"|"speak", "mode": 1|2, "group_id": ..., "from_user_id": ...,
     "from_username": ..., "to_user_id": ..., "content": ...}

- join, mode 2: join ``group_id``; join, mode 1: bind ``from_user_id`` as the uid.
  Both answer the joining client with ``{"code": 0, "msg": "success", "data": <msg>}``
  and store the fields in the session, as the seed's ``onMessage`` does.
- speak, mode 1: ``send_to_uid(to_user_id, reply)``; mode 2: ``send_to_group``.
- speak, mode 3 is the bench's one extension: ``send_to_all(reply)`` (scenario S5);
  the other is ``enter`` (S8): join ``group_id`` and bind ``from_user_id`` at once.

Replies are built once per message, as a ``str``, so both servers write the same
bytes to every recipient. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

PRIVATE, GROUP, ALL = 1, 2, 3
SESSION_KEYS = ("mode", "event", "group_id", "from_user_id", "from_username")


def reply(code: int, msg: str, data: Any = None) -> str:
    """The seed's ``broadcast_json``."""
    return _dumps({"code": code, "msg": msg, "data": data})


def speak_reply(message: dict[str, Any]) -> str:
    """What a ``speak`` message becomes for its recipients."""
    name, content = message.get("from_username", ""), message.get("content", "")
    if message.get("mode") == PRIVATE:
        text = f"{name}[单聊对]{message.get('to_user_id')}[说]:{content}"
    else:
        text = f"{name}[群聊说]:{content}"
    return reply(0, text, message)


def parse(text: str | bytes) -> dict[str, Any] | None:
    """A client message, or None if it is not a JSON object with an event."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or "event" not in message:
        return None
    return message


def message(
    event: str,
    mode: int,
    *,
    group_id: Any = 0,
    from_user_id: str = "",
    to_user_id: str = "",
    content: str = "",
) -> str:
    """A client message (used by the load generator)."""
    return _dumps(
        {
            "event": event,
            "mode": mode,
            "group_id": group_id,
            "from_user_id": from_user_id,
            "from_username": f"user-{from_user_id}",
            "to_user_id": to_user_id,
            "content": content,
        }
    )
