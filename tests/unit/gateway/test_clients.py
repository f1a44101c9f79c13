"""gateway.clients: the gateway's client / uid / group / session index."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common import ids, ops
from common.exceptions import InvalidArgument
from common.frames import Op
from common.ops import SPECS
from common.protocol import unpack_session
from gateway.clients import Client, ClientIndex

GW_A = ("10.0.0.1", 2900)
GW_B = ("10.0.0.2", 2900)


def cid(n: int, gateway: tuple[str, int] = GW_A) -> str:
    return ids.encode(gateway[0], gateway[1], 77, n)


C1, C2, C3, C4 = (cid(n) for n in range(1, 5))
UNKNOWN = cid(999)


def make_index(*client_ids: str) -> ClientIndex:
    index = ClientIndex()
    for client_id in client_ids:
        index.add(Client(client_id, "127.0.0.1:5000", None))  # type: ignore[arg-type]
    return index


def uids(index: ClientIndex) -> dict[str, set[str]]:
    """The uid table, each uid's connections as a set (the index keeps a list)."""
    return {uid: set(members) for uid, members in index.uids.items()}


def check_consistent(index: ClientIndex) -> None:
    """The three tables agree with each other and hold no empty sets (nor a client_id
    twice under one uid, or one group twice on a client)."""
    for uid, members in index.uids.items():
        assert members, f"empty uid {uid!r}"
        assert len(members) == len(set(members)), f"a connection twice under {uid!r}"
        for client_id in members:
            assert index.clients[client_id].uid == uid
    for group, members in index.groups.items():
        assert members, f"empty group {group!r}"
        for client_id in members:
            assert group in index.clients[client_id].groups
    for client_id, client in index.clients.items():
        assert len(client.groups) == len(set(client.groups)), client
        if client.uid is not None:
            assert client_id in index.uids[client.uid]
        for group in client.groups:
            assert client_id in index.groups[group]


# -- membership ---------------------------------------------------------------------


def test_add_get_remove() -> None:
    index = make_index(C1, C2)
    client = index.get(C1)
    assert client is not None
    assert client.client_id == C1
    assert index.remove(C1) is client
    assert index.get(C1) is None
    assert list(index.clients) == [C2]


def test_remove_unknown_is_none() -> None:
    index = make_index(C1)
    assert index.remove(UNKNOWN) is None
    assert index.remove(C1) is not None
    assert index.remove(C1) is None


def test_remove_cleans_uid_and_groups() -> None:
    index = make_index(C1, C2)
    index.bind_uid(C1, "u1")
    index.bind_uid(C2, "u1")
    index.bind_uid(C2, "u1")
    index.join_group(C1, "g1")
    index.join_group(C1, "g2")
    index.join_group(C2, "g1")
    removed = index.remove(C1)
    assert removed is not None
    assert uids(index) == {"u1": {C2}}
    assert index.groups == {"g1": {C2}}
    check_consistent(index)
    index.remove(C2)
    assert uids(index) == {}
    assert index.groups == {}


def test_removed_client_keeps_its_state_for_on_close() -> None:
    index = make_index(C1)
    index.bind_uid(C1, 5)
    index.join_group(C1, "g")
    index.set_session(C1, {"a": 1})
    client = index.remove(C1)
    assert client is not None
    assert (client.uid, client.groups, client.session) == ("5", ("g",), {"a": 1})


# -- uids ---------------------------------------------------------------------------


def test_bind_normalises_uid() -> None:
    index = make_index(C1, C2)
    assert index.bind_uid(C1, 100)
    assert index.bind_uid(C2, "100")
    assert uids(index) == {"100": {C1, C2}}
    assert index.clients[C1].uid == "100"


def test_bind_unknown_client() -> None:
    index = make_index(C1)
    assert index.bind_uid(UNKNOWN, "u") is False
    assert uids(index) == {}


def test_rebinding_moves_the_connection() -> None:
    index = make_index(C1, C2)
    index.bind_uid(C1, "old")
    index.bind_uid(C2, "old")
    assert index.bind_uid(C1, "new")
    assert uids(index) == {"old": {C2}, "new": {C1}}
    assert index.bind_uid(C2, "new")
    assert uids(index) == {"new": {C1, C2}}  # "old" emptied and vanished
    check_consistent(index)


