"""common.ops: routing specs, argument schemas, and merging of per-gateway answers."""

from __future__ import annotations

from typing import Any

import pytest

from common import ops
from common.exceptions import ProtocolError
from common.frames import Op
from common.ops import SPECS, Merge, OpSpec, empty, merge

G1, G2, G3 = "tcp://10.0.0.1:2900", "tcp://10.0.0.2:2900", "tcp://10.0.0.3:2900"

QUERIES = [op for op in Op if op >= Op.IS_ONLINE]
COMMANDS = [op for op in Op if op < Op.IS_ONLINE]


def test_every_op_has_a_spec() -> None:
    assert set(SPECS) == set(Op)
    assert all(isinstance(spec, OpSpec) for spec in SPECS.values())


@pytest.mark.parametrize("op", COMMANDS, ids=lambda op: op.name)
def test_commands_have_no_merge(op: Op) -> None:
    assert SPECS[op].merge is None


@pytest.mark.parametrize("op", QUERIES, ids=lambda op: op.name)
def test_queries_have_a_merge(op: Op) -> None:
    assert isinstance(SPECS[op].merge, Merge)


@pytest.mark.parametrize("op", list(Op), ids=lambda op: op.name)
def test_one_gateway_ops_take_a_client_id(op: Op) -> None:
    by_client = {
        Op.SEND_TO_CLIENT,
        Op.CLOSE_CLIENT,
        Op.DESTROY_CLIENT,
        Op.BIND_UID,
        Op.UNBIND_UID,
        Op.JOIN_GROUP,
        Op.LEAVE_GROUP,
        Op.SET_SESSION,
        Op.UPDATE_SESSION,
        Op.IS_ONLINE,
        Op.GET_UID_BY_CLIENT_ID,
        Op.GET_SESSION,
    }
    assert SPECS[op].one is (op in by_client)


def test_single_gateway_queries_merge_first() -> None:
    for op, spec in SPECS.items():
        if spec.one and spec.merge is not None:
            assert spec.merge is Merge.FIRST, op.name


def test_every_merge_kind_is_used() -> None:
    assert {s.merge for s in SPECS.values() if s.merge is not None} == set(Merge)


@pytest.mark.parametrize(
    ("op", "kind"),
    [
        (Op.GET_ALL_CLIENT_ID_COUNT, Merge.SUM),
        (Op.IS_UID_ONLINE, Merge.ANY),
        (Op.GET_CLIENT_ID_BY_UID, Merge.CONCAT),
        (Op.GET_ALL_UID_LIST, Merge.UNION),
        (Op.GET_ALL_UID_COUNT, Merge.COUNT_UNION),
        (Op.GET_UID_COUNT_BY_GROUP, Merge.COUNT_UNION),
        (Op.GET_ALL_GROUP_UID_COUNT, Merge.DICT_COUNT_UNION),
        (Op.GET_ALL_CLIENT_SESSIONS, Merge.DICT),
        (Op.IS_UIDS_ONLINE, Merge.DICT_ANY),
        (Op.BATCH_GET_CLIENT_ID_COUNT_BY_GROUP, Merge.DICT_SUM),
        (Op.GET_STATUS, Merge.STATUS),
    ],
)
def test_merge_of_representative_ops(op: Op, kind: Merge) -> None:
    assert SPECS[op].merge is kind


