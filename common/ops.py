"""Each op of the Gateway API: where it goes, what arguments it takes, how answers merge.

"one" calls go only to the gateway that owns the client_id in ``args[0]`` (decoded
from the id, no lookup); "all" calls go to every gateway. A query sent to several
gateways is answered by each, and the caller merges the answers with the op's
:class:`Merge`. Pure: used by workers, push clients and gateways, tested without
sockets.

The argument schema (:data:`ARGS`, :func:`check_args`) is the wire-to-call boundary:
a gateway checks a Command's or Query's arguments when it takes the frame, so the
code that runs the op gets the types it declares, and a peer's bad frame is a
:class:`~common.exceptions.ProtocolError`, never a ``TypeError`` deep in a handler.
The same schema as JSON Schema (:data:`JSON_SCHEMA`, :data:`OPTIONAL`, :data:`RESULTS`)
is what the HTTP API checks and documents (its OpenAPI document is made from it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .exceptions import ProtocolError
from .frames import Op
from .ids import ID_LENGTH


class Merge(Enum):
    """How per-gateway answers become one."""

    SUM = "sum"  # counts
    ANY = "any"  # 0/1 flags
    FIRST = "first"  # single-gateway answers
    CONCAT = "concat"  # lists of client_ids: disjoint across gateways
    UNION = "union"  # lists of uids / group ids: may repeat across gateways
    COUNT_UNION = "count_union"  # distinct count: gateways send the lists
    DICT = "dict"  # {client_id: session}: disjoint
    DICT_ANY = "dict_any"  # {uid: 0/1}
    DICT_SUM = "dict_sum"  # {group: count}
    DICT_CONCAT = "dict_concat"  # {key: [client_id, ...]}
    DICT_UNION = "dict_union"  # {group: [uid, ...]}
    DICT_COUNT_UNION = "dict_count_union"  # {group: distinct uid count}
    STATUS = "status"  # {gateway address: status}


@dataclass(frozen=True, slots=True)
class OpSpec:
    """Routing of one op: to the client's gateway only, or to every gateway."""

    one: bool
    merge: Merge | None = None  # None: a command, no reply


_ONE, _ALL = True, False
SPECS: dict[Op, OpSpec] = {
    Op.SEND_TO_ALL: OpSpec(_ALL),
    Op.SEND_TO_CLIENT: OpSpec(_ONE),
    Op.CLOSE_CLIENT: OpSpec(_ONE),
    Op.DESTROY_CLIENT: OpSpec(_ONE),
    Op.BIND_UID: OpSpec(_ONE),
    Op.UNBIND_UID: OpSpec(_ONE),
    Op.SEND_TO_UID: OpSpec(_ALL),
    Op.JOIN_GROUP: OpSpec(_ONE),
    Op.LEAVE_GROUP: OpSpec(_ONE),
    Op.UNGROUP: OpSpec(_ALL),
    Op.SEND_TO_GROUP: OpSpec(_ALL),
    Op.SET_SESSION: OpSpec(_ONE),
    Op.UPDATE_SESSION: OpSpec(_ONE),
    Op.DRAIN: OpSpec(_ALL),  # sent to the one gateway named, by gw drain
    Op.IS_ONLINE: OpSpec(_ONE, Merge.FIRST),
    Op.IS_UID_ONLINE: OpSpec(_ALL, Merge.ANY),
    Op.GET_CLIENT_ID_BY_UID: OpSpec(_ALL, Merge.CONCAT),
    Op.GET_UID_BY_CLIENT_ID: OpSpec(_ONE, Merge.FIRST),
    Op.GET_CLIENT_ID_COUNT_BY_GROUP: OpSpec(_ALL, Merge.SUM),
    Op.GET_ALL_CLIENT_ID_COUNT: OpSpec(_ALL, Merge.SUM),
    Op.GET_CLIENT_ID_LIST_BY_GROUP: OpSpec(_ALL, Merge.CONCAT),
    Op.GET_ALL_CLIENT_ID_LIST: OpSpec(_ALL, Merge.CONCAT),
    Op.GET_UID_LIST_BY_GROUP: OpSpec(_ALL, Merge.UNION),
    Op.GET_UID_COUNT_BY_GROUP: OpSpec(_ALL, Merge.COUNT_UNION),
    Op.GET_ALL_UID_LIST: OpSpec(_ALL, Merge.UNION),
    Op.GET_ALL_UID_COUNT: OpSpec(_ALL, Merge.COUNT_UNION),
    Op.GET_ALL_GROUP_ID_LIST: OpSpec(_ALL, Merge.UNION),
    Op.GET_ALL_GROUP_UID_LIST: OpSpec(_ALL, Merge.DICT_UNION),
    Op.GET_ALL_GROUP_CLIENT_ID_LIST: OpSpec(_ALL, Merge.DICT_CONCAT),
    Op.GET_ALL_GROUP_UID_COUNT: OpSpec(_ALL, Merge.DICT_COUNT_UNION),
    Op.GET_ALL_GROUP_CLIENT_ID_COUNT: OpSpec(_ALL, Merge.DICT_SUM),
    Op.GET_CLIENT_SESSIONS_BY_GROUP: OpSpec(_ALL, Merge.DICT),
    Op.GET_ALL_CLIENT_SESSIONS: OpSpec(_ALL, Merge.DICT),
    Op.GET_SESSION: OpSpec(_ONE, Merge.FIRST),
    Op.IS_UIDS_ONLINE: OpSpec(_ALL, Merge.DICT_ANY),
    Op.BATCH_GET_CLIENT_ID_BY_UID: OpSpec(_ALL, Merge.DICT_CONCAT),
    Op.BATCH_GET_CLIENT_ID_COUNT_BY_GROUP: OpSpec(_ALL, Merge.DICT_SUM),
    Op.GET_STATUS: OpSpec(_ALL, Merge.STATUS),
    Op.GET_CONNECTIONS: OpSpec(_ALL, Merge.CONCAT),
}


