"""The client edge, in this process: authentication before the upgrade (tokens, the
optional mode, a hook), origins, the rate limit and connection caps; what is logged.
(Memory per client, TLS, half-open sockets and a hook that cannot load need their own
gateway process: tests/cluster/test_edge.py.)"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.cluster.client import SECRET, Probe, open_ws, recv_json, refused, token
from tests.harness import UNIT, ws_url

from .harness import Running, Services

IDENTITY = "tests.cluster.apps.identity"
PROBE = "tests.cluster.apps.probe"


async def test_tokens_are_checked_before_the_upgrade_and_claims_reach_handlers(
    gw: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    register = await gw.register()
    gateway = await gw.gateway(register, auth_secret=SECRET)
    await gw.worker(register, IDENTITY)
    observer = await open_ws(ws_url(gateway, f"/?observer=1&token={token(uid='watch')}"))
    await recv_json(observer)  # uid_at_connect
    await recv_json(observer)  # data_auth

    # refused before the 101: missing, forged, expired, signed with another secret
    assert await refused(ws_url(gateway)) == 401
    assert await refused(ws_url(gateway, "/?token=not.a.jwt")) == 401
    assert await refused(ws_url(gateway, f"/?token={token(ttl=-5, uid='late')}")) == 401
    forged = token("another-secret-of-at-least-32-bytes", uid="x")
    assert await refused(ws_url(gateway, f"/?token={forged}")) == 401
    assert await refused(ws_url(gateway, f"/?token={token(uid='')}")) == 401  # not bindable

    # a valid token, in the query string: the uid is bound before the first event
    ws = await open_ws(ws_url(gateway, f"/?token={token(uid='alice', name='Alice')}"))
    first, second = await recv_json(ws), await recv_json(ws)
    assert first["uid_at_connect"] == "alice"
    assert first["auth"]["uid"] == "alice" and first["auth"]["name"] == "Alice"
    assert second["data_auth"]["name"] == "Alice" and second["current_auth"]["uid"] == "alice"
    await ws.send("hi")
    assert (await recv_json(ws))["auth"]["name"] == "Alice"  # on every event
    # in an Authorization header (non-browser clients)
    bearer = {"Authorization": f"Bearer {token(uid='bob')}"}
    ws2 = await open_ws(ws_url(gateway), additional_headers=bearer)
    assert (await recv_json(ws2))["uid_at_connect"] == "bob"

    # the observer saw the two accepted clients' events only: refused ones sent none
    events = []
    while len(events) < 5:  # connect+ws_connect for alice and bob, alice's message
        events.append(await recv_json(observer))
    assert {e["event"] for e in events} == {"connect", "ws_connect", "message"}
    assert len({e["client_id"] for e in events}) == 2
    for client in (ws, ws2, observer):
        await client.close()
    logs = caplog.text
    assert "refused a connection from 127.0.0.1: 401" in logs
    assert SECRET not in logs and "not.a.jwt" not in logs  # no secret nor token logged


async def test_auth_optional_lets_anonymous_clients_in_but_not_bad_tokens(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register, auth_secret=SECRET, auth_optional=True)
    await gw.worker(register, IDENTITY)
    ws = await open_ws(ws_url(gateway))
    first = await recv_json(ws)
    assert first == {"uid_at_connect": None, "auth": None}
    assert await recv_json(ws) == {"data_auth": None, "current_auth": None}
    assert await refused(ws_url(gateway, f"/?token={token(ttl=-1, uid='x')}")) == 401
    await ws.close()


async def test_an_auth_hook_decides_and_a_broken_hook_costs_one_request(
    gw: Services, caplog: pytest.LogCaptureFixture
) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register, auth_hook="tests.cluster.apps.hook:decide")
    await gw.worker(register, IDENTITY)
    ws = await open_ws(ws_url(gateway, "/?user=carol"))
    first = await recv_json(ws)
    assert first["uid_at_connect"] == "carol" and first["auth"]["via"] == "hook"
    assert await refused(ws_url(gateway, "/?deny=403")) == 403
    assert await refused(ws_url(gateway, "/?bug=1")) == 500
    anonymous = await open_ws(ws_url(gateway))
    assert (await recv_json(anonymous))["auth"] is None
    for client in (ws, anonymous):
        await client.close()
    assert "failed to accept a connection" in caplog.text  # the bug, with its traceback


async def test_allowed_origins(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(
        register, allowed_origins=("https://chat.example", "https://b.example")
    )
    await gw.worker(register, PROBE)
    assert await refused(ws_url(gateway), origin="https://evil.example") == 403
    probe = await Probe.open(gateway, origin="https://chat.example")
    assert await probe.result("get_all_client_id_count") == 1
    await probe.close()
    no_origin = await Probe.open(gateway)  # not a browser: no Origin header, let in
    await no_origin.close()


async def test_rate_limit_closes_with_1008_and_counts(
    gw: Services, caplog: pytest.LogCaptureFixture
) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register, rate_limit=5.0)
    await gw.worker(register, PROBE)
    polite = await Probe.open(gateway)
    flooder = await Probe.open(gateway)
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(40):  # burst 10, then 5/s: far over
            await flooder.ws.send(json.dumps({"pid": True}))
        while True:
            await flooder.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == "rate limit"
    await polite.send({"pid": True})  # within its own budget: served
    assert "pid" in await polite.json()
    status = await polite.result("get_status")
    (only,) = status.values()
    assert only["closed_rate_limit"] == 1
    assert caplog.text.count("over --rate-limit") == 1  # one line, not one per message
    await polite.close()


async def test_connection_caps_refuse_with_503(gw: Services) -> None:
    register = await gw.register()
    gateway = await gw.gateway(register, max_connections_per_ip=2)
    await gw.worker(register, PROBE)
    a, b = await Probe.open(gateway), await Probe.open(gateway)
    assert await refused(ws_url(gateway)) == 503
    await b.close()
    c = await eventually_open(gateway)  # a slot is free again
    status = await a.result("get_status")
    assert next(iter(status.values()))["refused_503"] >= 1
    for probe in (a, c):
        await probe.close()
    capped = await gw.gateway(register, max_connections=1)
    first = await Probe.open(capped)
    assert await refused(ws_url(capped)) == 503
    await first.close()


async def eventually_open(gateway: Running) -> Probe:
    deadline = time.monotonic() + 10 * UNIT
    while True:
        try:
            return await Probe.open(gateway)
        except InvalidStatus:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_refusals_a_client_words_cannot_flood_the_log(
    gw: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.edge")
    register = await gw.register()
    gateway = await gw.gateway(register, allowed_origins=("https://chat.example",))
    for n in range(100):
        assert await refused(ws_url(gateway), origin=f"https-evil-{n}") == 403
    assert 1 <= caplog.text.count("not allowed") <= 2  # one line a second, with a count