def test_bind_same_uid_twice_is_harmless() -> None:
    index = make_index(C1)
    assert index.bind_uid(C1, "u")
    assert index.bind_uid(C1, "u")
    assert uids(index) == {"u": {C1}}


def test_many_connections_per_uid() -> None:
    index = make_index(C1, C2, C3)
    for client_id in (C1, C2, C3):
        index.bind_uid(client_id, "u")
    assert index.query(Op.GET_CLIENT_ID_BY_UID, ["u"]) == sorted([C1, C2, C3])
    index.remove(C2)
    assert index.query(Op.GET_CLIENT_ID_BY_UID, ["u"]) == sorted([C1, C3])


def test_unbind() -> None:
    index = make_index(C1, C2)
    index.bind_uid(C1, "u")
    index.bind_uid(C2, "u")
    assert index.unbind_uid(C1, "u")
    assert index.clients[C1].uid is None
    assert uids(index) == {"u": {C2}}
    assert index.unbind_uid(C2, "u")
    assert uids(index) == {}


def test_unbind_wrong_uid_or_client_does_nothing() -> None:
    index = make_index(C1)
    index.bind_uid(C1, "u")
    assert index.unbind_uid(C1, "other") is False
    assert index.unbind_uid(UNKNOWN, "u") is False
    assert index.clients[C1].uid == "u"
    assert uids(index) == {"u": {C1}}


def test_unbind_normalises_uid() -> None:
    index = make_index(C1)
    index.bind_uid(C1, "7")
    assert index.unbind_uid(C1, 7)
    assert uids(index) == {}


@pytest.mark.parametrize("bad", [0, "0", "", None, True, 1.5])
def test_invalid_uids_are_refused(bad: Any) -> None:
    index = make_index(C1)
    with pytest.raises(InvalidArgument):
        index.bind_uid(C1, bad)
    with pytest.raises(InvalidArgument):
        index.unbind_uid(C1, bad)
    assert uids(index) == {}
    assert index.clients[C1].uid is None


# -- groups -------------------------------------------------------------------------


def test_join_and_leave() -> None:
    index = make_index(C1, C2)
    assert index.join_group(C1, "g")
    assert index.join_group(C2, "g")
    assert index.join_group(C1, "h")
    assert index.groups == {"g": {C1, C2}, "h": {C1}}
    assert set(index.clients[C1].groups) == {"g", "h"}
    assert index.leave_group(C1, "g")
    assert index.groups == {"g": {C2}, "h": {C1}}
    check_consistent(index)


def test_empty_groups_vanish() -> None:
    index = make_index(C1)
    index.join_group(C1, "g")
    index.leave_group(C1, "g")
    assert index.groups == {}
    assert index.query(Op.GET_ALL_GROUP_ID_LIST, []) == []


def test_group_ids_are_normalised() -> None:
    index = make_index(C1, C2)
    index.join_group(C1, 100)
    index.join_group(C2, "100")
    assert index.groups == {"100": {C1, C2}}
    assert index.leave_group(C1, 100)
    assert index.query(Op.GET_CLIENT_ID_COUNT_BY_GROUP, [100]) == 1


def test_join_twice_is_harmless() -> None:
    index = make_index(C1)
    index.join_group(C1, "g")
    index.join_group(C1, "g")
    assert index.groups == {"g": {C1}}


def test_join_or_leave_unknown() -> None:
    index = make_index(C1)
    assert index.join_group(UNKNOWN, "g") is False
    assert index.groups == {}
    index.join_group(C1, "g")
    assert index.leave_group(C1, "not-joined") is False
    assert index.leave_group(UNKNOWN, "g") is False
    assert index.groups == {"g": {C1}}


@pytest.mark.parametrize("bad", [0, "0", "", None, False, 2.0])
def test_invalid_groups_are_refused(bad: Any) -> None:
    index = make_index(C1)
    with pytest.raises(InvalidArgument):
        index.join_group(C1, bad)
    with pytest.raises(InvalidArgument):
        index.leave_group(C1, bad)
    with pytest.raises(InvalidArgument):
        index.ungroup(bad)
    assert index.groups == {}