MERGE_CASES: list[tuple[Merge, dict[str, Any], Any]] = [
    (Merge.SUM, {G1: 2, G2: 3, G3: 0}, 5),
    (Merge.ANY, {G1: 0, G2: 0}, 0),
    (Merge.ANY, {G1: 0, G2: 1, G3: 0}, 1),
    (Merge.ANY, {G1: True}, 1),
    (Merge.FIRST, {G1: "42"}, "42"),
    (Merge.FIRST, {G1: None}, None),
    (Merge.FIRST, {G1: {"a": 1}}, {"a": 1}),
    (Merge.CONCAT, {G1: ["a", "b"], G2: [], G3: ["c"]}, ["a", "b", "c"]),
    (Merge.UNION, {G1: ["u1", "u2"], G2: ["u2", "u3"], G3: ["u1"]}, ["u1", "u2", "u3"]),
    (Merge.UNION, {G1: ["u1", "u1"]}, ["u1"]),
    (Merge.COUNT_UNION, {G1: ["u1", "u2"], G2: ["u2", "u3"]}, 3),
    (Merge.COUNT_UNION, {G1: ["u1"], G2: ["u1"]}, 1),
    (Merge.DICT, {G1: {"c1": {"a": 1}}, G2: {"c2": {}}}, {"c1": {"a": 1}, "c2": {}}),
    (Merge.DICT_ANY, {G1: {"u1": 0, "u2": 1}, G2: {"u1": 1, "u2": 0}}, {"u1": 1, "u2": 1}),
    (Merge.DICT_ANY, {G1: {"u1": 0}, G2: {"u1": 0, "u3": 1}}, {"u1": 0, "u3": 1}),
    (Merge.DICT_SUM, {G1: {"g": 2, "h": 1}, G2: {"g": 3}, G3: {"i": 4}}, {"g": 5, "h": 1, "i": 4}),
    (
        Merge.DICT_CONCAT,
        {G1: {"g": ["c1"], "h": ["c2"]}, G2: {"g": ["c3", "c4"]}},
        {"g": ["c1", "c3", "c4"], "h": ["c2"]},
    ),
    (
        Merge.DICT_UNION,
        {G1: {"g": ["u1", "u2"]}, G2: {"g": ["u2", "u3"], "h": ["u1"]}, G3: {"h": ["u1"]}},
        {"g": ["u1", "u2", "u3"], "h": ["u1"]},
    ),
    (
        Merge.DICT_COUNT_UNION,
        {G1: {"g": ["u1", "u2"]}, G2: {"g": ["u2", "u3"], "h": ["u1"]}, G3: {"h": ["u1"]}},
        {"g": 3, "h": 1},
    ),
    (
        Merge.STATUS,
        {G1: {"clients": 1}, G2: {"clients": 2}},
        {G1: {"clients": 1}, G2: {"clients": 2}},
    ),
]


@pytest.mark.parametrize(("kind", "answers", "expected"), MERGE_CASES)
def test_merge(kind: Merge, answers: dict[str, Any], expected: Any) -> None:
    assert merge(kind, answers) == expected


def test_every_merge_kind_is_tested() -> None:
    # keeps the table above honest when a Merge kind is added
    assert {kind for kind, _, _ in MERGE_CASES} == set(Merge)


def test_any_returns_an_int_flag() -> None:
    assert type(merge(Merge.ANY, {G1: True, G2: False})) is int


def test_union_keeps_first_seen_order() -> None:
    assert merge(Merge.UNION, {G1: ["b", "a"], G2: ["c", "a", "b"]}) == ["b", "a", "c"]


def test_dict_union_dedups_within_one_key_and_keeps_order() -> None:
    answers = {G1: {"g": ["b", "a"]}, G2: {"g": ["a", "c"]}, G3: {"g": ["c", "b", "d"]}}
    assert merge(Merge.DICT_UNION, answers) == {"g": ["b", "a", "c", "d"]}


def test_merges_do_not_mutate_the_answers() -> None:
    answers = {G1: {"g": ["c1"]}, G2: {"g": ["c2"]}}
    merge(Merge.DICT_CONCAT, answers)
    merge(Merge.DICT_UNION, answers)
    assert answers == {G1: {"g": ["c1"]}, G2: {"g": ["c2"]}}
    lists = {G1: ["a"], G2: ["b"]}
    merge(Merge.CONCAT, lists)
    assert lists == {G1: ["a"], G2: ["b"]}


def test_status_is_a_copy() -> None:
    answers = {G1: {"x": 1}}
    result = merge(Merge.STATUS, answers)
    result[G2] = {}
    assert G2 not in answers


