"""gw api: every Gateway API call over HTTP, against real gw processes and real clients."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed

from business.httpapi.calls import CALLS, MAX_BATCH
from common import ids
from tests.cluster.client import Probe
from tests.cluster.httpapi import KEY, Answer, HttpApi, start_api
from tests.harness import UNIT, Cluster, closed_within

APP = "tests.cluster.apps.probe"


async def test_every_call_over_http(gw: Cluster) -> None:
    register = gw.register()
    gw1, gw2 = gw.gateway(register), gw.gateway(register)
    gw.worker(register, APP)
    api = start_api(gw, register)
    a, b = await Probe.open(gw1), await Probe.open(gw2)
    async with HttpApi(api) as http:
        # membership, on both gateways
        assert (await http.call("join_group", client_id=a.client_id, group=100)).result is None
        await http.result("join_group", client_id=b.client_id, group="100")
        await http.result("join_group", client_id=b.client_id, group="other")
        await http.result("bind_uid", client_id=a.client_id, uid="alice")
        await http.result("bind_uid", client_id=b.client_id, uid=7)
        # sends: each reaches who it names, a JSON object as JSON text
        await http.result("send_to_group", group=100, message={"action_type": "new_msg"})
        assert await a.json() == {"action_type": "new_msg"} == await b.json()
        await http.result("send_to_group", group=[100], message="not b", exclude=[b.client_id])
        await http.result("send_to_uid", uid="7", message="to 7")
        await http.result("send_to_uid", uid=["alice", 7], message="to both")
        await http.result("send_to_client", client_id=a.client_id, message="direct")
        await http.result("send_to_all", message="only a", client_ids=[a.client_id])
        await http.result("send_to_all", message="all but a", exclude=[a.client_id])
        await http.result("send_to_all", message=["everyone"])
        assert [await a.recv() for _ in range(5)] == [
            "not b",
            "to both",
            "direct",
            "only a",
            '["everyone"]',
        ]
        assert [await b.recv() for _ in range(3)] == ["to 7", "to both", "all but a"]
        assert await b.recv() == '["everyone"]'
        # sessions
        await http.result("set_session", client_id=a.client_id, session={"nick": "李"})
        await http.result("update_session", client_id=a.client_id, session={"level": 3})
        assert await http.result("get_session", client_id=a.client_id) == {"nick": "李", "level": 3}
        # queries that ask one gateway...
        assert await http.result("is_online", client_id=b.client_id) == 1
        assert await http.result("get_uid_by_client_id", client_id=b.client_id) == "7"
        # ...and every gateway: merged, with "missing" (empty: both answered)
        assert await http.result("is_uid_online", uid="alice") == 1
        assert await http.result("get_client_id_by_uid", uid=7) == [b.client_id]
        assert await http.result("get_client_id_count_by_group", group=100) == 2
        assert sorted(await http.result("get_client_id_list_by_group", group=100)) == sorted(
            [a.client_id, b.client_id]
        )
        assert sorted(await http.result("get_uid_list_by_group", group=100)) == ["7", "alice"]
        assert await http.result("get_uid_count_by_group", group=100) == 2
        assert await http.result("get_all_client_id_count") == 2
        assert sorted(await http.result("get_all_client_id_list")) == sorted(
            [a.client_id, b.client_id]
        )
        assert sorted(await http.result("get_all_uid_list")) == ["7", "alice"]
        assert await http.result("get_all_uid_count") == 2
        assert sorted(await http.result("get_all_group_id_list")) == ["100", "other"]
        uids = await http.result("get_all_group_uid_list")
        assert {k: sorted(v) for k, v in uids.items()} == {"100": ["7", "alice"], "other": ["7"]}
        members = await http.result("get_all_group_client_id_list")
        assert members["other"] == [b.client_id] and len(members["100"]) == 2
        assert await http.result("get_all_group_uid_count") == {"100": 2, "other": 1}
        assert await http.result("get_all_group_client_id_count") == {"100": 2, "other": 1}
        sessions = await http.result("get_client_sessions_by_group", group="other")
        assert list(sessions) == [b.client_id]
        everyone = await http.result("get_all_client_sessions", timeout=2)
        assert everyone[a.client_id]["nick"] == "李" and set(everyone) == {a.client_id, b.client_id}
        assert await http.result("is_uids_online", uids=["alice", "bob"]) == {"alice": 1, "bob": 0}
        assert await http.result("batch_get_client_id_by_uid", uids="alice") == {
            "alice": [a.client_id]
        }
        assert await http.result("batch_get_client_id_count_by_group", groups=[100, "none"]) == {
            "100": 2,
            "none": 0,
        }
        # undoing
        await http.result("leave_group", client_id=b.client_id, group="other")
        await http.result("unbind_uid", client_id=a.client_id, uid="alice")
        await http.result("ungroup", group=100)
        assert await http.result("get_all_group_id_list") == []
        assert await http.result("get_all_uid_list") == ["7"]
        # closing: with a last message (1000), and at once (no close frame)
        await http.result("close_client", client_id=a.client_id, message={"bye": True})
        assert await a.json() == {"bye": True}
        with pytest.raises(ConnectionClosed) as closed:
            await a.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        await http.result("destroy_client", client_id=b.client_id)
        with pytest.raises(ConnectionClosed) as dropped:
            await b.recv()
        assert dropped.value.rcvd is None  # no close frame
        assert await http.result("is_online", client_id=b.client_id) == 0
        assert set(http.made) == set(CALLS)  # every one of the 36


async def test_a_batch_is_done_in_order_and_a_failed_call_does_not_stop_it(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, APP)
    api = start_api(gw, register)
    probe = await Probe.open(gateway)
    async with HttpApi(api) as http:
        sends = [
            {"call": "send_to_client", "args": {"client_id": probe.client_id, "message": str(n)}}
            for n in range(5000)
        ]
        answer = await http.batch(sends)
        assert answer.status == 200 and answer.json == [{"result": None}] * 5000
        assert [await probe.recv() for _ in range(5000)] == [str(n) for n in range(5000)]
        mixed = [
            {"call": "join_group", "args": {"client_id": probe.client_id, "group": "g"}},
            {"call": "no_such_call", "args": {}},
            {"call": "join_group", "args": {"client_id": probe.client_id, "group": 0}},
            {"call": "get_client_id_count_by_group", "args": {"group": "g"}},
            "not an object",
            {"call": "get_all_uid_count"},  # args may be left out
            {"call": "send_to_group", "args": {"group": "g", "message": "last"}},
            # a send to one client off the usual path (bound argument by argument):
            {
                "call": "send_to_client",
                "args": {"client_id": probe.client_id, "message": {"k": "对"}},
            },
            {"call": "send_to_client", "args": {"client_id": probe.client_id}, "and": 1},
        ]
        replies = (await http.batch(mixed)).json
        assert replies[0] == {"result": None}
        assert (
            replies[1]["error"]["code"] == "unknown_call" and replies[1]["error"]["status"] == 404
        )
        assert replies[2]["error"]["code"] == "invalid_argument"
        assert "'group': 0 is not a valid id" in replies[2]["error"]["message"]
        assert replies[3] == {"result": 1, "missing": []}  # the join before it was done
        assert replies[4]["error"]["status"] == 400
        assert replies[5] == {"result": 0, "missing": []}
        assert replies[6] == {"result": None} and await probe.recv() == "last"
        assert replies[7] == {"result": None} and await probe.recv() == '{"k":"对"}'
        assert replies[8]["error"]["code"] == "invalid_argument"
        assert len(replies) == len(mixed)
        # sends to one client find their gateway once per batch: a forged gateway's id
        # is refused each time, whatever came between, and the others still go
        forged = ids.encode("10.9.9.9", 2900, 1, 1)
        to = [forged, probe.client_id, None, forged, probe.client_id]
        more = [
            {"call": "send_to_client", "args": {"client_id": cid, "message": f"m{n}"}}
            if cid
            else {"call": "is_online", "args": {"client_id": probe.client_id}}
            for n, cid in enumerate(to)
        ]
        replies = (await http.batch(more)).json
        codes = [r["error"]["code"] if "error" in r else None for r in replies]
        assert codes == ["unknown_gateway", None, None, "unknown_gateway", None], replies
        assert replies[2] == {"result": 1}
        assert [await probe.recv() for _ in range(2)] == ["m1", "m4"]
        too_many = await http.batch([{"call": "get_all_uid_count"}] * (MAX_BATCH + 1))
        assert too_many.status == 413 and too_many.code == "batch_too_large"
        queries = await http.batch([{"call": "get_all_uid_count"}] * 101)
        assert queries.status == 413 and "101 queries" in queries.message
        not_a_list = await http.batch({"call": "get_all_uid_count"})  # type: ignore[arg-type]
        assert not_a_list.status == 400 and not_a_list.code == "bad_json"
        # every call inside a batch counted, by call and status (the usual ones too)
        metrics = (await http.get("/metrics")).text
        counted = 'gw_api_batched_calls_total{call="send_to_client",status="%s"} %s'
        assert counted % (200, "5003.0") in metrics  # 5000, the object message, m1, m4
        assert counted % (400, "2.0") in metrics  # the forged gateway's, twice
        assert 'gw_api_batched_calls_total{call="join_group",status="400"} 1.0' in metrics


async def test_bad_input_gets_a_clear_error_and_nothing_else(gw: Cluster) -> None:
    register = gw.register()
    gateway = gw.gateway(register)
    gw.worker(register, APP)
    api = start_api(gw, register, "--max-body", "2048")
    probe = await Probe.open(gateway)
    async with HttpApi(api) as http:

        async def refused(status: int, code: str, answer_of: object) -> str:
            answer = await answer_of  # type: ignore[misc]
            assert (answer.status, answer.code) == (status, code), answer
            return str(answer.message)

        post = http.request
        assert "not JSON" in await refused(
            400, "bad_json", post("POST", "/api/v1/send_to_all", b'{"message": "x"')
        )
        assert "not JSON" in await refused(
            400, "bad_json", post("POST", "/api/v1/send_to_all", b"\xff\xfe{")
        )
        assert "JSON object, not an array" in await refused(
            400, "invalid_argument", post("POST", "/api/v1/send_to_all", b"[1]")
        )
        message = await refused(
            400, "invalid_argument", http.call("send_to_uid", uid={}, message="x")
        )
        assert "argument 'uid'" in message and "an id is a string or an integer" in message
        assert "unknown argument 'colour'" in await refused(
            400, "invalid_argument", http.call("send_to_all", message="x", colour="red")
        )
        assert "argument 'client_id': missing" in await refused(
            400, "invalid_argument", http.call("is_online")
        )
        forged = "0a000009" + "0b54" + "0" * 16  # 10.0.0.9:2900, no such gateway
        assert "tcp://10.0.0.9:2900, which is not in the cluster" in await refused(
            400, "unknown_gateway", http.call("send_to_client", client_id=forged, message="x")
        )
        assert "did you mean send_to_uid" in await refused(
            404, "unknown_call", http.call("send_to_uids", uid=1, message="x")
        )
        await refused(404, "not_found", http.get("/nowhere"))
        get = await http.request("GET", "/api/v1/send_to_all")
        assert (get.status, get.code, get.headers["Allow"]) == (405, "method_not_allowed", "POST")
        huge = json.dumps({"message": "x" * 4096}).encode()
        assert "over 2048 bytes" in await refused(
            413, "too_large", post("POST", "/api/v1/send_to_all", huge)
        )

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as read
            yield b'{"message": "'
            for _ in range(8):
                yield b"x" * 1024
            yield b'"}'

        assert http.session is not None
        async with http.session.post(
            f"{http.base}/api/v1/send_to_all",
            data=chunks(),
            headers={"Authorization": f"Bearer {KEY}"},
        ) as streamed:
            assert streamed.status == 413
            assert (await streamed.json())["error"]["code"] == "too_large"
        # what the json module would take but no client could be sent
        for body, why in (
            (b'{"message": {"a": NaN}}', "NaN is not JSON"),
            (b'{"uid": "\\ud800", "message": "x"}', "lone surrogate"),
        ):
            assert why in await refused(400, "bad_json", post("POST", "/api/v1/send_to_uid", body))
        # a malformed request: answered 400 by aiohttp, a line a second, never its headers
        host, port = http.base.removeprefix("http://").rsplit(":", 1)
        for _ in range(10):
            reader, writer = await asyncio.open_connection(host, int(port))
            bad_header = f"Authorization: Bearer {KEY}\x01"  # a control character
            writer.write(f"POST /api/v1/send_to_all HTTP/1.1\r\n{bad_header}\r\n\r\n".encode())
            assert (await asyncio.wait_for(reader.readline(), 10 * UNIT)).split()[1] == b"400"
            writer.close()
            await writer.wait_closed()
        # a client that goes away before its body ends: a warning, not a bug's traceback
        host, port = http.base.removeprefix("http://").rsplit(":", 1)
        _, writer = await asyncio.open_connection(host, int(port))
        head = f"POST /api/v1/send_to_all HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {KEY}"
        writer.write(f'{head}\r\nContent-Length: 100\r\n\r\n{{"message": "x'.encode())
        await writer.drain()
        for _ in range(int(200 * UNIT)):  # until its handler waits for the rest
            if "gw_api_requests_in_progress 1.0" in (await http.get("/metrics")).text:
                break
            await asyncio.sleep(0.05)
        writer.close()
        await writer.wait_closed()
        api.wait_log("400 send_to_all from 127.0.0.1: the client went away before its body ended")
        # nothing of it reached a client, and the API still serves
        await http.result("send_to_client", client_id=probe.client_id, message="after")
        assert await probe.recv() == "after"
    # each kind logged, at most once a second: not once per request (10 were 400s)
    logs = api.logs()
    lines = [line for line in logs.splitlines() if " 400 " in line]
    assert 1 <= len(lines) < 10, lines
    assert logs.count("404 unknown from 127.0.0.1: no call 'send_to_uids'") == 1
    assert "Traceback" not in logs and "a bug" not in logs and KEY not in logs
    assert 1 <= logs.count("answered a malformed HTTP request from 127.0.0.1: 400") <= 3


async def test_silent_and_dripping_connections_are_closed(gw: Cluster) -> None:
    """--idle-timeout: no complete request in that time (nothing sent, or a request head
    dripped a byte at a time) and the connection is closed; others are served.
    --max-connections-per-ip: past it, a connection is closed as it is accepted."""
    register = gw.register()
    gw.gateway(register)
    api = start_api(gw, register, "--idle-timeout", "1", "--max-connections-per-ip", "3")
    url = f"http://{api.info['listen']}"
    silent = await closed_within(url, 10 * UNIT)
    head = f"POST /api/v1/get_all_client_id_count HTTP/1.1\r\nAuthorization: Bearer {KEY}"
    dripping = await closed_within(url, 10 * UNIT, head.encode())
    assert 0.9 < silent < 5 * UNIT and 0.9 < dripping < 5 * UNIT, (silent, dripping)
    host, port = api.info["listen"].rsplit(":", 1)
    held = [await asyncio.open_connection(host, int(port)) for _ in range(3)]
    assert await closed_within(url, 5 * UNIT) < 0.9  # a fourth: at once, not when idle
    api.wait_log("refused a connection from 127.0.0.1: it holds 3 already")
    for _, writer in held:
        writer.close()
        await writer.wait_closed()
    deadline = time.monotonic() + 10 * UNIT
    while True:  # (until the API has seen them go)
        try:
            async with HttpApi(api) as http:
                assert (await http.call("get_all_client_id_count")).status == 200
                break
        except aiohttp.ClientConnectionError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)


async def test_keys_rotate_and_never_show(gw: Cluster) -> None:
    register = gw.register()
    gw.gateway(register)
    old, new = KEY, "rotated-api-key-abcdef0123456789"
    # two keys at once (--api-key repeated; GW_API_KEY takes them comma-separated)
    api = start_api(
        gw, register, "--api-key", old, "--api-key", new, "--log-level", "debug", key=None
    )
    async with HttpApi(api) as http:
        assert (await http.call("get_all_uid_count")).status == 200
        assert (await http.call("get_all_uid_count", _key=new)).status == 200
        apikey = await http.request(
            "POST", "/api/v1/get_all_uid_count", headers={"Authorization": f"apikey {new}"}
        )
        assert apikey.status == 200
        missing = await http.call("get_all_uid_count", _key=None)
        assert (missing.status, missing.code) == (401, "unauthorized")
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert "no Authorization header" in missing.message
        wrong = await http.call("get_all_uid_count", _key=old[:-1] + "X")
        assert (wrong.status, wrong.message) == (401, "wrong API key")
        basic = await http.request(
            "POST", "/api/v1/get_all_uid_count", headers={"Authorization": f"Basic {old}"}
        )
        assert basic.status == 401 and "'Bearer <key>' or 'apikey <key>'" in basic.message
        # an unknown call is not revealed without a key
        assert (await http.call("no_such_call", _key=None)).status == 401
        # a flood of wrong keys from one address: 429 past a burst
        statuses = [
            (await http.call("get_all_uid_count", _key="guess" * 4)).status for _ in range(40)
        ]
        assert 401 in statuses and statuses[-1] == 429
        assert (await http.call("get_all_uid_count")).status == 200  # a good key still passes
    logs = api.logs()
    assert "API keys: 2" in logs
    for secret in (old, new, old[:-1] + "X", old[:12], new[:12]):
        assert secret not in logs
    # the first refusal of each kind is logged, the next ones within a second are held
    assert logs.count("401 get_all_uid_count from 127.0.0.1: no Authorization header") == 1
    assert logs.count(" 401 ") < 10


async def test_a_flood_of_requests_gets_429_per_key(gw: Cluster) -> None:
    register = gw.register()
    gw.gateway(register)
    other = "second-api-key-0123456789abcdef"
    api = start_api(gw, register, "--rate-limit", "5", env={"GW_API_KEY": f"{KEY},{other}"})
    async with HttpApi(api) as http:
        answers = [await http.call("get_all_uid_count") for _ in range(30)]
        statuses = [a.status for a in answers]
        # a burst of 2 x 5, then about 5 a second: most of 30 quick requests are refused
        assert statuses[:5] == [200] * 5 and statuses.count(429) >= 10, statuses
        limited = next(a for a in answers if a.status == 429)
        assert limited.code == "rate_limited" and limited.headers["Retry-After"] == "1"
        assert "over 5 requests a second (--rate-limit) for this key" in limited.message
        assert (await http.call("get_all_uid_count", _key=other)).status == 200  # its own bucket
    assert api.logs().count("429 get_all_uid_count from 127.0.0.1") <= 3


def test_no_key_no_start_unless_loopback_and_insecure(gw: Cluster) -> None:
    register = gw.register()
    address = register.info["listen"]
    refused = start_api(gw, register, key=None, ready=False)
    assert refused.proc.wait(30 * UNIT) == 2  # a refusal to start, as every role's
    assert "no API key: give --api-key or GW_API_KEY" in refused.logs()
    exposed = gw.start(
        "api", "--listen", "0.0.0.0:0", "--register", address, "--insecure", ready=False
    )
    assert exposed.proc.wait(30 * UNIT) == 2
    assert "loopback address only, not on 0.0.0.0" in exposed.logs()
    weak = "weak-Xq9"
    short = start_api(gw, register, key=weak, ready=False)
    assert short.proc.wait(30 * UNIT) == 2 and "API key #1 is not a key" in short.logs()
    assert weak not in short.logs()
    open_api = start_api(gw, register, "--insecure", key=None)
    assert open_api.info["role"] == "api" and open_api.info["listen"].startswith("127.0.0.1:")


async def test_no_gateway_is_503_until_the_cluster_answers(gw: Cluster) -> None:
    from tests.harness import free_port

    port = free_port()
    # no register there yet: it starts anyway, after waiting --query-timeout for one
    api = start_api(gw, f"127.0.0.1:{port}", "--query-timeout", "1")
    async with HttpApi(api) as http:
        ready = await http.get("/readyz")
        assert ready.status == 503 and "no register has answered" in ready.text
        assert (await http.get("/healthz")).status == 200
        answer = await http.call("send_to_all", message="x")
        assert (answer.status, answer.code) == (503, "no_gateway")
        assert answer.headers["Retry-After"] == "1"
        assert f"no register has answered yet (127.0.0.1:{port})" in answer.message
        register = gw.start("register", "--listen", f"127.0.0.1:{port}", "--heartbeat", "0.2")
        none = await _eventually(
            http,
            "get_all_uid_count",
            lambda a: "no gateway is reachable (0 in the cluster" in a.text,
        )
        assert (none.status, none.code) == (503, "no_gateway")
        gateway = gw.gateway(register)
        gw.worker(register, APP)
        await _eventually(http, "get_all_uid_count", lambda a: a.status == 200)
        assert (await http.get("/readyz")).status == 200
        probe = await Probe.open(gateway)
        await http.result("send_to_client", client_id=probe.client_id, message="now")
        assert await probe.recv() == "now"


async def _eventually(http: HttpApi, name: str, done: Callable[[Answer], bool]) -> Answer:
    """Ask until the answer is the one awaited (another process's state: no event)."""
    deadline = asyncio.get_running_loop().time() + 15 * UNIT
    while True:
        answer = await http.call(name)
        if done(answer):
            return answer
        assert asyncio.get_running_loop().time() < deadline, answer
        await asyncio.sleep(0.05)


async def test_a_silent_gateway_is_504_for_its_client_and_missing_for_all(gw: Cluster) -> None:
    register = gw.register("--peer-timeout", "5")
    gateway = gw.gateway(register)
    gw.worker(register, APP)
    # the default heartbeat: a frozen gateway's link is up for 1.5 s (0.3 s with 0.2)
    api = start_api(gw, register, "--heartbeat", "1")
    probe = await Probe.open(gateway)
    async with HttpApi(api) as http:
        await _eventually(http, "get_all_client_id_count", lambda a: a.json["missing"] == [])
        gateway.signal(signal.SIGSTOP)
        try:
            late = await http.call("is_online", client_id=probe.client_id, timeout=0.3)
            assert (late.status, late.code) == (504, "query_timeout")
            assert f"gateway {gateway.info['internal']} did not answer in 0.3s" in late.message
            partial = await http.call("get_all_client_id_count", timeout=0.3)
            assert partial.status == 200
            assert partial.json == {"result": 0, "missing": [gateway.info["internal"]]}
        finally:
            gateway.signal(signal.SIGCONT)
        assert await http.result("get_all_client_id_count") == 1


async def test_the_openapi_document_metrics_and_json_logs(gw: Cluster) -> None:
    from openapi_spec_validator import validate

    register = gw.register()
    gw.gateway(register)
    api = start_api(gw, register, "--log-format", "json", "--metrics-listen", "127.0.0.1:0")
    async with HttpApi(api) as http:
        document = await http.get("/api/v1/openapi.json")
        assert document.status == 200 and document.headers["Content-Type"].startswith(
            "application/json"
        )
        validate(document.json)
        assert set(CALLS) <= {p.rsplit("/", 1)[1] for p in document.json["paths"]}
        await http.result("get_all_uid_count")
        await http.call("join_group", client_id="x", group=1)
        metrics = await http.get("/metrics")
        assert metrics.status == 200
        assert 'gw_api_requests_total{call="get_all_uid_count",status="200"} 1.0' in metrics.text
        assert 'gw_api_requests_total{call="join_group",status="400"} 1.0' in metrics.text
        assert 'gw_api_request_seconds_count{call="get_all_uid_count"} 1.0' in metrics.text
        assert "gw_api_gateways 1.0" in metrics.text and "process_cpu_seconds_total" in metrics.text
    async with HttpApi(api.info["metrics"]) as separate:  # --metrics-listen, as every role
        assert "gw_api_requests_total" in (await separate.get("/metrics")).text
        assert (await separate.get("/readyz")).status == 200
    lines = [json.loads(line) for line in api.logs().splitlines() if line.startswith("{")]
    assert any("HTTP API on http://127.0.0.1:" in line["message"] for line in lines)
    assert {"time", "level", "logger", "pid", "message"} <= set(lines[0])


async def test_sigterm_finishes_requests_in_progress_then_exits_0(gw: Cluster) -> None:
    register = gw.register("--peer-timeout", "5")
    frozen, alive = gw.gateway(register), gw.gateway(register)
    gw.worker(register, APP)
    api = start_api(gw, register, "--heartbeat", "1")
    waiting, receiving = await Probe.open(frozen), await Probe.open(alive)
    async with HttpApi(api) as http, HttpApi(api) as other:
        await _eventually(http, "get_all_client_id_count", lambda a: a.result == 2)
        frozen.signal(signal.SIGSTOP)  # a query to it waits for its deadline
        try:
            slow = asyncio.create_task(
                http.call("is_online", client_id=waiting.client_id, timeout=1)
            )
            deadline = asyncio.get_running_loop().time() + 10 * UNIT
            while "gw_api_requests_in_progress 1.0" not in (await other.get("/metrics")).text:
                assert asyncio.get_running_loop().time() < deadline, "the query never started"
                await asyncio.sleep(0.01)
            sends = [
                {
                    "call": "send_to_client",
                    "args": {"client_id": receiving.client_id, "message": str(n)},
                }
                for n in range(2000)
            ]
            assert (await other.batch(sends)).status == 200
            api.signal(signal.SIGTERM)
            answer = await slow
        finally:
            frozen.signal(signal.SIGCONT)
        assert (answer.status, answer.code) == (504, "query_timeout")  # answered, not cut
    assert api.proc.wait(20 * UNIT) == 0
    assert "stopping: no new requests" in api.logs()
    # what was sent just before the stop was flushed, not lost
    assert [await receiving.recv() for _ in range(2000)] == [str(n) for n in range(2000)]
