"""Every Gateway API call, on two gateways and two workers in this process, checked by
what clients see (the probe app drives the API: tests/cluster/apps/probe.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.cluster.client import Probe
from tests.harness import ws_url

from .harness import Running, Services

APP = "tests.cluster.apps.probe"


@dataclass
class Topology:
    gw1: Running
    gw2: Running
    a1: Probe  # on gw1
    a2: Probe  # on gw1
    b1: Probe  # on gw2


@pytest.fixture
async def topo(gw: Services) -> AsyncIterator[Topology]:
    register = await gw.register()
    gw1, gw2 = await gw.gateway(register), await gw.gateway(register)
    await gw.worker(register, APP, count=2)
    a1, a2, b1 = await Probe.open(gw1), await Probe.open(gw1), await Probe.open(gw2)
    # both workers know both gateways before the test starts
    for probe in (a1, b1):
        while len((await probe.call("get_status"))["result"]) < 2:
            pass
    yield Topology(gw1, gw2, a1, a2, b1)
    for probe in (a1, a2, b1):
        await probe.close()


def gateway_of(probe: Probe) -> str:
    return probe.client_id[:12]


async def test_client_ids_encode_their_gateway(topo: Topology) -> None:
    assert gateway_of(topo.a1) == gateway_of(topo.a2) != gateway_of(topo.b1)
    assert len(topo.a1.client_id) == 28
    assert topo.a1.client_id != topo.a2.client_id


async def test_send_to_all_reaches_both_gateways(topo: Topology) -> None:
    await topo.a1.call("send_to_all", "to everyone")
    assert await topo.a2.recv() == "to everyone"
    assert await topo.b1.recv() == "to everyone"
    # the caller gets it too, before its reply
    assert await topo.a1.recv() == "to everyone"


async def test_send_to_all_with_client_ids_and_exclude(topo: Topology) -> None:
    t = topo
    await t.a1.call("send_to_all", "listed", [t.a2.client_id, t.b1.client_id])
    assert await t.a2.recv() == "listed"
    assert await t.b1.recv() == "listed"
    await t.a1.call("send_to_all", "not to b1", None, [t.b1.client_id, t.a1.client_id])
    assert await t.a2.recv() == "not to b1"
    assert await t.b1.barrier(t.a1) == []
    assert await t.a1.barrier(t.a1) == []


async def test_send_to_client_and_current_client(topo: Topology) -> None:
    t = topo
    await t.a1.call("send_to_client", t.b1.client_id, "hi b1")
    assert await t.b1.recv() == "hi b1"
    assert await t.a2.barrier(t.a1) == []
    await t.a1.call("send_to_current_client", {"json": "ok", "中文": 1})
    assert json.loads(await t.a1.recv()) == {"json": "ok", "中文": 1}


async def test_send_to_offline_client_is_dropped_silently(topo: Topology) -> None:
    gone = topo.a2.client_id
    await topo.a2.close()
    reply = await topo.a1.call("send_to_client", gone, "nobody")
    assert reply == {"result": None, "missing": []}
    assert await topo.a1.result("is_online", gone) == 0


async def test_binary_frames_stay_binary(topo: Topology) -> None:
    await topo.a1.ws.send(b"\x00\x01binary")
    assert await topo.a1.recv() == b"\x00\x01binary"


async def test_close_client_sends_then_closes(topo: Topology) -> None:
    t = topo
    await t.a1.call("close_client", t.b1.client_id, "bye")
    assert await t.b1.recv() == "bye"
    with pytest.raises(ConnectionClosed) as closed:
        await t.b1.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


async def test_destroy_client_drops_without_handshake(topo: Topology) -> None:
    await topo.a1.call("destroy_client", topo.a2.client_id)
    with pytest.raises(ConnectionClosed) as closed:
        await topo.a2.recv()
    assert closed.value.rcvd is None  # no close frame: the TCP connection was dropped


async def test_is_online(topo: Topology) -> None:
    assert await topo.a1.result("is_online", topo.b1.client_id) == 1
    assert await topo.a1.result("is_online", topo.a1.client_id) == 1
    assert await topo.a1.result("is_online", topo.b1.client_id[:-1] + "f") == 0


async def test_uids_across_gateways(topo: Topology) -> None:
    t = topo
    await t.a1.call("bind_uid", t.a1.client_id, "alice")
    await t.a1.call("bind_uid", t.b1.client_id, "alice")  # two connections, two gateways
    await t.a1.call("bind_uid", t.a2.client_id, 42)
    assert await t.a1.result("is_uid_online", "alice") == 1
    assert await t.a1.result("is_uid_online", "nobody") == 0
    assert sorted(await t.a1.result("get_client_id_by_uid", "alice")) == sorted(
        [t.a1.client_id, t.b1.client_id]
    )
    assert await t.a1.result("get_uid_by_client_id", t.a2.client_id) == "42"
    assert await t.a1.result("get_uid_by_client_id", t.a1.client_id) == "alice"
    assert sorted(await t.a1.result("get_all_uid_list")) == ["42", "alice"]
    assert await t.a1.result("get_all_uid_count") == 2  # alice counted once
    await t.a1.call("send_to_uid", "alice", "to alice")
    assert await t.a1.recv() == "to alice"
    assert await t.b1.recv() == "to alice"
    assert await t.a2.barrier(t.a1) == []
    await t.a1.call("send_to_uid", ["alice", "42"], "to both uids")
    for probe in (t.a1, t.a2, t.b1):
        assert await probe.recv() == "to both uids"
    await t.a1.call("unbind_uid", t.b1.client_id, "alice")
    assert await t.a1.result("get_client_id_by_uid", "alice") == [t.a1.client_id]
    assert await t.a1.result("get_uid_by_client_id", t.b1.client_id) is None


async def test_uid_is_unbound_on_close(topo: Topology) -> None:
    await topo.a1.call("bind_uid", topo.b1.client_id, "bob")
    await topo.b1.close()
    assert await topo.a1.result("is_uid_online", "bob") == 0


async def test_groups_across_gateways(topo: Topology) -> None:
    t = topo
    for probe in (t.a1, t.a2, t.b1):
        await t.a1.call("join_group", probe.client_id, 100)
    await t.a1.call("join_group", t.b1.client_id, "200")
    await t.a1.call("bind_uid", t.a2.client_id, "u2")
    await t.a1.call("bind_uid", t.b1.client_id, "u3")
    assert await t.a1.result("get_client_id_count_by_group", "100") == 3
    assert await t.a1.result("get_client_count_by_group", 100) == 3
    assert sorted(await t.a1.result("get_client_id_list_by_group", 100)) == sorted(
        p.client_id for p in (t.a1, t.a2, t.b1)
    )
    assert sorted(await t.a1.result("get_uid_list_by_group", 100)) == ["u2", "u3"]
    assert await t.a1.result("get_uid_count_by_group", 100) == 2
    assert sorted(await t.a1.result("get_all_group_id_list")) == ["100", "200"]
    assert await t.a1.result("get_all_group_client_id_count") == {"100": 3, "200": 1}
    uid_lists = await t.a1.result("get_all_group_uid_list")
    assert {g: sorted(u) for g, u in uid_lists.items()} == {"100": ["u2", "u3"], "200": ["u3"]}
    assert await t.a1.result("get_all_group_uid_count") == {"100": 2, "200": 1}
    lists = await t.a1.result("get_all_group_client_id_list")
    assert sorted(lists["100"]) == sorted(p.client_id for p in (t.a1, t.a2, t.b1))
    assert lists["200"] == [t.b1.client_id]
    await t.a1.call("send_to_group", 100, "to 100", [t.a2.client_id])
    assert await t.a1.recv() == "to 100"
    assert await t.b1.recv() == "to 100"
    assert await t.a2.barrier(t.a1) == []
    await t.a1.call("send_to_group", ["200", 100], "to both groups")
    for probe in (t.a1, t.a2, t.b1):
        assert await probe.recv() == "to both groups"  # once, though b1 is in both
    assert await t.b1.barrier(t.a1) == []
    await t.a1.call("leave_group", t.b1.client_id, "200")
    assert await t.a1.result("get_client_id_count_by_group", 200) == 0
    assert "200" not in await t.a1.result("get_all_group_id_list")  # empty groups vanish
    await t.a1.call("ungroup", 100)
    assert await t.a1.result("get_all_group_id_list") == []
    await t.a1.call("send_to_group", 100, "after ungroup")
    assert await t.b1.barrier(t.a1) == []


async def test_invalid_group_ids_are_refused(topo: Topology) -> None:
    for bad in (0, "", None, "0"):
        reply = await topo.a1.call("join_group", topo.a1.client_id, bad)
        assert reply["error"].startswith("InvalidArgument"), reply


async def test_counts_and_lists_of_everything(topo: Topology) -> None:
    t = topo
    assert await t.a1.result("get_all_client_id_count") == 3
    assert await t.a1.result("get_all_client_count") == 3
    assert sorted(await t.a1.result("get_all_client_id_list")) == sorted(
        p.client_id for p in (t.a1, t.a2, t.b1)
    )


async def test_sessions_set_update_get(topo: Topology) -> None:
    t = topo
    await t.a1.call("set_session", t.b1.client_id, {"name": "b", "n": 1})
    assert await t.a1.result("get_session", t.b1.client_id) == {"name": "b", "n": 1}
    await t.a1.call("update_session", t.b1.client_id, {"n": 2, "extra": [1, 2]})
    assert await t.a1.result("get_session", t.b1.client_id) == {
        "name": "b",
        "n": 2,
        "extra": [1, 2],
    }
    await t.b1.send({"get_session": True})
    seen = (await t.b1.json())["session"]
    assert seen["name"] == "b" and seen["n"] == 2  # the handler sees the gateway's copy
    await t.a1.call("join_group", t.b1.client_id, 7)
    await t.a1.call("join_group", t.a1.client_id, 7)
    sessions = await t.a1.result("get_client_sessions_by_group", 7)
    assert set(sessions) == {t.a1.client_id, t.b1.client_id}
    assert sessions[t.b1.client_id]["n"] == 2
    everything = await t.a1.result("get_all_client_sessions")
    assert set(everything) == {p.client_id for p in (t.a1, t.a2, t.b1)}
    assert await t.a1.result("get_session", t.b1.client_id[:-1] + "f") is None


async def test_session_written_in_one_event_is_read_in_the_next(topo: Topology) -> None:
    await topo.a1.send({"session": {"step": 1, "nested": {"a": [1]}}})
    assert await topo.a1.json() == {"ok": True}
    await topo.a1.send({"session": {"step": 2}, "delete": ["nested"]})
    assert await topo.a1.json() == {"ok": True}
    await topo.a1.send({"get_session": True})
    session = (await topo.a1.json())["session"]
    assert session["step"] == 2 and "nested" not in session
    assert session["path"] == "/"  # written by on_websocket_connect
    assert "connected_by" in session  # written by on_connect
    # and the gateway's copy agrees
    assert (await topo.b1.result("get_session", topo.a1.client_id))["step"] == 2


async def test_batch_queries(topo: Topology) -> None:
    t = topo
    await t.a1.call("bind_uid", t.b1.client_id, "u1")
    await t.a1.call("join_group", t.b1.client_id, 5)
    await t.a1.call("join_group", t.a1.client_id, 5)
    assert await t.a1.result("is_uids_online", ["u1", "u9"]) == {"u1": 1, "u9": 0}
    assert await t.a1.result("batch_get_client_id_by_uid", ["u1", "u9"]) == {
        "u1": [t.b1.client_id],
        "u9": [],
    }
    assert await t.a1.result("batch_get_client_id_count_by_group", [5, 6]) == {"5": 2, "6": 0}


async def test_single_client_commands_reach_only_the_owning_gateway(topo: Topology) -> None:
    t = topo
    before = await t.a1.result("get_status")
    await t.a1.call("send_to_client", t.b1.client_id, "one")
    await t.a1.call("bind_uid", t.b1.client_id, "x")
    await t.a1.call("join_group", t.b1.client_id, 9)
    await t.a1.call("update_session", t.b1.client_id, {"k": 1})
    assert await t.b1.recv() == "one"
    after = await t.a1.result("get_status")
    gw1, gw2 = t.gw1.info["internal"], t.gw2.info["internal"]

    def delta(gateway: str, op: str, old: dict, new: dict) -> int:
        return new[gateway]["commands_by_op"].get(op, 0) - old[gateway]["commands_by_op"].get(op, 0)

    for op in ("SEND_TO_CLIENT", "BIND_UID", "JOIN_GROUP", "UPDATE_SESSION"):
        assert delta(gw2, op, before, after) == 1, op
    for op in ("BIND_UID", "JOIN_GROUP", "UPDATE_SESSION"):
        assert delta(gw1, op, before, after) == 0, op
    # gw1 only carried a1's own replies (send_to_current_client), one per call
    assert delta(gw1, "SEND_TO_CLIENT", before, after) == 5
    await t.a1.call("send_to_group", 9, "group")
    assert await t.b1.recv() == "group"
    final = await t.a1.result("get_status")
    assert delta(gw1, "SEND_TO_GROUP", after, final) == 1  # "all" commands go everywhere
    assert delta(gw2, "SEND_TO_GROUP", after, final) == 1


async def test_request_data_reaches_on_websocket_connect(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register)
    await gw.worker(register, APP)
    probe = await Probe.open(
        gateway,
        "/chat?room=100&name=%E4%B8%AD",
        additional_headers={"Cookie": "token=abc; lang=zh", "X-Forwarded-For": "203.0.113.9"},
        user_agent_header="probe-agent/1.0",
    )
    info = probe.info
    assert info["path"] == "/chat"
    assert info["query"] == {"room": "100", "name": "中"}
    assert info["cookies"] == {"token": "abc", "lang": "zh"}
    assert info["remote"] == "127.0.0.1"
    assert info["user_agent"] == "probe-agent/1.0"
    assert info["gateway_port"] == int(gateway.info["websocket"].rsplit(":", 1)[1])
    assert info["current_gateway"] == gateway.info["internal"]
    assert info["current_public"].endswith(gateway.info["websocket"])  # its ws:// address
    assert info["current_remote"].startswith("127.0.0.1:")
    await probe.close()


async def test_on_close_sees_the_session(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register)
    await gw.worker(register, APP)
    observer = await Probe.open(gateway, "/?uid=observer")
    leaver = await Probe.open(gateway, "/leaving")
    await leaver.send({"session": {"nick": "z"}})
    assert await leaver.json() == {"ok": True}
    await leaver.close()
    event = await observer.json()
    assert event["event"] == "close" and event["client_id"] == leaver.client_id
    assert event["session"]["nick"] == "z" and event["session"]["path"] == "/leaving"
    await observer.close()


async def test_close_and_destroy_current_client(topo: Topology) -> None:
    await topo.a1.send({"call": "close_current_client", "args": ["bye now"], "reply": False})
    assert await topo.a1.recv() == "bye now"
    with pytest.raises(ConnectionClosed) as closed:
        await topo.a1.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    await topo.b1.send({"call": "destroy_current_client", "reply": False})
    with pytest.raises(ConnectionClosed) as destroyed:
        await topo.b1.recv()
    assert destroyed.value.rcvd is None
    assert await topo.a2.result("get_all_client_id_count") == 1


async def test_on_websocket_connect_can_refuse_a_client(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register)
    await gw.worker(register, APP)
    async with connect(ws_url(gateway, "/?reject=1")) as ws:
        assert "welcome" in json.loads(await ws.recv())
        assert json.loads(await ws.recv()) == {"rejected": True}
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1000
