"""Rooms pushed, not polled (issue 18, item 6), against a real backend and cluster: a
room created or renamed is pushed at once to every logged-in connection (the group
``users``), never to an anonymous client of the document's protocol; only a room's
owner renames it."""

from __future__ import annotations

from .support import AKESU, ChatClient
from .test_web import browsers, web

__all__ = ["browsers", "web"]  # fixtures


async def test_rooms_created_and_renamed_are_pushed_to_every_user(chat, browsers):
    alice, bob, _ = browsers
    a = await alice.register("建房的人")
    b = await bob.register("看房的人")
    mine, _ = await alice.socket(chat)
    theirs, _ = await bob.socket(chat)
    anonymous = await ChatClient.open(chat.ws)
    await anonymous.join(AKESU, 1, 0)

    created = (await alice.call("POST", "/api/rooms", json={"name": "新开的房间"}))["data"]
    assert created["created_by"] == str(a["id"])
    told = {
        "action_type": "room",
        "event": "created",
        "group_id": created["id"],
        "name": "新开的房间",
        "created_by": str(a["id"]),
        "uid": str(a["id"]),
        "username": "建房的人",
    }
    assert await theirs.next("room") == told
    assert await mine.next("room") == told  # the owner's other pages too
    again = (await bob.call("POST", "/api/rooms", json={"name": "新开的房间"}))["data"]
    assert again["id"] == created["id"] and again["created_by"] == str(a["id"])  # not new

    path = f"/api/rooms/{created['id']}/rename"
    refused = await bob.call("POST", path, 403, json={"name": "抢来的"})
    assert refused["msg"] == "只有房主可以修改房间名"
    taken = await alice.call("POST", path, 409, json={"name": "Python 交流"})
    assert taken["msg"] == "这个房间名已被使用"
    assert (await alice.call("POST", "/api/rooms/100/rename", 403, json={"name": "x"}))["code"]
    await alice.call("POST", path, 400, json={"name": " "})
    renamed = (await alice.call("POST", path, json={"name": "改过名的房间"}))["data"]
    assert renamed == {"id": created["id"], "name": "改过名的房间", "created_by": str(a["id"])}
    told = {**told, "event": "renamed", "name": "改过名的房间"}
    assert await theirs.next("room") == told
    assert await mine.next("room") == told
    rooms = {r["id"]: r for r in (await bob.call("GET", "/api/rooms"))["data"]}
    assert rooms[created["id"]]["name"] == "改过名的房间"
    assert rooms[100]["created_by"] is None

    # nothing of it reached the anonymous client, nor anything more the users
    assert await anonymous.ping_pong() == []
    assert await theirs.quiet(str(b["id"])) == []
    for ws in (mine, theirs, anonymous):
        await ws.close()
