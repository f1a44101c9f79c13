"""The chat's records as the store returns them: frozen values, no behaviour but a view.

They live apart from the storage modules so that the pure modules that build frames
(:mod:`examples.chat.web.payloads`) need no database code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class User:
    id: int
    nickname: str
    avatar: str

    def public(self) -> dict[str, int | str]:
        """What the API shows of a user (never the password hash)."""
        return {"id": self.id, "nickname": self.nickname, "avatar": self.avatar}


@dataclass(frozen=True, slots=True)
class Room:
    id: int
    name: str
    created_by: int | None = None  # its owner, who may rename it (None: the default rooms)


@dataclass(frozen=True, slots=True)
class Reading:
    """How far a user has read a conversation, as of one moment: ``read`` is the id of the
    last message read, ``unread`` how many messages of others came after it (at most
    :data:`examples.chat.web.reads.MAX_COUNTED`), ``latest`` the conversation's latest
    message id then (0 if none): what came later is not in ``unread``."""

    read: int
    unread: int
    latest: int


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    room_id: int  # 0 for a private message
    from_uid: int
    to_uid: int | None  # the recipient of a private message
    msgtype: int  # 0 text, 1 image, 2 video, 3 voice
    content: str
    created_at: float
    username: str  # the sender's, joined from users
    photo: str