def _dict_of(answers: Iterable[Any], combine: Callable[[Any, Any], Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for answer in answers:
        for key, value in answer.items():
            out[key] = combine(out[key], value) if key in out else value
    return out


def _union(lists: Iterable[Iterable[Any]]) -> list[Any]:
    return list(dict.fromkeys(item for items in lists for item in items))


def merge(kind: Merge, answers: dict[str, Any]) -> Any:
    """Combine the answers of the gateways that replied (address -> answer)."""
    values = list(answers.values())
    if kind is Merge.SUM:
        return sum(values)
    if kind is Merge.ANY:
        return int(any(values))
    if kind is Merge.FIRST:
        return values[0] if values else None
    if kind is Merge.CONCAT:
        return [item for items in values for item in items]
    if kind is Merge.UNION:
        return _union(values)
    if kind is Merge.COUNT_UNION:
        return len(_union(values))
    if kind is Merge.DICT:
        return _dict_of(values, lambda a, b: b)
    if kind is Merge.DICT_ANY:
        return _dict_of(values, lambda a, b: int(bool(a or b)))
    if kind is Merge.DICT_SUM:
        return _dict_of(values, lambda a, b: a + b)
    if kind is Merge.DICT_CONCAT:
        return _dict_of(values, lambda a, b: a + b)
    if kind is Merge.DICT_UNION:
        return _dict_of(values, lambda a, b: _union((a, b)))
    if kind is Merge.DICT_COUNT_UNION:
        return {k: len(v) for k, v in merge(Merge.DICT_UNION, answers).items()}
    if kind is Merge.STATUS:
        return dict(answers)
    raise AssertionError(kind)  # pragma: no cover - every Merge is handled above


def empty(kind: Merge) -> Any:
    """The answer when no gateway was asked (an empty cluster)."""
    return merge(kind, {})


# -- argument schema ------------------------------------------------------------------
Check = Callable[[Any], Any]  # returns the checked (normalized) value or raises ValueError


def _client_id(value: Any) -> str:
    if type(value) is not str:
        raise ValueError("a client_id is a string")
    return value


def _name(value: Any) -> str:
    """A group id or uid, as :func:`common.ids.name_key` accepts it."""
    if type(value) is str:
        if value in ("", "0"):
            raise ValueError(f"{value!r} is not a valid id")
        return value
    if type(value) is int:
        if value == 0:
            raise ValueError("0 is not a valid id")
        return str(value)
    raise ValueError(f"an id is a string or an integer, not {type(value).__name__}")


def _names(value: Any) -> list[str]:
    if type(value) is not list:
        raise ValueError("expected a list of ids")
    return [_name(v) for v in value]


def _message(value: Any) -> str | bytes:
    if type(value) is not str and type(value) is not bytes:
        raise ValueError("a message is str or bytes")
    return value


def _optional(check: Check) -> Check:
    def optional(value: Any) -> Any:
        return None if value is None else check(value)

    return optional


def _client_ids(value: Any) -> list[str]:
    if type(value) is not list:
        raise ValueError("expected a list of client_ids")
    return [_client_id(v) for v in value]


def _session(value: Any) -> dict[Any, Any]:
    if type(value) is not dict:
        raise ValueError("a session is a map")
    return value


_CID, _NAME, _NAMES, _MSG, _SESSION = _client_id, _name, _names, _message, _session
_CIDS_OR_NONE, _MSG_OR_NONE = _optional(_client_ids), _optional(_message)

# Every op's arguments, in order, as the API sends them (always all of them), named as
# GatewayAPI's parameters (send_to_uid's and send_to_group's take one id or a list).
ARGS: dict[Op, tuple[tuple[str, Check], ...]] = {
    Op.SEND_TO_ALL: (("message", _MSG), ("client_ids", _CIDS_OR_NONE),
                     ("exclude", _CIDS_OR_NONE)),
    Op.SEND_TO_CLIENT: (("client_id", _CID), ("message", _MSG)),
    Op.CLOSE_CLIENT: (("client_id", _CID), ("message", _MSG_OR_NONE)),
    Op.DESTROY_CLIENT: (("client_id", _CID),),
    Op.BIND_UID: (("client_id", _CID), ("uid", _NAME)),
    Op.UNBIND_UID: (("client_id", _CID), ("uid", _NAME)),
    Op.SEND_TO_UID: (("uid", _NAMES), ("message", _MSG)),
    Op.JOIN_GROUP: (("client_id", _CID), ("group", _NAME)),
    Op.LEAVE_GROUP: (("client_id", _CID), ("group", _NAME)),
    Op.UNGROUP: (("group", _NAME),),
    Op.SEND_TO_GROUP: (("group", _NAMES), ("message", _MSG), ("exclude", _CIDS_OR_NONE)),
    Op.SET_SESSION: (("client_id", _CID), ("session", _SESSION)),
    Op.UPDATE_SESSION: (("client_id", _CID), ("session", _SESSION)),
    Op.DRAIN: (),
    Op.IS_ONLINE: (("client_id", _CID),),
    Op.IS_UID_ONLINE: (("uid", _NAME),),
    Op.GET_CLIENT_ID_BY_UID: (("uid", _NAME),),
    Op.GET_UID_BY_CLIENT_ID: (("client_id", _CID),),
    Op.GET_CLIENT_ID_COUNT_BY_GROUP: (("group", _NAME),),
    Op.GET_ALL_CLIENT_ID_COUNT: (),
    Op.GET_CLIENT_ID_LIST_BY_GROUP: (("group", _NAME),),
    Op.GET_ALL_CLIENT_ID_LIST: (),
    Op.GET_UID_LIST_BY_GROUP: (("group", _NAME),),
    Op.GET_UID_COUNT_BY_GROUP: (("group", _NAME),),
    Op.GET_ALL_UID_LIST: (),
    Op.GET_ALL_UID_COUNT: (),
    Op.GET_ALL_GROUP_ID_LIST: (),
    Op.GET_ALL_GROUP_UID_LIST: (),
    Op.GET_ALL_GROUP_CLIENT_ID_LIST: (),
    Op.GET_ALL_GROUP_UID_COUNT: (),
    Op.GET_ALL_GROUP_CLIENT_ID_COUNT: (),
    Op.GET_CLIENT_SESSIONS_BY_GROUP: (("group", _NAME),),
    Op.GET_ALL_CLIENT_SESSIONS: (),
    Op.GET_SESSION: (("client_id", _CID),),
    Op.IS_UIDS_ONLINE: (("uids", _NAMES),),
    Op.BATCH_GET_CLIENT_ID_BY_UID: (("uids", _NAMES),),
    Op.BATCH_GET_CLIENT_ID_COUNT_BY_GROUP: (("groups", _NAMES),),
    Op.GET_STATUS: (),
    Op.GET_CONNECTIONS: (),
}  # fmt: skip


# -- the same schema as JSON Schema (the HTTP API's OpenAPI document is made from it) ---
ID_JSON: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "minLength": 1, "not": {"const": "0"}},
        {"type": "integer", "not": {"const": 0}},
    ],
    "description": 'A group id or uid: a string or an integer (100 and "100" are one id); '
    '0, "0" and "" are not ids.',
}
# a gateway takes any string (and finds no such client); senders route only real ids
CLIENT_ID_JSON: dict[str, Any] = {
    "type": "string",
    "pattern": f"^[0-9a-f]{{{ID_LENGTH}}}$",
    "description": f"A client_id: {ID_LENGTH} lowercase hex digits.",
}
JSON_SCHEMA: dict[Check, dict[str, Any]] = {
    _CID: CLIENT_ID_JSON,
    _NAME: ID_JSON,
    _NAMES: {"type": "array", "items": ID_JSON},
    _MSG: {"type": "string"},
    _SESSION: {"type": "object"},
    _CIDS_OR_NONE: {"type": ["array", "null"], "items": CLIENT_ID_JSON},
    _MSG_OR_NONE: {"type": ["string", "null"]},
}
"""Each check's values as JSON Schema (a JSON value: bytes are not one)."""

