"""Unread counts that last (issue 18, item 5), against a real backend and cluster: the
lists carry each conversation's reading, ``POST /api/read`` moves it, and the user's
pages (their connections, through the cluster) are told; nobody else is."""

from __future__ import annotations

from .test_web import browsers, web

__all__ = ["browsers", "web"]  # fixtures


def by_id(items: list[dict]) -> dict[int, dict]:
    return {item["id"]: item for item in items}


def reading(item: dict) -> tuple[int, int, int]:
    return item["read"], item["unread"], item["latest"]


async def test_lists_carry_readings_and_reading_tells_the_users_pages(chat, browsers):
    alice, bob, carol = browsers
    a = await alice.register("未读甲")
    b = await bob.register("未读乙")
    c = await carol.register("未读丙")
    await alice.call("POST", "/api/rooms/102/join")
    await bob.call("POST", "/api/rooms/102/join")
    rooms = by_id((await alice.call("GET", "/api/rooms"))["data"])
    start = rooms[102]["latest"]
    assert reading(rooms[102]) == (start, 0, start)  # joined: read so far
    assert "unread" not in rooms[101]  # not a member: no reading
    said = [
        (await bob.send(action_type="send_msg", group_id=102, content=f"第{n}条", msgtype=0))[
            "data"
        ]["msg_id"]
        for n in range(3)
    ]
    await alice.send(action_type="send_msg", group_id=102, content="我的不算", msgtype=0)
    private = (
        await bob.send(action_type="send_msg", to_user_id=a["id"], content="私下", msgtype=0)
    )["data"]["msg_id"]
    rooms = by_id((await alice.call("GET", "/api/rooms"))["data"])
    assert reading(rooms[102]) == (start, 3, private - 1)
    contacts = by_id((await alice.call("GET", "/api/users"))["data"])
    assert reading(contacts[b["id"]]) == (0, 1, private)
    assert reading(contacts[c["id"]]) == (0, 0, 0)  # no conversation

    # two pages of alice's and one of bob's: reading is told to alice's only
    pages = [(await alice.socket(chat))[0] for _ in range(2)]
    other, _ = await bob.socket(chat)
    done = await alice.call("POST", "/api/read", json={"group_id": 102, "msg_id": said[1]})
    frame = done["data"]
    assert frame == {
        "action_type": "read",
        "group_id": 102,
        "to_user_id": None,
        "read": said[1],
        "unread": 1,
        "latest": private - 1,
    }
    for page in pages:
        assert await page.next("read") == frame
    assert [f for f in await other.quiet(str(b["id"])) if f.get("action_type") == "read"] == []
    frame = (await alice.call("POST", "/api/read", json={"to_user_id": b["id"], "msg_id": 10**12}))[
        "data"
    ]
    # never past the conversation's latest message
    assert (frame["to_user_id"], frame["group_id"], reading(frame)) == (
        str(b["id"]),
        0,
        (private, 0, private),
    )
    for page in pages:
        assert await page.next("read") == frame
    contacts = by_id((await alice.call("GET", "/api/users"))["data"])
    assert reading(contacts[b["id"]]) == (private, 0, private)  # it lasts
    for ws in (*pages, other):
        await ws.close()


async def test_reading_is_refused_where_nothing_can_be_read(browsers):
    alice = browsers[0]
    a = await alice.register("不能读")
    cases = [
        ({"group_id": 101, "msg_id": 1}, 403, "请先加入这个房间"),
        ({"group_id": 99999, "msg_id": 1}, 404, "房间不存在"),
        ({"to_user_id": a["id"], "msg_id": 1}, 400, "不能给自己发私聊消息"),
        ({"to_user_id": 99999, "msg_id": 1}, 404, "用户不存在"),
        ({"group_id": 100}, 400, "msg_id必须是非负整数"),
        ({"msg_id": 1}, 400, "需要群组group_id或接受用户to_user_id"),
        ([1], 400, "请求数据结构无法被解析"),
    ]
    for body, status, msg in cases:
        refused = await alice.call("POST", "/api/read", status, json=body)
        assert (refused["code"], refused["msg"]) == (status, msg), body
    await alice.call(
        "POST",
        "/api/read",
        401,
        json={"group_id": 100, "msg_id": 1},
        cookies={"chat_token": "nobody"},
    )