def test_ungroup() -> None:
    index = make_index(C1, C2, C3)
    index.join_group(C1, 5)
    index.join_group(C2, "5")
    index.join_group(C2, "other")
    assert index.ungroup(5) == 2
    assert index.groups == {"other": {C2}}
    assert index.clients[C1].groups == ()
    assert index.clients[C2].groups == ("other",)
    assert index.ungroup("5") == 0
    check_consistent(index)


def test_rejoin_after_ungroup() -> None:
    index = make_index(C1)
    index.join_group(C1, "g")
    index.ungroup("g")
    assert index.join_group(C1, "g")
    assert index.groups == {"g": {C1}}
    check_consistent(index)


def test_remove_after_ungroup_does_not_fail() -> None:
    index = make_index(C1)
    index.join_group(C1, "g")
    index.ungroup("g")
    assert index.remove(C1) is not None
    assert index.groups == {}


# -- sessions -----------------------------------------------------------------------


def test_set_session_overwrites_with_a_copy() -> None:
    index = make_index(C1)
    index.update_session(C1, {"old": 1})
    new = {"a": 1}
    assert index.set_session(C1, new)
    new["b"] = 2  # the caller's dict is not the stored one
    assert index.clients[C1].session == {"a": 1}


def test_update_session_merges_and_deletes() -> None:
    index = make_index(C1)
    index.set_session(C1, {"a": 1, "b": 2, "c": 3})
    assert index.update_session(C1, {"b": 20, "d": 4}, ["c", "missing"])
    assert index.clients[C1].session == {"a": 1, "b": 20, "d": 4}


def test_update_session_deletes_after_setting() -> None:
    index = make_index(C1)
    index.update_session(C1, {"a": 1}, ["a"])
    assert index.clients[C1].session == {}


def test_sessions_of_unknown_client() -> None:
    index = make_index(C1)
    assert index.set_session(UNKNOWN, {"a": 1}) is False
    assert index.update_session(UNKNOWN, {"a": 1}) is False
    assert index.clients[C1].session == {}


def test_packed_session_is_cached_until_a_change() -> None:
    index = make_index(C1)
    client = index.clients[C1]
    first = client.packed_session()
    assert unpack_session(first) == {}
    assert client.packed_session() is first  # cached

    index.set_session(C1, {"a": 1})
    second = client.packed_session()
    assert unpack_session(second) == {"a": 1}
    assert client.packed_session() is second

    index.update_session(C1, {"b": 2})
    assert unpack_session(client.packed_session()) == {"a": 1, "b": 2}

    index.update_session(C1, {}, ["a"])
    assert unpack_session(client.packed_session()) == {"b": 2}


def test_session_changed_drops_the_cache() -> None:
    client = Client(C1, "r", None)  # type: ignore[arg-type]
    before = client.packed_session()
    client.session["k"] = "v"
    assert client.packed_session() is before  # direct mutation: caller must say so
    client.session_changed()
    assert unpack_session(client.packed_session()) == {"k": "v"}


# -- send targets -------------------------------------------------------------------


def ids_of(clients: list[Client]) -> set[str]:
    return {c.client_id for c in clients}


def test_all_targets() -> None:
    index = make_index(C1, C2, C3)
    assert ids_of(index.all_targets(None, None)) == {C1, C2, C3}
    assert ids_of(index.all_targets(None, [C2])) == {C1, C3}
    assert ids_of(index.all_targets(None, [])) == {C1, C2, C3}
    assert ids_of(index.all_targets([C1, C3, UNKNOWN], None)) == {C1, C3}
    assert ids_of(index.all_targets([C1, C3], [C3, UNKNOWN])) == {C1}
    assert index.all_targets([UNKNOWN], None) == []


def test_all_targets_accepts_iterators() -> None:
    index = make_index(C1, C2, C3)
    assert ids_of(index.all_targets(iter([C1, C2]), iter([C2]))) == {C1}


def test_uid_targets() -> None:
    index = make_index(C1, C2, C3, C4)
    index.bind_uid(C1, "u1")
    index.bind_uid(C2, "u1")
    index.bind_uid(C3, 2)
    assert ids_of(index.uid_targets(["u1"])) == {C1, C2}
    assert ids_of(index.uid_targets([2])) == {C3}
    assert ids_of(index.uid_targets(["u1", "2", "nobody"])) == {C1, C2, C3}
    assert index.uid_targets(["nobody"]) == []


