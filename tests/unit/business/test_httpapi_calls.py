"""business.httpapi.calls: the calls, their JSON arguments and answers (no sockets)."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from business.api import GatewayAPI
from business.httpapi.calls import (
    CALLS,
    MAX_TIMEOUT,
    SENDS_TO_ONE,
    BadArgument,
    bind,
    reply,
    to_json,
)
from business.results import with_missing
from common import ops
from common.frames import Op

CID = "7f0000019f576546405e00000001"


def test_every_gateway_call_and_only_those() -> None:
    assert len(CALLS) == 36
    assert {call.op for call in CALLS.values()} == set(Op) - {
        Op.DRAIN,
        Op.GET_STATUS,
        Op.GET_CONNECTIONS,
    }
    for name, call in CALLS.items():
        assert name == call.op.name.lower()
        assert call.query == (ops.SPECS[call.op].merge is not None)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_arguments_are_named_as_the_python_api_names_them(name: str) -> None:
    """An HTTP call takes the GatewayAPI method's arguments, in its order (raw excepted:
    frames are never re-encoded; timeout is a query's deadline)."""
    parameters = list(inspect.signature(getattr(GatewayAPI, name)).parameters)
    expected = [p for p in parameters if p not in ("self", "raw", "timeout")]
    assert [arg.name for arg in CALLS[name].args] == expected
    assert ("timeout" in parameters) == CALLS[name].query


@pytest.mark.parametrize(
    ("name", "body", "values"),
    [
        ("send_to_all", {"message": "hi"}, ["hi", None, None]),
        ("send_to_all", {"message": {"a": "你"}, "exclude": [CID]}, ['{"a":"你"}', None, [CID]]),
        ("send_to_all", {"message": [1, 2], "client_ids": []}, ["[1,2]", [], None]),
        ("send_to_uid", {"uid": 10086, "message": "x"}, [["10086"], "x"]),  # one id: a list of one
        ("send_to_uid", {"uid": ["a", 2], "message": "x"}, [["a", "2"], "x"]),
        ("send_to_group", {"group": "g", "message": "x", "exclude": None}, [["g"], "x", None]),
        ("join_group", {"client_id": CID, "group": 100}, [CID, "100"]),  # as in PHP
        ("close_client", {"client_id": CID}, [CID, None]),
        ("set_session", {"client_id": CID, "session": {"k": [1]}}, [CID, {"k": [1]}]),
        ("is_uids_online", {"uids": "u"}, [["u"]]),
        ("get_all_client_id_count", {}, []),
    ],
)
def test_good_arguments(name: str, body: dict[str, Any], values: list[Any]) -> None:
    assert bind(CALLS[name], body) == (values, None)


def test_a_query_takes_a_deadline() -> None:
    assert bind(CALLS["get_all_uid_count"], {"timeout": 0.5}) == ([], 0.5)
    assert bind(CALLS["is_online"], {"client_id": CID, "timeout": 2}) == ([CID], 2.0)
    for bad in (0, -1, MAX_TIMEOUT + 1, "1", True, None):
        with pytest.raises(BadArgument, match="'timeout': seconds"):
            bind(CALLS["get_all_uid_count"], {"timeout": bad})
    with pytest.raises(BadArgument, match="unknown argument 'timeout'"):
        bind(CALLS["send_to_all"], {"message": "x", "timeout": 1})