OPTIONAL: frozenset[Check] = frozenset({_CIDS_OR_NONE, _MSG_OR_NONE})
"""Checks whose argument the API lets a caller leave out: it is then None."""

_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_FLAG: dict[str, Any] = {"type": "integer", "enum": [0, 1]}
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_CLIENT_IDS_JSON: dict[str, Any] = {"type": "array", "items": CLIENT_ID_JSON}


def _by_key(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": value}


_MERGED: dict[Merge, dict[str, Any]] = {
    Merge.SUM: _COUNT, Merge.ANY: _FLAG, Merge.CONCAT: _CLIENT_IDS_JSON, Merge.UNION: _STRINGS,
    Merge.COUNT_UNION: _COUNT, Merge.DICT: _by_key({"type": "object"}),
    Merge.DICT_ANY: _by_key(_FLAG), Merge.DICT_SUM: _by_key(_COUNT),
    Merge.DICT_CONCAT: _by_key(_CLIENT_IDS_JSON), Merge.DICT_UNION: _by_key(_STRINGS),
    Merge.DICT_COUNT_UNION: _by_key(_COUNT), Merge.STATUS: _by_key({"type": "object"}),
}  # fmt: skip
_ANSWERS: dict[Op, dict[str, Any]] = {  # where the merge alone does not say
    Op.IS_ONLINE: _FLAG,
    Op.GET_UID_BY_CLIENT_ID: {"type": ["string", "null"]},
    Op.GET_SESSION: {"type": ["object", "null"]},
    Op.GET_CONNECTIONS: {"type": "array", "items": {"type": "object"}},
}
RESULTS: dict[Op, dict[str, Any]] = {
    op: _ANSWERS.get(op) or _MERGED[spec.merge] for op, spec in SPECS.items() if spec.merge
}
"""Each query's merged answer as JSON Schema (session values as JSON carries them)."""


def _names_ok(values: list[Any]) -> bool:
    # a loop, not all(generator): faster for the one or two ids of a usual call
    for value in values:  # noqa: SIM110
        if type(value) is not str or value == "" or value == "0":
            return False
    return True


def _ids_ok(values: list[Any]) -> bool:
    for value in values:  # noqa: SIM110
        if type(value) is not str:
            return False
    return True


# One expression per check that accepts a value needing no normalization: the common
# case (a worker sends ids as str), checked without a call per argument.
_INLINE: dict[Check, str] = {
    _CID: "type({v}) is str",
    _NAME: "(type({v}) is str and {v} != '' and {v} != '0')",
    _NAMES: "(type({v}) is list and names_ok({v}))",
    _MSG: "(type({v}) is str or type({v}) is bytes)",
    _SESSION: "type({v}) is dict",
    _CIDS_OR_NONE: "({v} is None or (type({v}) is list and ids_ok({v})))",
    _MSG_OR_NONE: "({v} is None or type({v}) is str or type({v}) is bytes)",
}


AS_IS_SCOPE: dict[str, Any] = {"names_ok": _names_ok, "ids_ok": _ids_ok}
"""What :func:`as_is_source`'s expression needs in its globals."""


def as_is_source(op: Op, names: Sequence[str]) -> str:
    """One Python expression over the variables ``names`` (the op's arguments, in
    order), true where they are valid as they are (the common case: no normalization
    needed; false says only "look closer"), for code generated elsewhere (with
    :data:`AS_IS_SCOPE`): :func:`check_args`'s first step, and the HTTP API's
    binder, which holds the arguments in variables."""
    schema = ARGS[op]
    if len(names) != len(schema):
        raise ValueError(f"{op.name} takes {len(schema)} arguments, not {len(names)}")
    terms = [check_source(check, v) for (_, check), v in zip(schema, names, strict=True)]
    return " and ".join(terms) or "True"


def check_source(check: Check, name: str) -> str:
    """One argument's part of :func:`as_is_source`: ``check``'s test of the variable
    ``name``."""
    return _INLINE[check].format(v=name)


def _fast(op: Op) -> Callable[[list[Any]], bool]:
    n = len(ARGS[op])
    test = as_is_source(op, [f"a[{i}]" for i in range(n)])
    # eval of our own constant templates, never of input (as protocol's frame checks)
    fast: Callable[[list[Any]], bool] = eval(f"lambda a: len(a) == {n} and {test}", {**AS_IS_SCOPE})
    return fast


_FAST = {op: _fast(op) for op in ARGS}


def check_args(op: Op, args: list[Any]) -> list[Any]:
    """The arguments of ``op`` checked and normalized (ids as str); ProtocolError if bad."""
    if _FAST[op](args):
        return args
    schema = ARGS[op]
    if len(args) != len(schema):
        raise ProtocolError(f"{op.name} takes {len(schema)} arguments, got {len(args)}")
    try:
        return [check(value) for (_, check), value in zip(schema, args, strict=True)]
    except ValueError as exc:
        raise ProtocolError(f"{op.name}: {exc}") from None
