"""Internal frames as data: the enums and one frozen dataclass per frame type.

Pure, and imports nothing: :mod:`common.protocol` encodes and decodes these,
:mod:`common.ops` describes each :class:`Op` (routing, argument schema, merge).

Links and the frames they carry::

    gateway  -> register   Announce (also the heartbeat), Goodbye
    worker/client -> register  Subscribe (also the heartbeat)
    register -> worker/client  GatewayList (on subscribe and on every change)
    worker/client -> gateway   Hello (also the heartbeat), Bye, Command, Query, Ack
    gateway -> worker/client   Welcome, Event (workers only), Reply
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar


class Kind(IntEnum):
    """Frame types."""

    ANNOUNCE = 1
    GOODBYE = 2
    SUBSCRIBE = 3
    GATEWAY_LIST = 4
    HELLO = 10
    WELCOME = 11
    BYE = 12
    EVENT = 20
    ACK = 21
    COMMAND = 30
    QUERY = 31
    REPLY = 32


class Role(IntEnum):
    """Who says Hello to a gateway: a worker gets events, a push client does not."""

    WORKER = 1
    CLIENT = 2


class EventKind(IntEnum):
    """Client events a gateway forwards to a worker."""

    CONNECT = 1
    WS_CONNECT = 2
    MESSAGE = 3
    CLOSE = 4


class Op(IntEnum):
    """Commands and queries of the Gateway API (see :mod:`common.ops` for routing)."""

    # commands: no reply
    SEND_TO_ALL = 1
    SEND_TO_CLIENT = 2
    CLOSE_CLIENT = 3
    DESTROY_CLIENT = 4
    BIND_UID = 5
    UNBIND_UID = 6
    SEND_TO_UID = 7
    JOIN_GROUP = 8
    LEAVE_GROUP = 9
    UNGROUP = 10
    SEND_TO_GROUP = 11
    SET_SESSION = 12
    UPDATE_SESSION = 13
    # queries: one Reply per gateway asked
    IS_ONLINE = 40
    IS_UID_ONLINE = 41
    GET_CLIENT_ID_BY_UID = 42
    GET_UID_BY_CLIENT_ID = 43
    GET_CLIENT_ID_COUNT_BY_GROUP = 44
    GET_ALL_CLIENT_ID_COUNT = 45
    GET_CLIENT_ID_LIST_BY_GROUP = 46
    GET_ALL_CLIENT_ID_LIST = 47
    GET_UID_LIST_BY_GROUP = 48
    GET_UID_COUNT_BY_GROUP = 49
    GET_ALL_UID_LIST = 50
    GET_ALL_UID_COUNT = 51
    GET_ALL_GROUP_ID_LIST = 52
    GET_ALL_GROUP_UID_LIST = 53
    GET_ALL_GROUP_CLIENT_ID_LIST = 54
    GET_ALL_GROUP_UID_COUNT = 55
    GET_ALL_GROUP_CLIENT_ID_COUNT = 56
    GET_CLIENT_SESSIONS_BY_GROUP = 57
    GET_ALL_CLIENT_SESSIONS = 58
    GET_SESSION = 59
    IS_UIDS_ONLINE = 60
    BATCH_GET_CLIENT_ID_BY_UID = 61
    BATCH_GET_CLIENT_ID_COUNT_BY_GROUP = 62
    GET_STATUS = 63


@dataclass(frozen=True, slots=True)
class Frame:
    """Base of every frame; subclasses set ``KIND``."""

    KIND: ClassVar[Kind]


@dataclass(frozen=True, slots=True)
class Announce(Frame):
    """A gateway's internal address, public WebSocket address and epoch."""

    KIND: ClassVar[Kind] = Kind.ANNOUNCE
    address: str
    public: str
    epoch: int


@dataclass(frozen=True, slots=True)
class Goodbye(Frame):
    """A gateway leaving on purpose: drop it now rather than after the timeout."""

    KIND: ClassVar[Kind] = Kind.GOODBYE
    address: str


@dataclass(frozen=True, slots=True)
class Subscribe(Frame):
    """Ask the register for the gateway list and every later change."""

    KIND: ClassVar[Kind] = Kind.SUBSCRIBE
    name: str


@dataclass(frozen=True, slots=True)
class GatewayList(Frame):
    """Every live gateway: internal address -> epoch.

    ``complete`` is false while a register that just started has not yet waited one
    gateway timeout: its list may lack gateways that have not re-announced, so
    subscribers only add from it and never remove.
    """

    KIND: ClassVar[Kind] = Kind.GATEWAY_LIST
    gateways: dict[str, int]
    complete: bool


@dataclass(frozen=True, slots=True)
class Hello(Frame):
    """A worker or push client introducing itself to a gateway (repeated as heartbeat)."""

    KIND: ClassVar[Kind] = Kind.HELLO
    role: Role
    name: str
    pid: int


@dataclass(frozen=True, slots=True)
class Welcome(Frame):
    """A gateway's answer to a first Hello: who it is."""

    KIND: ClassVar[Kind] = Kind.WELCOME
    address: str
    epoch: int
    public: str


@dataclass(frozen=True, slots=True)
class Bye(Frame):
    """A worker stopping gracefully: send it no new events."""

    KIND: ClassVar[Kind] = Kind.BYE


@dataclass(frozen=True, slots=True)
class Event(Frame):
    """A client event for a worker.

    ``session`` is the client's session, msgpack-encoded (the worker decodes it into
    the dict the handler sees). ``payload`` is the message (str or bytes) for
    MESSAGE, the request data (dict) for WS_CONNECT, None otherwise. ``auth`` is
    the identity the gateway verified before the upgrade (the token's claims,
    msgpack-encoded), None for an anonymous client.
    """

    KIND: ClassVar[Kind] = Kind.EVENT
    seq: int
    kind: EventKind
    client_id: str
    remote: str
    session: bytes
    payload: Any
    redelivered: bool
    auth: bytes | None = None


@dataclass(frozen=True, slots=True)
class Ack(Frame):
    """Event ``seq`` handled; the session keys the handler set or deleted."""

    KIND: ClassVar[Kind] = Kind.ACK
    seq: int
    client_id: str
    session_set: dict[Any, Any] | None
    session_del: list[Any] | None


@dataclass(frozen=True, slots=True)
class Command(Frame):
    """An API call with no answer (send, join, bind, ...)."""

    KIND: ClassVar[Kind] = Kind.COMMAND
    op: Op
    args: list[Any]


@dataclass(frozen=True, slots=True)
class Query(Frame):
    """An API call that wants a :class:`Reply` with the same ``request_id``."""

    KIND: ClassVar[Kind] = Kind.QUERY
    request_id: int
    op: Op
    args: list[Any]


@dataclass(frozen=True, slots=True)
class Reply(Frame):
    """A gateway's answer to a Query: ``value`` if ``ok``, else an error text."""

    KIND: ClassVar[Kind] = Kind.REPLY
    request_id: int
    ok: bool
    value: Any
