"""In one event loop: per-client order, concurrency between clients, backpressure,
fan-out, and the wire-to-call boundary of the gateway's worker link."""

from __future__ import annotations

import asyncio
import json
import logging
import random

import msgpack
import pytest
import zmq
import zmq.asyncio

from business import AsyncGatewayClient
from common import frames, protocol
from common.exceptions import RemoteError
from common.frames import Op, Role
from tests.harness import UNIT, eventually_async

from . import app
from .harness import cluster, recv_json

pytestmark = pytest.mark.timeout(60 * UNIT)


async def test_a_clients_events_run_in_order_each_with_the_session_before_it() -> None:
    rng = random.Random(7)
    async with cluster(app) as c, c.client() as ws:
        for n in range(1, 31):
            await ws.send(json.dumps({"echo": n, "sleep": rng.choice([0, 0.001, 0.01])}))
        replies = [await recv_json(ws) for _ in range(30)]
    assert [r["echo"] for r in replies] == list(range(1, 31))
    # each handler saw the session the one before it left (None before the first)
    assert [r["session"] for r in replies] == [None, *range(1, 30)]


async def test_clients_do_not_wait_for_each_other() -> None:
    async with cluster(app) as c, c.client() as slow, c.client() as quick:
        await slow.send(json.dumps({"echo": "slow", "sleep": 1.0 * UNIT}))
        await quick.send(json.dumps({"echo": "quick"}))
        replies = [asyncio.create_task(recv_json(ws)) for ws in (slow, quick)]
        done, _ = await asyncio.wait(replies, return_when=asyncio.FIRST_COMPLETED)
        assert [t.result()["echo"] for t in done] == ["quick"]  # not behind the slow one
        assert (await replies[0])["echo"] == "slow"


async def test_a_flooding_client_is_paused_and_loses_nothing() -> None:
    async with cluster(app) as c, c.client() as ws:
        for n in range(300):
            await ws.send(json.dumps({"echo": n, "sleep": 0.0005}))
        replies = [(await recv_json(ws))["echo"] for _ in range(300)]
        assert replies == list(range(300))
        assert c.gateway.dispatcher.counters.paused_clients >= 1  # the backlog filled up: paused
        client = next(iter(c.gateway.index.clients.values()))
        assert not client.paused and not client.backlog and client.inflight == 0


async def test_a_group_send_reaches_each_member_once() -> None:
    async with cluster(app) as c:
        members = [await c.client().__aenter__() for _ in range(50)]
        try:
            for ws in members:
                await ws.send(json.dumps({"join": "g"}))
                assert await recv_json(ws) == {"joined": "g"}
            before = c.gateway.fanout.counters.messages_out
            await members[0].send(json.dumps({"group": "g", "say": "hello all"}))
            for ws in members:
                assert await asyncio.wait_for(ws.recv(), 10 * UNIT) == "hello all"
            assert c.gateway.fanout.counters.messages_out - before == 50
            # and nothing more: a marker sent to each arrives next
            await members[0].send(json.dumps({"group": "g", "say": "marker"}))
            for ws in members:
                assert await asyncio.wait_for(ws.recv(), 10 * UNIT) == "marker"
        finally:
            for ws in members:
                await ws.close()


async def test_bad_arguments_are_the_peers_fault_and_a_handler_bug_is_ours(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with cluster(app) as c, c.client() as ws:
        await ws.send(json.dumps({"join": "g"}))
        await recv_json(ws)
        context = zmq.asyncio.Context()
        sock = context.socket(zmq.DEALER)
        sock.connect(c.gateway.addresses.internal)
        try:
            hello = protocol.encode(frames.Hello(Role.CLIENT, "test", 1))
            bad = protocol.encode(frames.Command(Op.SEND_TO_GROUP, ["g", "not a list", None]))
            good = protocol.encode(frames.Command(Op.SEND_TO_GROUP, [["g"], "after bad", None]))
            await sock.send(hello + bad + good)  # one batch: the bad frame costs only itself
            assert await asyncio.wait_for(ws.recv(), 10 * UNIT) == "after bad"
            counted = c.gateway.workers.counters
            assert counted.bad_frames == 1 and counted.errors == 0
            assert "refused Command" in caplog.text

            def bug(*args: object) -> None:
                raise KeyError("a bug of ours")

            c.gateway.commands.table[Op.UNGROUP] = bug
            ours = protocol.encode(frames.Command(Op.UNGROUP, ["g"]))
            await sock.send(ours + good)
            assert await asyncio.wait_for(ws.recv(), 10 * UNIT) == "after bad"
            assert counted.errors == 1 and counted.bad_frames == 1
            failed = [r for r in caplog.records if "failed to run Command" in r.getMessage()]
            assert failed and failed[0].exc_info is not None  # logged with its traceback
            assert failed[0].levelno == logging.ERROR
        finally:
            sock.close(linger=0)
            context.term()


async def test_a_gateways_error_reply_is_a_remote_error() -> None:
    async with cluster(app) as c, AsyncGatewayClient(c.register.address, timeout=5) as push:
        await eventually_async(lambda: push.gateways)
        # the API refuses 0 itself; a raw query reaches the gateway, which refuses it
        _answers, missing, error = await push.cluster.query(
            Op.GET_CLIENT_ID_COUNT_BY_GROUP, [0], [c.gateway.addresses.internal], 5
        )
        assert missing == () and error is not None and "not a valid id" in error
        with pytest.raises(RemoteError, match="GET_CLIENT_ID_COUNT_BY_GROUP"):
            await push._ask(Op.GET_CLIENT_ID_COUNT_BY_GROUP, 0)
        assert c.gateway.workers.counters.bad_frames >= 1


def test_raw_frames_are_the_documented_wire_layout() -> None:
    # what the test above sends by hand is what the protocol documents
    frame = frames.Command(Op.UNGROUP, ["g"])
    assert msgpack.unpackb(protocol.encode(frame)) == [protocol.VERSION, 30, 10, ["g"]]
