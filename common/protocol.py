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

The frames themselves (enums and dataclasses) are in :mod:`common.frames`, and are
imported from there (``from common.frames import Event, Op``): this module is the
codec only.

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
from dataclasses import fields
from enum import IntEnum
from typing import Any

import msgpack

from .exceptions import InvalidArgument, ProtocolError
from .frames import (
    Ack,
    Announce,
    Bye,
    Command,
    Event,
    EventKind,
    Frame,
    GatewayList,
    Goodbye,
    Hello,
    Op,
    Query,
    Reply,
    Role,
    Subscribe,
    Welcome,
)

__all__ = [
    "VERSION",
    "decode",
    "decode_many",
    "decode_parts",
    "encode",
    "encode_command",
    "pack_session",
    "unpack_session",
]

VERSION = 2  # 2: Event.auth


_ENUM_FIELDS: dict[str, type[IntEnum]] = {"role": Role, "kind": EventKind, "op": Op}
_CLASSES: dict[int, type[Frame]] = {
    cls.KIND: cls
    for cls in (
        Announce,
        Goodbye,
        Subscribe,
        GatewayList,
        Hello,
        Welcome,
        Bye,
        Event,
        Ack,
        Command,
        Query,
        Reply,
    )
}
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
    Event: ("int", "enum", "str", "str", "bytes", "any", "bool", "bytes?"),
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
    "bytes?": lambda v: v is None or type(v) is bytes,
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
    "bytes?": "({v} is None or type({v}) is bytes)",
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
    """Serialize one frame (InvalidArgument if a string in it is not text)."""
    cls = type(frame)
    try:
        return _packb([VERSION, cls.KIND, *_GETTERS[cls](frame)])
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"{cls.__name__}: {_not_text(exc)}") from None


def encode_command(op: Op, args: list[Any]) -> bytes:
    """``encode(Command(op, args))``, without the frame: for senders of many at once
    (InvalidArgument if a string in ``args`` is not text)."""
    try:
        return _packb([VERSION, Command.KIND, op, args])
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"{op.name.lower()}: {_not_text(exc)}") from None


def _not_text(exc: UnicodeEncodeError) -> str:
    """What to say of a string msgpack could not write as UTF-8: a lone surrogate
    (``json.loads`` makes one of an escape such as ``"\\ud800"``), no text at all."""
    bad = exc.object[exc.start : exc.start + 1]
    return (
        f"a string holds {bad!r} (a lone surrogate: not text, no UTF-8 can carry it); "
        "refuse such input where it comes in"
    )


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
