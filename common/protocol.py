"""Internal frames: what register, gateways, workers and push clients say to each other.

Pure: no sockets, no event loop. Every ZeroMQ message is a *batch*: each part (after
the ROUTER identity, where there is one) holds one or more frames back to back, so a
sender that has several frames for one peer sends them in one message, usually of
one part (ZeroMQ's cost is per part: joining the frames costs a copy, a part per
frame costs several microseconds each), and the receiver decodes them in order with
:func:`decode_many`. A frame is a msgpack array::

    [VERSION, KIND, field1, field2, ...]

``VERSION`` is :data:`VERSION`; a frame of another version is refused, so that two
releases never misread each other. ``KIND`` is a :class:`Kind`; the fields are those
of the frame's dataclass, in declaration order. Strings are msgpack ``str``, binary
payloads msgpack ``bin`` (a client's binary WebSocket frame stays binary end to end).

Links and the frames they carry::

    gateway  -> register   Announce (also the heartbeat), Goodbye
    worker/client -> register  Subscribe (also the heartbeat)
    register -> worker/client  GatewayList (on subscribe and on every change)
    worker/client -> gateway   Hello (also the heartbeat), Bye, Command, Query, Ack
    gateway -> worker/client   Welcome, Event (workers only), Reply

Delivery: a gateway numbers the events it sends to a worker (``Event.seq``) and keeps
each one until the worker's :class:`Ack`; the events a dead worker never acknowledged
are sent again, marked ``redelivered``, to a live worker. Handlers therefore see
every event at least once.

:func:`decode` raises :class:`~common.exceptions.ProtocolError` for anything that
is not a well-formed frame of this version; callers log and drop it.
:func:`decode_many` (and :func:`decode_parts`, for every part of a message) yields
such an error in place of a bad frame and goes on with the next one; bytes that are
not msgpack at all end the part (nothing after them can be found), with one error.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, ClassVar

import msgpack

from .exceptions import ProtocolError

VERSION = 1


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
    MESSAGE, the request data (dict) for WS_CONNECT, None otherwise.
    """

    KIND: ClassVar[Kind] = Kind.EVENT
    seq: int
    kind: EventKind
    client_id: str
    remote: str
    session: bytes
    payload: Any
    redelivered: bool


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


_ENUM_FIELDS: dict[str, type[IntEnum]] = {"role": Role, "kind": EventKind, "op": Op}
_CLASSES: dict[int, type[Frame]] = {
    cls.KIND: cls
    for cls in (
        Announce, Goodbye, Subscribe, GatewayList, Hello, Welcome, Bye,
        Event, Ack, Command, Query, Reply,
    )
}  # fmt: skip
_FIELD_NAMES: dict[type[Frame], tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in _CLASSES.values()
}
_ENUMS_OF: dict[type[Frame], tuple[tuple[int, type[IntEnum]], ...]] = {
    cls: tuple((i, _ENUM_FIELDS[name]) for i, name in enumerate(names) if name in _ENUM_FIELDS)
    for cls, names in _FIELD_NAMES.items()
}
# Field types, checked on decode so that a peer's malformed frame is a ProtocolError
# here rather than a TypeError deep in a role. "any" fields are checked by their user.
_TYPES: dict[type[Frame], tuple[str, ...]] = {
    Announce: ("str", "str", "int"),
    Goodbye: ("str",),
    Subscribe: ("str",),
    GatewayList: ("gateways", "bool"),
    Hello: ("enum", "str", "int"),
    Welcome: ("str", "int", "str"),
    Bye: (),
    Event: ("int", "enum", "str", "str", "bytes", "any", "bool"),
    Ack: ("int", "str", "dict?", "list?"),
    Command: ("enum", "list"),
    Query: ("int", "enum", "list"),
    Reply: ("int", "bool", "any"),
}
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: type(v) is str,
    "int": lambda v: type(v) is int,
    "bool": lambda v: type(v) is bool,
    "bytes": lambda v: type(v) is bytes,
    "list": lambda v: type(v) is list,
    "dict?": lambda v: v is None or type(v) is dict,
    "list?": lambda v: v is None or type(v) is list,
    "any": lambda v: True,
    "enum": lambda v: True,  # checked by the member lookup below
    "gateways": lambda v: (
        type(v) is dict and all(type(k) is str and type(e) is int for k, e in v.items())
    ),
}
_INLINE = {
    "str": "type({v}) is str",
    "int": "type({v}) is int",
    "bool": "type({v}) is bool",
    "bytes": "type({v}) is bytes",
    "list": "type({v}) is list",
    "dict?": "({v} is None or type({v}) is dict)",
    "list?": "({v} is None or type({v}) is list)",
    "gateways": "gateways({v})",
}  # "any" and "enum" fields: checked by their user and by the member lookup