EMPTY_CASES: list[tuple[Merge, Any]] = [
    (Merge.SUM, 0),
    (Merge.ANY, 0),
    (Merge.FIRST, None),
    (Merge.CONCAT, []),
    (Merge.UNION, []),
    (Merge.COUNT_UNION, 0),
    (Merge.DICT, {}),
    (Merge.DICT_ANY, {}),
    (Merge.DICT_SUM, {}),
    (Merge.DICT_CONCAT, {}),
    (Merge.DICT_UNION, {}),
    (Merge.DICT_COUNT_UNION, {}),
    (Merge.STATUS, {}),
]


@pytest.mark.parametrize(("kind", "expected"), EMPTY_CASES)
def test_empty(kind: Merge, expected: Any) -> None:
    result = empty(kind)
    assert result == expected
    assert type(result) is type(expected)


def test_empty_covers_every_kind() -> None:
    assert {kind for kind, _ in EMPTY_CASES} == set(Merge)


# -- the argument schema --------------------------------------------------------------


def test_every_op_has_a_schema() -> None:
    assert set(ops.ARGS) == set(Op)


@pytest.mark.parametrize(
    ("op", "args", "checked"),
    [
        (Op.SEND_TO_ALL, ["hi", None, None], ["hi", None, None]),
        (Op.SEND_TO_ALL, [b"\x00", ["a"], ["b"]], [b"\x00", ["a"], ["b"]]),
        (Op.JOIN_GROUP, ["cid", 100], ["cid", "100"]),  # ids become strings, as in PHP
        (Op.SEND_TO_GROUP, [[1, "x"], "m", None], [["1", "x"], "m", None]),
        (Op.CLOSE_CLIENT, ["cid", None], ["cid", None]),
        (Op.UPDATE_SESSION, ["cid", {"k": 1}], ["cid", {"k": 1}]),
        (Op.IS_UIDS_ONLINE, [["u1", 2]], [["u1", "2"]]),
        (Op.GET_ALL_CLIENT_ID_COUNT, [], []),
    ],
)
def test_good_arguments_are_checked_and_normalized(op: Op, args: list, checked: list) -> None:
    assert ops.check_args(op, args) == checked


@pytest.mark.parametrize(
    ("op", "args", "why"),
    [
        (Op.SEND_TO_CLIENT, ["cid"], "takes 2 arguments, got 1"),
        (Op.GET_ALL_UID_LIST, [1], "takes 0 arguments, got 1"),
        (Op.SEND_TO_CLIENT, [5, "m"], "client_id is a string"),
        (Op.SEND_TO_CLIENT, ["cid", 5], "message is str or bytes"),
        (Op.JOIN_GROUP, ["cid", 0], "not a valid id"),
        (Op.JOIN_GROUP, ["cid", "0"], "not a valid id"),
        (Op.JOIN_GROUP, ["cid", ""], "not a valid id"),
        (Op.BIND_UID, ["cid", True], "string or an integer"),
        (Op.BIND_UID, ["cid", None], "string or an integer"),
        (Op.SEND_TO_UID, ["u1", "m"], "list of ids"),
        (Op.SEND_TO_GROUP, [["g"], "m", "not a list"], "list of client_ids"),
        (Op.SET_SESSION, ["cid", ["not", "a", "map"]], "a session is a map"),
    ],
)
def test_bad_arguments_are_the_peers_protocol_error(op: Op, args: list, why: str) -> None:
    with pytest.raises(ProtocolError, match=why) as raised:
        ops.check_args(op, args)
    assert op.name in str(raised.value)


@pytest.mark.parametrize("op", list(Op), ids=lambda op: op.name)
def test_the_generated_fast_check_never_accepts_what_the_schema_refuses(op: Op) -> None:
    import random

    pool: list[Any] = [
        "",
        "0",
        "a",
        0,
        7,
        True,
        None,
        b"x",
        1.5,
        [],
        ["a"],
        ["0"],
        [1],
        ["a", None],
        {},
        {"k": 1},
        ("a",),
    ]
    rng = random.Random(op.value)
    schema = ops.ARGS[op]
    accepted = 0
    for _ in range(3000):
        length = len(schema) + rng.choice([0, 0, 0, -1, 1])
        args = [rng.choice(pool) for _ in range(max(0, length))]
        if ops._FAST[op](args):
            accepted += 1
            slow = [check(v) for (_, check), v in zip(schema, args, strict=True)]
            assert slow == args  # the fast path accepts only what needs no normalizing
    assert accepted > 0 or not schema  # the draw reached the fast path