def test_uid_targets_are_distinct() -> None:
    index = make_index(C1)
    index.bind_uid(C1, "u")
    assert len(index.uid_targets(["u", "u"])) == 1


def test_group_targets() -> None:
    index = make_index(C1, C2, C3, C4)
    index.join_group(C1, "g")
    index.join_group(C2, "g")
    index.join_group(C2, 7)
    index.join_group(C3, 7)
    assert ids_of(index.group_targets(["g"], None)) == {C1, C2}
    assert ids_of(index.group_targets([7], None)) == {C2, C3}
    both = index.group_targets(["g", "7"], None)
    assert ids_of(both) == {C1, C2, C3}
    assert len(both) == 3  # C2 is in both groups, sent to once
    assert ids_of(index.group_targets(["g", 7], [C2, UNKNOWN])) == {C1, C3}
    assert index.group_targets(["nobody"], None) == []


# -- queries ------------------------------------------------------------------------


@pytest.fixture
def populated() -> ClientIndex:
    """C1: uid u1, groups g, h; C2: uid u1, group g; C3: uid 3, group h; C4: nothing."""
    index = make_index(C1, C2, C3, C4)
    index.bind_uid(C1, "u1")
    index.bind_uid(C2, "u1")
    index.bind_uid(C3, 3)
    index.join_group(C1, "g")
    index.join_group(C1, "h")
    index.join_group(C2, "g")
    index.join_group(C3, "h")
    index.set_session(C1, {"name": "ann"})
    index.set_session(C3, {"name": "cy"})
    return index


def as_sets(value: dict[str, list[str]]) -> dict[str, set[str]]:
    return {k: set(v) for k, v in value.items()}


QUERY_CASES: list[tuple[Op, list[Any], Any]] = [
    (Op.IS_ONLINE, [C1], 1),
    (Op.IS_ONLINE, [UNKNOWN], 0),
    (Op.IS_UID_ONLINE, ["u1"], 1),
    (Op.IS_UID_ONLINE, [3], 1),
    (Op.IS_UID_ONLINE, ["nobody"], 0),
    (Op.GET_CLIENT_ID_BY_UID, ["u1"], sorted([C1, C2])),
    (Op.GET_CLIENT_ID_BY_UID, ["nobody"], []),
    (Op.GET_UID_BY_CLIENT_ID, [C3], "3"),
    (Op.GET_UID_BY_CLIENT_ID, [C4], None),
    (Op.GET_UID_BY_CLIENT_ID, [UNKNOWN], None),
    (Op.GET_CLIENT_ID_COUNT_BY_GROUP, ["g"], 2),
    (Op.GET_CLIENT_ID_COUNT_BY_GROUP, ["nobody"], 0),
    (Op.GET_ALL_CLIENT_ID_COUNT, [], 4),
    (Op.GET_CLIENT_ID_LIST_BY_GROUP, ["h"], sorted([C1, C3])),
    (Op.GET_CLIENT_ID_LIST_BY_GROUP, ["nobody"], []),
    (Op.GET_ALL_CLIENT_ID_LIST, [], [C1, C2, C3, C4]),
    (Op.GET_SESSION, [C1], {"name": "ann"}),
    (Op.GET_SESSION, [C4], {}),
    (Op.GET_SESSION, [UNKNOWN], None),
    (Op.IS_UIDS_ONLINE, [["u1", 3, "nobody"]], {"u1": 1, "3": 1, "nobody": 0}),
    (
        Op.BATCH_GET_CLIENT_ID_BY_UID,
        [["u1", 3, "x"]],
        {"u1": sorted([C1, C2]), "3": [C3], "x": []},
    ),
    (Op.BATCH_GET_CLIENT_ID_COUNT_BY_GROUP, [["g", "h", "x"]], {"g": 2, "h": 2, "x": 0}),
    (Op.GET_ALL_GROUP_CLIENT_ID_LIST, [], {"g": sorted([C1, C2]), "h": sorted([C1, C3])}),
    (Op.GET_ALL_GROUP_CLIENT_ID_COUNT, [], {"g": 2, "h": 2}),
    (Op.GET_CLIENT_SESSIONS_BY_GROUP, ["h"], {C1: {"name": "ann"}, C3: {"name": "cy"}}),
    (Op.GET_CLIENT_SESSIONS_BY_GROUP, ["nobody"], {}),
    (
        Op.GET_ALL_CLIENT_SESSIONS,
        [],
        {C1: {"name": "ann"}, C2: {}, C3: {"name": "cy"}, C4: {}},
    ),
    (
        Op.GET_CONNECTIONS,
        [],
        [
            {"client_id": C1, "uid": "u1", "groups": ["g", "h"], "remote": "127.0.0.1:5000",
             "connected_at": 0.0},
            {"client_id": C2, "uid": "u1", "groups": ["g"], "remote": "127.0.0.1:5000",
             "connected_at": 0.0},
            {"client_id": C3, "uid": "3", "groups": ["h"], "remote": "127.0.0.1:5000",
             "connected_at": 0.0},
            {"client_id": C4, "uid": None, "groups": [], "remote": "127.0.0.1:5000",
             "connected_at": 0.0},
        ],
    ),
]  # fmt: skip
# answers whose list order is unspecified (built from sets)
UNORDERED_CASES: list[tuple[Op, list[Any], Any]] = [
    (Op.GET_UID_LIST_BY_GROUP, ["g"], {"u1"}),
    (Op.GET_UID_LIST_BY_GROUP, ["h"], {"u1", "3"}),
    (Op.GET_UID_COUNT_BY_GROUP, ["h"], {"u1", "3"}),  # a list: counted after the union
    (Op.GET_ALL_UID_LIST, [], {"u1", "3"}),
    (Op.GET_ALL_UID_COUNT, [], {"u1", "3"}),  # a list: counted after the union
    (Op.GET_ALL_GROUP_ID_LIST, [], {"g", "h"}),
]
DICT_OF_SETS_CASES: list[tuple[Op, Any]] = [
    (Op.GET_ALL_GROUP_UID_LIST, {"g": {"u1"}, "h": {"u1", "3"}}),
    (Op.GET_ALL_GROUP_UID_COUNT, {"g": {"u1"}, "h": {"u1", "3"}}),
]