@pytest.mark.parametrize(
    ("name", "body", "why"),
    [
        ("send_to_all", [], "the arguments are a JSON object, not an array"),
        ("send_to_all", "hi", "not a string"),
        ("send_to_all", {}, "argument 'message': missing"),
        (
            "send_to_all",
            {"message": "x", "foo": 1},
            "unknown argument 'foo' (it takes client_ids, exclude, message)",
        ),
        (
            "send_to_all",
            {"message": 5},
            "'message': a message is a string, a JSON object or an array, not a number",
        ),
        (
            "send_to_all",
            {"message": None},
            "'message': a message is a string, a JSON object or an array, not null",
        ),
        ("close_client", {"client_id": CID, "message": 1}, "'message': a message is a string"),
        ("send_to_all", {"message": "x", "client_ids": "abc"}, "'abc' is not a client_id"),
        ("send_to_all", {"message": "x", "client_ids": 5}, "a client_id is a string"),
        (
            "send_to_all",
            {"message": "x", "exclude": ["nope"]},
            "'exclude': 'nope' is not a client_id",
        ),
        ("send_to_client", {"client_id": CID.upper(), "message": "x"}, "is not a client_id"),
        ("send_to_client", {"client_id": 5, "message": "x"}, "a client_id is a string"),
        ("join_group", {"client_id": CID, "group": 0}, "'group': 0 is not a valid id"),
        ("join_group", {"client_id": CID, "group": ""}, "'group': '' is not a valid id"),
        ("bind_uid", {"client_id": CID, "uid": True}, "'uid': an id is a string or an integer"),
        ("bind_uid", {"client_id": CID, "uid": 1.5}, "'uid': an id is a string or an integer"),
        ("send_to_uid", {"uid": [1, None], "message": "x"}, "'uid': an id is"),
        ("set_session", {"client_id": CID, "session": [1]}, "'session': a session is a map"),
        ("get_all_uid_count", {"group": "g"}, "unknown argument 'group' (it takes timeout)"),
        ("ungroup", {"group": "g", "b": 1, "a": 2}, "unknown argument 'a', 'b'"),
    ],
)
def test_bad_arguments_say_which_and_why(name: str, body: Any, why: str) -> None:
    with pytest.raises(BadArgument, match=why.replace("(", r"\(").replace(")", r"\)")) as bad:
        bind(CALLS[name], body)
    assert str(bad.value).startswith(name + ":")


def test_the_answers() -> None:
    assert reply(CALLS["send_to_all"], None) == {"result": None}
    assert reply(CALLS["is_online"], 1) == {"result": 1}  # one gateway: no "missing"
    count = with_missing(3, ("tcp://10.0.0.2:2900",))
    assert reply(CALLS["get_all_client_id_count"], count) == {
        "result": 3,
        "missing": ["tcp://10.0.0.2:2900"],
    }
    assert json.loads(to_json(reply(CALLS["get_all_uid_list"], with_missing(["a"], ())))) == {
        "result": ["a"],
        "missing": [],
    }


def test_json_carries_what_a_python_worker_may_have_put_in_a_session() -> None:
    session = {"name": "李", "raw": b"\x00\xff", b"key": 1, 7: float("nan"), "n": [b"a"]}
    assert json.loads(to_json({"result": session})) == {
        "result": {"name": "李", "raw": "AP8=", "a2V5": 1, "7": None, "n": ["YQ=="]},
    }
    assert to_json({"result": "李"}) == '{"result":"李"}'.encode()  # UTF-8, not \\u escapes


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_fast_path_binds_as_the_argument_by_argument_one(name: str) -> None:
    """bind() first tries the op's own generated check on the whole body; whatever it
    returns, the slow path (_bind) returns too, and what it refuses, _bind refuses
    (an argument left out, or another in its place, too)."""
    import random

    from business.httpapi.calls import _bind

    pool: list[Any] = [
        "m",
        "",
        "0",
        7,
        0,
        None,
        True,
        1.5,
        [],
        ["u", 2],
        [CID],
        {"k": 1},
        CID,
        [CID, "x"],
        {"a": [1]},
        [0],
    ]
    call = CALLS[name]
    rng = random.Random(name)
    fast = 0
    for _ in range(600):
        body = {a.name: rng.choice(pool) for a in call.args if rng.random() < 0.9}
        if rng.random() < 0.3:  # another key beside them, or in an argument's place
            if body and rng.random() < 0.5:
                del body[rng.choice(sorted(body))]
            body["colour"] = rng.choice(pool)
        try:
            expected: Any = _bind(call, body)
        except BadArgument as exc:
            expected = type(exc)
        try:
            got: Any = bind(call, body)
        except BadArgument as exc:
            got = type(exc)
        assert got == expected, body
        usual = call.usual(body)
        assert usual is None or (usual, None) == expected, body
        fast += usual is not None
    assert fast > 0  # some bodies were taken in one step


