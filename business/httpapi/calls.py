"""The HTTP API's calls: each Gateway API call by name, its JSON arguments, its answer (pure).

Made from :mod:`common.ops`, the schema a gateway checks every command against: a
call's arguments are that op's, by the names :class:`~business.api.GatewayAPI`'s
methods give them, and checked by the same functions. What HTTP adds is what JSON
needs, as the Python API does it:

- a ``message`` may be a JSON object or array: it is sent as JSON text (a string is
  sent as it is, a text frame);
- where a list of ids is taken (``uid`` of send_to_uid, ``group`` of send_to_group,
  ``uids``, ``groups``, and the client_ids of ``exclude`` and send_to_all's
  ``client_ids``), one id alone is a list of one, as the original takes either;
- a query takes ``timeout`` (seconds, at most :data:`MAX_TIMEOUT`) as its deadline;
- every client_id must be one (``ids.decode``'s check): the gateway it names is checked
  where the call is routed (:mod:`.reach`).

An argument left out is an error unless the Python API has a default for it
(:data:`common.ops.OPTIONAL`: then it is None); an argument of another name is an
error. The operators' ops (drain, status, connections) are not calls here: ``gw
drain``, ``gw status`` and ``gw connections`` are.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from common import ids, ops
from common.exceptions import InvalidArgument
from common.frames import Op

from ..api import encode_message

NOT_CALLS = frozenset({Op.DRAIN, Op.GET_STATUS, Op.GET_CONNECTIONS})  # the operators' ops
MAX_TIMEOUT = 30.0  # seconds: the longest deadline a query may ask for
MAX_BATCH = 10_000  # calls in one batch request
MAX_BATCH_QUERIES = 100  # of which queries (done in order, each waits for its answers)


class BadArgument(InvalidArgument):
    """A call's arguments are not what it takes: which one, and why."""

    def __init__(self, call: str, argument: str | None, why: str) -> None:
        self.call, self.argument, self.why = call, argument, why
        where = f"{call}: argument {argument!r}: " if argument else f"{call}: "
        super().__init__(where + why)


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a call."""

    name: str
    check: ops.Check  # the op's own check (wire schema)
    required: bool
    message: bool  # a JSON object or array is sent as JSON text
    listed: bool  # a list of ids: one id alone is a list of one
    client_ids: bool  # client_ids (one, or a list): each must decode

    @property
    def schema(self) -> dict[str, Any]:
        """The wire schema, as HTTP widens it (see the module docstring)."""
        wire = ops.JSON_SCHEMA[self.check]
        if self.message:
            kinds = ["string", "object", "array"] + (["null"] if not self.required else [])
            return {
                "type": kinds,
                "description": "A string is sent as a text frame; a JSON "
                "object or array as its JSON text.",
            }
        if self.listed:
            return {"oneOf": [wire["items"], wire]}
        return wire


@dataclass(frozen=True, slots=True)
class Call:
    """One Gateway API call over HTTP."""

    name: str
    op: Op
    args: tuple[Arg, ...]
    query: bool
    one: bool  # routed to the gateway of its client_id (args[0]), else to every gateway
    accepted: frozenset[str]  # every argument name it takes (``timeout`` too, for a query)
    wire: frozenset[str]  # the op's own arguments' names
    wire_order: tuple[str, ...]  # ... in order
    usual: Callable[[Any], list[Any] | None]  # bind's fast path (see _usual)


def _ids_ok(value: Any) -> bool:
    """A client_id argument's value (checked by the op: str, a list of str, or None)
    has the form of ours."""
    if type(value) is str:
        return ids.is_client_id(value)
    return value is None or all(map(ids.is_client_id, value))


def _arg(name: str, check: ops.Check) -> Arg:
    schema = ops.JSON_SCHEMA[check]
    return Arg(
        name=name,
        check=check,
        required=check not in ops.OPTIONAL,
        message=name == "message",
        listed=schema.get("items") is ops.ID_JSON or schema.get("items") is ops.CLIENT_ID_JSON,
        client_ids=schema is ops.CLIENT_ID_JSON or schema.get("items") is ops.CLIENT_ID_JSON,
    )


def _call(op: Op) -> Call:
    spec = ops.SPECS[op]
    args = tuple(_arg(name, check) for name, check in ops.ARGS[op])
    query = spec.merge is not None
    names = tuple(a.name for a in args)
    return Call(
        op.name.lower(),
        op,
        args,
        query=query,
        one=spec.one,
        accepted=frozenset(names + (("timeout",) if query else ())),
        wire=frozenset(names),
        wire_order=names,
        usual=_usual(op, args),
    )


def _as_text(message: Any) -> str | bytes:
    """A JSON message object or array as its text; ValueError if it nests too deeply."""
    try:
        return encode_message(message)
    except RecursionError:  # (orjson reads 1,024 levels; json writes ~1,000)
        raise ValueError("nested too deeply (a JSON message of at most ~1,000 levels)") from None


def _as_text_or_as_is(message: Any) -> Any:
    """:func:`_as_text`, or the message as it is (for :func:`_bind` to say why not)."""
    try:
        return _as_text(message)
    except ValueError:
        return message


def _usual(op: Op, args: tuple[Arg, ...]) -> Callable[[Any], list[Any] | None]:
    """:func:`bind`'s fast path, in one step: the values of a body that is a JSON object
    of the op's own arguments (an optional one left out: None), a message object or
    array as its JSON text, valid as they are (the op's first check: what a gateway
    takes, needing no normalization), whose client_ids have our form; else None, and
    :func:`_bind` normalizes (one id for a list) or says what is wrong. Generated from
    the op's argument names (ours, never input) into one function of local variables
    and inline checks (:func:`common.ops.as_is_source`), as :mod:`common.ops` makes its
    own: a batch binds thousands. Where every argument is required, as many keys as
    arguments is exactly the arguments if each is there (``absent``, a key left out,
    fails every check): no set of keys to compare."""
    absent = object()
    names = [f"a{i}" for i in range(len(args))]
    required = all(a.required for a in args)
    for a in args if required else ():  # what len(b) == N stands on (our templates)
        if eval(ops.check_source(a.check, "v"), {**ops.AS_IS_SCOPE, "v": absent}):
            raise AssertionError(f"{op.name}: {a.name}'s check takes a key left out")
    shape = f"len(b) == {len(args)}" if required else "b.keys() <= wire"
    lines = ["def usual(b):", f"    if type(b) is dict and {shape}:"]
    lines += [
        f"        {v} = b.get({a.name!r}{', absent' if required else ''})"
        for v, a in zip(names, args, strict=True)
    ]
    terms = [ops.as_is_source(op, names)]
    for v, a in zip(names, args, strict=True):
        if a.message:
            lines.append(f"        if type({v}) in json_kinds: {v} = as_text({v})")
        if a.client_ids:  # a str once the op's check holds, or a list of them (or None)
            one = ops.JSON_SCHEMA[a.check] is ops.CLIENT_ID_JSON
            terms.append(f"form({v}) is not None" if one else f"ids_form({v})")
    lines += [
        f"        if {' and '.join(terms)}:",
        f"            return [{', '.join(names)}]",
        "    return None",
        "",
    ]
    ours: dict[str, Any] = {
        "wire": frozenset(a.name for a in args),
        "absent": absent,
        "form": ids.FORM,
        "ids_form": _ids_ok,
        "json_kinds": (dict, list),
        "as_text": _as_text_or_as_is,
    }
    if ours.keys() & ops.AS_IS_SCOPE.keys():
        raise AssertionError("a name of the op's checks taken for another")
    scope = {**ops.AS_IS_SCOPE, **ours}
    exec("\n".join(lines), scope)  # our own constant template, never input (as above)
    usual: Callable[[Any], list[Any] | None] = scope["usual"]
    return usual


CALLS: dict[str, Call] = {call.name: call for call in map(_call, Op) if call.op not in NOT_CALLS}
"""Every call, by its name (the GatewayAPI method's)."""
SENDS_TO_ONE: dict[str, Call] = {n: c for n, c in CALLS.items() if c.one and not c.query}
"""The calls that send to one client (routed by its client_id): a batch's usual items."""


def _client_ids(value: Any) -> None:
    for client_id in value if type(value) is list else (value,):
        if not ids.is_client_id(client_id):  # its gateway: where the call is routed
            raise ValueError(
                f"{client_id!r:.60} is not a client_id ({ids.ID_LENGTH} lowercase hex digits)"
            )


def _timeout(call: str, value: Any) -> float:
    if type(value) not in (int, float) or not 0 < value <= MAX_TIMEOUT:
        raise BadArgument(call, "timeout", f"seconds, more than 0 and at most {MAX_TIMEOUT:g}")
    return float(value)


def bind(call: Call, body: Any) -> tuple[list[Any], float | None]:
    """The positional arguments of the call's GatewayAPI method (checked and
    normalized), and a query's ``timeout`` if it gave one; BadArgument if wrong."""
    values = call.usual(body)
    if values is not None:
        return values, None
    return _bind(call, body)  # one id for a list, a timeout; or what is wrong


def _bind(call: Call, body: Any) -> tuple[list[Any], float | None]:
    """:func:`bind`, argument by argument: what HTTP adds, and which argument is wrong."""
    if type(body) is not dict:
        raise BadArgument(
            call.name, None, f"the arguments are a JSON object, not {_json_kind(body)}"
        )
    unknown = body.keys() - call.accepted
    if unknown:
        takes = ", ".join(sorted(call.accepted)) or "no argument"
        names = ", ".join(repr(name[:40]) for name in sorted(unknown)[:3])
        raise BadArgument(call.name, None, f"unknown argument {names} (it takes {takes})")
    values: list[Any] = []
    for arg in call.args:
        if arg.name not in body:
            if arg.required:
                raise BadArgument(call.name, arg.name, "missing")
            values.append(None)
            continue
        value = body[arg.name]
        try:
            if arg.message and type(value) in (dict, list):
                value = _as_text(value)
            elif arg.message and type(value) is not str and (value is not None or arg.required):
                raise ValueError(
                    f"a message is a string, a JSON object or an array, not {_json_kind(value)}"
                )
            elif arg.listed and type(value) is not list and value is not None:
                value = [value]
            value = arg.check(value)
            if arg.client_ids and value is not None:
                _client_ids(value)
        except ValueError as exc:  # InvalidArgument is one too
            raise BadArgument(call.name, arg.name, str(exc)) from None
        values.append(value)
    timeout = _timeout(call.name, body["timeout"]) if call.query and "timeout" in body else None
    return values, timeout


def _json_kind(value: Any) -> str:
    return {
        list: "an array",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def reply(call: Call, result: Any) -> dict[str, Any]:
    """The body of a call's answer: ``{"result": ...}``, and for a query sent to every
    gateway, ``missing``: the gateways (or registers) that did not answer."""
    if not call.query:
        return {"result": None}
    if call.one:
        return {"result": result}
    return {"result": result, "missing": list(getattr(result, "missing", ()))}


def _plain(value: Any) -> Any:
    """A value JSON can carry: bytes (a session value a Python worker set) as base64,
    map keys as strings."""
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities: no JSON spelling
    return value


def _key(key: Any) -> Any:
    if isinstance(key, bytes):
        return base64.b64encode(key).decode()
    return key if isinstance(key, str | int | float | bool) or key is None else str(key)


_encode: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON (RFC 8259 has no NaN or Infinity)")


def from_json(raw: bytes) -> Any:
    """A body's JSON, by orjson (about twice as fast as the json module: a batch's
    items ~190 ns against ~370), or as the json module reads what orjson refuses (a
    BOM, UTF-16). Integers past 64 bits are read as doubles, as JavaScript's
    JSON.parse and PHP's json_decode read them (an id of that size is refused, as a
    float id). ValueError (or RecursionError) if it is not JSON, and for what the json
    module would take but no client could be sent: NaN and Infinity (a message with
    them would reach browsers as text JSON.parse refuses), a lone surrogate (not text:
    no UTF-8 spelling)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = json.loads(raw, parse_constant=_not_json)  # or why it is not JSON
    try:
        _encode(value).encode()
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff): not text") from None
    return value


def to_json(body: Any) -> bytes:
    """``body`` as UTF-8 JSON; what JSON cannot carry as it is goes through :func:`_plain`."""
    try:
        return _encode(body).encode()
    except (TypeError, ValueError):  # bytes, or keys JSON has no spelling for
        return _encode(_plain(body)).encode()