def case_id(value: Any) -> str:
    """A case's id, the same in every process (sets sorted: pytest-xdist compares them)."""
    if isinstance(value, Op):
        return value.name
    return json.dumps(value, sort_keys=True, default=sorted, ensure_ascii=False)[:30]


@pytest.mark.parametrize(("op", "args", "expected"), QUERY_CASES, ids=case_id)
def test_query(populated: ClientIndex, op: Op, args: list[Any], expected: Any) -> None:
    assert populated.query(op, args) == expected


@pytest.mark.parametrize(("op", "args", "expected"), UNORDERED_CASES, ids=case_id)
def test_query_unordered(populated: ClientIndex, op: Op, args: list[Any], expected: Any) -> None:
    answer = populated.query(op, args)
    assert isinstance(answer, list)
    assert len(answer) == len(expected)
    assert set(answer) == expected


@pytest.mark.parametrize(("op", "expected"), DICT_OF_SETS_CASES, ids=case_id)
def test_query_dict_of_lists(populated: ClientIndex, op: Op, expected: Any) -> None:
    answer = populated.query(op, [])
    assert all(isinstance(v, list) and len(v) == len(set(v)) for v in answer.values())
    assert as_sets(answer) == expected


def test_every_gateway_query_is_answered_by_query() -> None:
    tested = {op for op, _, _ in QUERY_CASES + UNORDERED_CASES} | {
        op for op, _ in DICT_OF_SETS_CASES
    }
    gateway_queries = {op for op, spec in SPECS.items() if spec.merge is not None}
    # GET_STATUS is the gateway server's own answer, not the index's
    assert tested == gateway_queries - {Op.GET_STATUS}


@pytest.mark.parametrize(
    "op", [Op.GET_STATUS, Op.SEND_TO_ALL, Op.BIND_UID, Op.UNGROUP], ids=lambda op: op.name
)
def test_query_refuses_what_is_not_a_query(op: Op) -> None:
    with pytest.raises(InvalidArgument, match=op.name):
        make_index(C1).query(op, [])