@pytest.mark.parametrize("name", sorted(SENDS_TO_ONE))
def test_a_usual_body_takes_the_one_step_path(name: str) -> None:
    """What a batch's usual item carries is bound by Call.usual alone (no fallback):
    the arguments as they are, in the op's order; a client_id of another form is not."""
    call = CALLS[name]
    usual = {"message": "x", "uid": "u1", "group": "g1", "session": {"k": 1}}
    body = {a.name: CID if a.client_ids else usual[a.name] for a in call.args if a.required}
    values = call.usual(body)
    assert values is not None and values == bind(call, body)[0]
    assert values[0] == CID and len(values) == len(call.args)
    assert call.usual({**body, "client_id": CID.upper()}) is None  # not our form: _bind says
    assert call.usual({**body, "colour": "red"}) is None  # not its argument: _bind says
    assert call.usual([body]) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + b'{"message": "a BOM"}',
        '{"message": "UTF-16"}'.encode("utf-16"),
        b'{"message": "x", "message": "last wins"}',
        b'[{"call": "send_to_client", "args": {"client_id": "ab", "message": 1.5e300}}]',
    ],
)
def test_bodies_are_read_as_the_json_module_reads_them(raw: bytes) -> None:
    """orjson reads what it reads alike; what it refuses and the json module takes goes
    to json."""
    import json

    from business.httpapi.calls import from_json

    got, expected = from_json(raw), json.loads(raw)
    assert json.dumps(got) == json.dumps(expected)  # (NaN != NaN: compared as text)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"message": [NaN]}', "NaN is not JSON"),
        (b'{"message": {"a": -Infinity}}', "-Infinity is not JSON"),
        (b'{"message": "\\ud800"}', "lone surrogate"),
        (b'{"uid": "a\\udfffb", "message": 1}', "lone surrogate"),
        (b'{"\\ud800": 1}', "lone surrogate"),  # a key too
    ],
)
def test_what_no_client_could_be_sent_is_not_taken(raw: bytes, why: str) -> None:
    """The json module would take these; a browser's JSON.parse would refuse NaN and
    Infinity, and a lone surrogate has no UTF-8 (msgpack, the link's encoding, refused
    it: a 500)."""
    from business.httpapi.calls import from_json

    with pytest.raises(ValueError, match=why):
        from_json(raw)


def test_integers_past_64_bits_are_doubles_as_in_javascript() -> None:
    from business.httpapi.calls import from_json

    assert from_json(b"[18446744073709551615, 123456789012345678901234567890]") == [
        18446744073709551615,  # (unsigned 64 bits: exact)
        1.2345678901234568e29,
    ]
    with pytest.raises(BadArgument, match="not float"):
        bind(CALLS["send_to_uid"], from_json(b'{"uid": 123456789012345678901, "message": "x"}'))


@pytest.mark.parametrize("raw", [b"{", b"[1,]", b'{"a": 1} x', b"\xff\xfe{"])
def test_what_is_not_json_is_a_value_error(raw: bytes) -> None:
    from business.httpapi.calls import from_json

    with pytest.raises(ValueError):
        from_json(raw)


def test_a_message_nested_too_deeply_is_a_bad_argument_on_both_paths() -> None:
    import orjson

    depth = 1010  # orjson reads it (up to 1,024); json cannot write it back (~1,000)
    body = orjson.loads(f'{{"client_id": "{CID}", "message": {"[" * depth + "]" * depth}}}')
    with pytest.raises(BadArgument, match="nested too deeply"):
        bind(CALLS["send_to_client"], body)
    assert CALLS["send_to_client"].usual(body) is None  # the fast path leaves it to _bind


def test_one_client_id_alone_is_a_list_of_one_as_the_original_takes_either() -> None:
    """PHP's backends pass ``'exclude' => $client_id``: one id, never its characters."""
    group = CALLS["send_to_group"]
    assert bind(group, {"group": "g", "message": "x", "exclude": CID})[0] == [["g"], "x", [CID]]
    assert bind(group, {"group": "g", "message": "x", "exclude": None})[0] == [["g"], "x", None]
    everyone = CALLS["send_to_all"]
    values = bind(everyone, {"message": "x", "client_ids": CID, "exclude": [CID]})[0]
    assert values == ["x", [CID], [CID]]
    with pytest.raises(BadArgument, match="exclude"):
        bind(group, {"group": "g", "message": "x", "exclude": "not an id"})
