"""Who a connection is, and what it may claim: the worker's identity rules (pure, no I/O).

A WebSocket connection is either *authenticated* (the gateway verified a token the
web backend issued; its claims say who the user is) or *anonymous* (no token: a
client of design document 001's raw protocol). The document lets a client say who
it is in every frame (``from_user_id``, ``from_username``, ``from_avatar``); these
rules decide how much of that is believed:

- an authenticated connection is the user of its token: a frame claiming another
  ``from_user_id`` is refused (``{code: 403}``); its name and avatar are replaced by
  the attested ones, so that what others see is what the server knows;
- an anonymous connection keeps the document's behaviour, but in a namespace of its
  own: ``join`` mode 1 binds ``guest:<from_user_id>`` and a private ``speak`` goes to
  ``guest:<to_user_id>``. Registered users' uids are their database ids as strings
  (bound by the gateway from the token), so an anonymous client can never bind one
  and never receive a registered user's private messages.

Groups have two namespaces in the same way. A registered room's group is ``room:<id>``
(:func:`examples.chat.groups.room_group`): the worker joins a connection to the rooms
of its token at connect, and the web backend moves connections on join/leave and
pushes the room's messages there; no client frame can name it. The document's raw
groups (``join`` mode 2, anonymous or authenticated: digits only) are others, so a raw
``join`` with a room's number hears nothing of the room. Every authenticated
connection is also in the group ``users`` (:data:`examples.chat.groups.USERS`), where
the backend tells of rooms created and renamed, and in ``watch:<uid>`` for each of its
contacts (the token's ``contacts``: the people of its private conversations), where
their presence is told; anonymous clients never are.

Token claims (issued by :mod:`examples.chat.web.tokens`)::

    {"uid": "7", "nickname": "阿克苏", "avatar": "/static/avatars/3.svg",
     "rooms": [100, 101], "contacts": [8, 12], "iat": 1702100000, "exp": 1702100300}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..groups import guest_uid
from .requests import Request, reply

FORBIDDEN_IDENTITY = "不能冒充其他用户：from_user_id必须是当前登录用户的id"


@dataclass(frozen=True, slots=True)
class Identity:
    """A user the server vouches for (from verified token claims)."""

    uid: str  # the database id as a string: the uid the gateway bound
    nickname: str
    avatar: str
    rooms: tuple[int, ...]  # the rooms the user had joined when the token was issued
    contacts: tuple[int, ...] = ()  # the people of the user's private conversations, then


class Forbidden(Exception):
    """A frame claiming someone else; ``reply`` is the document-format refusal."""

    def __init__(self, request: Request) -> None:
        super().__init__(FORBIDDEN_IDENTITY)
        self.reply = reply(403, FORBIDDEN_IDENTITY, request.original)


def from_claims(claims: Any) -> Identity | None:
    """The identity in a verified token's claims; None for an anonymous connection.

    Claims without a usable ``uid`` (not a string of digits) are treated as
    anonymous: this app only issues tokens whose uid is a database id.
    """
    if not isinstance(claims, dict):
        return None
    uid = claims.get("uid")
    if not isinstance(uid, str) or not uid.isascii() or not uid.isdigit():
        return None
    nickname = claims.get("nickname")
    avatar = claims.get("avatar")
    return Identity(
        uid=uid,
        nickname=nickname if isinstance(nickname, str) and nickname else f"用户{uid}",
        avatar=avatar if isinstance(avatar, str) else "",
        rooms=_ids(claims.get("rooms")),
        contacts=tuple(c for c in _ids(claims.get("contacts")) if str(c) != uid),
    )


def _ids(value: Any) -> tuple[int, ...]:
    """A claim's list of database ids (what is not one is left out)."""
    return tuple(i for i in (value if isinstance(value, list) else []) if type(i) is int and i > 0)


def attest(request: Request, who: Identity | None) -> Request:
    """The request as the server vouches for it, or :class:`Forbidden`.

    Anonymous: unchanged (the document's replies echo the frame as sent).
    Authenticated: ``from_user_id`` must be the user's own; ``from_username`` and
    ``from_avatar`` become the attested ones, in the echoed frame too.
    """
    if who is None:
        return request
    if request.from_user_id != who.uid:
        raise Forbidden(request)
    original = {**request.original, "from_username": who.nickname, "from_avatar": who.avatar}
    return replace(request, original=original, from_username=who.nickname, from_avatar=who.avatar)


def bind_target(request: Request, who: Identity | None) -> str:
    """The uid a ``join`` mode 1 binds: the user's own, or the guest namespace's."""
    return who.uid if who is not None else guest_uid(request.from_user_id)


def private_target(to_user_id: str, who: Identity | None) -> str:
    """The uid a private ``speak`` goes to.

    An anonymous sender only reaches guests. An authenticated sender names the
    recipient as the page does (a database id, or a ``guest:`` uid).
    """
    return to_user_id if who is not None else guest_uid(to_user_id)