# -- the schema as JSON Schema (what the HTTP API checks and documents) ----------------
CID = "7f0000019f576546405e00000001"
JSON_POOL: list[Any] = [
    "",
    "0",
    "a",
    "100",
    0,
    7,
    -3,
    True,
    False,
    None,
    1.5,
    [],
    ["a"],
    ["0"],
    [1, "x"],
    ["a", None],
    [0],
    {},
    {"k": 1},
    CID,
    [CID],
    [CID, "short"],
    "short",
]


@pytest.mark.parametrize("check", list(ops.JSON_SCHEMA), ids=lambda c: c.__name__)
def test_the_json_schema_says_what_the_check_accepts(check: ops.Check) -> None:
    """Every JSON value: the schema validates it exactly when the check accepts it (a
    client_id's pattern excepted: a gateway takes any string, the schema 28 hex digits)."""
    import jsonschema

    schema = ops.JSON_SCHEMA[check]
    validator = jsonschema.Draft202012Validator(schema)
    strict_ids = schema is ops.CLIENT_ID_JSON or schema.get("items") is ops.CLIENT_ID_JSON
    agreed = 0
    for value in JSON_POOL:
        try:
            check(value)
            accepted = True
        except ValueError:
            accepted = False
        valid = validator.is_valid(value)
        if strict_ids and accepted and not valid:  # a string, or a list of them, not an id
            assert value not in (CID, [CID])
            continue
        assert valid == accepted, (value, schema)
        agreed += 1
    assert agreed >= len(JSON_POOL) // 2


def test_the_optional_checks_take_none_and_the_others_do_not() -> None:
    for check in ops.JSON_SCHEMA:
        if check in ops.OPTIONAL:
            assert check(None) is None
        else:
            with pytest.raises(ValueError):
                check(None)


@pytest.mark.parametrize("op", QUERIES, ids=lambda op: op.name)
def test_every_query_has_a_result_schema_its_merge_fits(op: Op) -> None:
    import jsonschema

    samples = {
        Merge.SUM: [3, 4], Merge.ANY: [0, 1], Merge.CONCAT: [[CID], []],
        Merge.UNION: [["a", "b"], ["b"]], Merge.COUNT_UNION: [["a"], ["a", "b"]],
        Merge.DICT: [{CID: {"k": 1}}, {}], Merge.DICT_ANY: [{"u": 1}, {"u": 0}],
        Merge.DICT_SUM: [{"g": 1}, {"g": 2}], Merge.DICT_CONCAT: [{"u": [CID]}, {"u": []}],
        Merge.DICT_UNION: [{"g": ["a"]}, {"g": ["a", "b"]}],
        Merge.DICT_COUNT_UNION: [{"g": ["a"]}, {"g": ["b"]}],
        Merge.STATUS: [{"clients": 1}, {"clients": 2}],
    }  # fmt: skip
    merge_kind = SPECS[op].merge
    assert merge_kind is not None
    if merge_kind is Merge.FIRST:
        answers = {Op.IS_ONLINE: [1], Op.GET_UID_BY_CLIENT_ID: ["u"], Op.GET_SESSION: [{"k": 1}]}
        values = answers[op]
    elif op is Op.GET_CONNECTIONS:
        values = [[{"client_id": CID}], []]
    else:
        values = samples[merge_kind]
    merged = merge(merge_kind, {f"g{i}": v for i, v in enumerate(values)})
    jsonschema.validate(merged, ops.RESULTS[op])
    if merge_kind is not Merge.FIRST:  # no gateway asked: the empty answer fits too
        jsonschema.validate(empty(merge_kind), ops.RESULTS[op])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(1.5, ops.RESULTS[op])  # no answer is a fraction