def _fast_check(cls: type[Frame]) -> Callable[[list[Any]], bool]:
    """One expression accepting the values of a well-formed ``cls`` frame.

    Generated once per class (as dataclasses generate ``__init__``): decode runs for
    every frame, and one expression costs a fraction of a loop of calls. When it says
    no, the loop over ``_CHECKS`` runs to name the bad field.
    """
    terms = [_INLINE[k].format(v=f"v[{i}]") for i, k in enumerate(_TYPES[cls]) if k in _INLINE]
    # eval of our own constant strings (the _INLINE templates), never of input
    check: Callable[[list[Any]], bool] = eval(
        f"lambda v: {' and '.join(terms) or 'True'}", {"gateways": _CHECKS["gateways"]}
    )
    return check


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        name = names[0]
        return lambda frame: (getattr(frame, name),)
    return lambda frame: ()


_FAST_CHECKS = {cls: _fast_check(cls) for cls in _CLASSES.values()}
_GETTERS = {cls: _getter(names) for cls, names in _FIELD_NAMES.items()}
_MEMBERS: dict[type[IntEnum], dict[int, IntEnum]] = {
    enum: {member.value: member for member in enum} for enum in _ENUM_FIELDS.values()
}
_packb = msgpack.Packer(use_bin_type=True, autoreset=True).pack


def encode(frame: Frame) -> bytes:
    """Serialize one frame."""
    cls = type(frame)
    return _packb([VERSION, cls.KIND, *_GETTERS[cls](frame)])


def decode(data: bytes) -> Frame:
    """Parse one frame; raise :class:`ProtocolError` if it is not a valid one."""
    try:
        items = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"undecodable frame ({len(data)} bytes): {exc}") from None
    return _frame(items)


def decode_many(data: bytes) -> Iterator[Frame | ProtocolError]:
    """Parse the frames of one part, in order; a bad one is yielded as its error."""
    try:
        items = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except msgpack.ExtraData:  # several frames: stream them
        yield from _decode_stream(data)
        return
    except Exception as exc:  # msgpack raises several unrelated types
        yield ProtocolError(f"undecodable frame ({len(data)} bytes): {exc}")
        return
    try:
        yield _frame(items)
    except ProtocolError as exc:
        yield exc


def decode_parts(parts: Iterable[bytes]) -> Iterator[Frame | ProtocolError]:
    """:func:`decode_many` over every part of a message, in order."""
    for data in parts:
        yield from decode_many(data)


def _decode_stream(data: bytes) -> Iterator[Frame | ProtocolError]:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(data))
    unpacker.feed(data)
    while True:
        try:
            items = unpacker.unpack()
        except msgpack.OutOfData:
            if unpacker.tell() < len(data):
                yield ProtocolError(f"truncated frame at byte {unpacker.tell()} of {len(data)}")
            return
        except Exception as exc:
            yield ProtocolError(f"undecodable bytes at {unpacker.tell()} of {len(data)}: {exc}")
            return
        try:
            yield _frame(items)
        except ProtocolError as exc:
            yield exc


def _frame(items: Any) -> Frame:
    if not isinstance(items, list) or len(items) < 2:
        raise ProtocolError("a frame is an array [version, kind, ...]")
    version, kind, *values = items
    # type() and not isinstance(): msgpack's true/false and 1.0 equal 1 in Python
    if type(version) is not int or version != VERSION:
        raise ProtocolError(f"frame version {version!r}, this process speaks {VERSION}")
    cls = _CLASSES.get(kind) if type(kind) is int else None
    if cls is None:
        raise ProtocolError(f"unknown frame kind {kind!r}")
    if len(values) != len(_FIELD_NAMES[cls]):
        raise ProtocolError(
            f"{cls.__name__} takes {len(_FIELD_NAMES[cls])} fields, got {len(values)}"
        )
    if not _FAST_CHECKS[cls](values):
        for name, kind, value in zip(_FIELD_NAMES[cls], _TYPES[cls], values, strict=True):
            if not _CHECKS[kind](value):
                raise ProtocolError(f"{cls.__name__}.{name}: unexpected {type(value).__name__}")
    for index, enum in _ENUMS_OF[cls]:
        # a dict lookup, not enum(value): decode is on every hot path
        member = _MEMBERS[enum].get(values[index]) if type(values[index]) is int else None
        if member is None:
            raise ProtocolError(f"{cls.__name__}: bad {enum.__name__} {values[index]!r}")
        values[index] = member
    return cls(*values)


def pack_session(session: dict[Any, Any]) -> bytes:
    """Encode a session dict for :class:`Event` (empty dict -> 1 byte)."""
    return _packb(session)


def unpack_session(data: bytes) -> dict[Any, Any]:
    """Decode a session shipped in an :class:`Event`."""
    try:
        session = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:
        raise ProtocolError(f"undecodable session: {exc}") from None
    if not isinstance(session, dict):
        raise ProtocolError("a session is a map")
    return session
