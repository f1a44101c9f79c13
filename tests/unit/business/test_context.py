"""business.context: the current client and the running worker, per handler and task."""

from __future__ import annotations

import asyncio
from typing import Any

from business.context import Context, current, running_worker, worker_context
from common.protocol import pack_session


def context(client_id: str, **extra: Any) -> Context:
    return Context(client_id, {}, "r", "tcp://g:1", "ws", None, **extra)  # type: ignore[arg-type]


def test_a_context_is_current_inside_its_block_only_and_blocks_nest() -> None:
    outer, inner = context("a"), context("b")
    assert current() is None
    with outer:
        assert current() is outer
        with inner:
            assert current() is inner
        assert current() is outer
    assert current() is None


async def test_concurrent_handlers_see_their_own_client() -> None:
    seen: list[tuple[str, str]] = []

    async def handler(client_id: str) -> None:
        with context(client_id):
            await asyncio.sleep(0)  # the other handler runs meanwhile
            seen.append((client_id, current().client_id))  # type: ignore[union-attr]

    await asyncio.gather(handler("a"), handler("b"))
    assert sorted(seen) == [("a", "a"), ("b", "b")]


def test_the_verified_identity_is_decoded_on_first_read() -> None:
    assert context("a").auth is None
    claims = {"uid": "ann", "exp": 1}
    assert context("a", packed_auth=pack_session(claims)).auth == claims


async def test_a_workers_context_names_it_for_the_tasks_started_there_only() -> None:
    first, second = object(), object()
    seen: dict[str, Any] = {}

    async def start(name: str) -> None:
        seen[name] = running_worker()
        later = asyncio.get_running_loop().create_task(asyncio.sleep(0, running_worker()))
        seen[name + " task"] = await later

    loop = asyncio.get_running_loop()
    await loop.create_task(start("first"), context=worker_context(first))  # type: ignore[arg-type]
    await loop.create_task(start("second"), context=worker_context(second))  # type: ignore[arg-type]
    assert seen == {"first": first, "first task": first, "second": second, "second task": second}
    assert running_worker() is None  # the caller's context is untouched