@pytest.mark.parametrize(
    ("op", "args"),
    [
        (Op.IS_UID_ONLINE, [0]),
        (Op.GET_CLIENT_ID_BY_UID, [""]),
        (Op.GET_CLIENT_ID_COUNT_BY_GROUP, [None]),
        (Op.GET_CLIENT_ID_LIST_BY_GROUP, ["0"]),
        (Op.GET_UID_LIST_BY_GROUP, [False]),
        (Op.GET_CLIENT_SESSIONS_BY_GROUP, [1.5]),
    ],
)
def test_query_refuses_invalid_names(op: Op, args: list[Any]) -> None:
    with pytest.raises(InvalidArgument):
        make_index(C1).query(op, args)


def test_query_with_wrong_arity_is_a_type_error() -> None:
    # the gateway server turns TypeError into an error Reply
    with pytest.raises(TypeError):
        make_index(C1).query(Op.IS_ONLINE, [])
    with pytest.raises(TypeError):
        make_index(C1).query(Op.GET_ALL_CLIENT_ID_COUNT, [1])


def test_queries_reflect_removals(populated: ClientIndex) -> None:
    populated.remove(C1)
    assert populated.query(Op.IS_ONLINE, [C1]) == 0
    assert populated.query(Op.GET_CLIENT_ID_BY_UID, ["u1"]) == [C2]
    assert as_sets(populated.query(Op.GET_ALL_GROUP_UID_LIST, [])) == {"g": {"u1"}, "h": {"3"}}
    assert populated.query(Op.GET_ALL_CLIENT_ID_COUNT, []) == 3


# -- two gateways, merged as a worker would -----------------------------------------


def test_answers_of_two_gateways_merge_into_the_cluster_answer() -> None:
    a1, a2 = cid(1, GW_A), cid(2, GW_A)
    b1, b2 = cid(1, GW_B), cid(2, GW_B)
    gw_a, gw_b = make_index(a1, a2), make_index(b1, b2)
    # uid "u" is online on both gateways; group "g" spans both
    for index, client_id, uid, group in (
        (gw_a, a1, "u", "g"),
        (gw_a, a2, "v", "g"),
        (gw_b, b1, "u", "g"),
        (gw_b, b2, "w", "solo"),
    ):
        index.bind_uid(client_id, uid)
        index.join_group(client_id, group)

    def ask(op: Op, *args: Any) -> Any:
        spec = SPECS[op]
        assert spec.merge is not None
        answers = {"a": gw_a.query(op, list(args)), "b": gw_b.query(op, list(args))}
        return ops.merge(spec.merge, answers)

    assert ask(Op.GET_ALL_CLIENT_ID_COUNT) == 4
    assert ask(Op.GET_ALL_UID_COUNT) == 3  # "u" counted once
    assert sorted(ask(Op.GET_ALL_UID_LIST)) == ["u", "v", "w"]
    assert ask(Op.GET_UID_COUNT_BY_GROUP, "g") == 2
    assert ask(Op.GET_CLIENT_ID_COUNT_BY_GROUP, "g") == 3
    assert sorted(ask(Op.GET_CLIENT_ID_BY_UID, "u")) == sorted([a1, b1])
    assert ask(Op.IS_UID_ONLINE, "w") == 1
    assert ask(Op.IS_UIDS_ONLINE, ["u", "w", "x"]) == {"u": 1, "w": 1, "x": 0}
    assert ask(Op.GET_ALL_GROUP_UID_COUNT) == {"g": 2, "solo": 1}
    assert ask(Op.GET_ALL_GROUP_CLIENT_ID_COUNT) == {"g": 3, "solo": 1}
    assert as_sets(ask(Op.GET_ALL_GROUP_UID_LIST)) == {"g": {"u", "v"}, "solo": {"w"}}
    assert as_sets(ask(Op.BATCH_GET_CLIENT_ID_BY_UID, ["u"])) == {"u": {a1, b1}}
    assert ask(Op.BATCH_GET_CLIENT_ID_COUNT_BY_GROUP, ["g", "solo"]) == {"g": 3, "solo": 1}
    assert sorted(ask(Op.GET_ALL_GROUP_ID_LIST)) == ["g", "solo"]
    assert set(ask(Op.GET_ALL_CLIENT_SESSIONS)) == {a1, a2, b1, b2}
