"""Who a connection is and what it may claim (examples/chat/worker/identity.py): pure rules."""

from __future__ import annotations

import json

import pytest

from examples.chat import groups
from examples.chat.worker import identity, requests
from examples.chat.worker.identity import Forbidden, Identity
from examples.chat.worker.requests import Rejected

AKESU = Identity("7", "阿克苏", "/static/avatars/3.svg", (100, 101))
SPEAK = {
    "event": "speak",
    "mode": 2,
    "group_id": 100,
    "from_user_id": "7",
    "from_username": "假名",
    "to_user_id": "",
    "content": "hi",
    "from_avatar": "/static/avatars/8.svg",
}


def parse(frame: dict[str, object]) -> requests.Request:
    return requests.parse(json.dumps(frame))


def test_claims_make_an_identity():
    claims = {
        "uid": "7",
        "nickname": "阿克苏",
        "avatar": "/static/avatars/3.svg",
        "rooms": [100, 101],
        "exp": 1,
        "iat": 0,
    }
    assert identity.from_claims(claims) == AKESU


@pytest.mark.parametrize(
    "claims",
    [None, "7", [], {}, {"uid": 7}, {"uid": ""}, {"uid": "guest:7"}, {"uid": "七"}, {"uid": "-1"}],
)
def test_claims_without_a_database_uid_are_anonymous(claims):
    assert identity.from_claims(claims) is None


def test_odd_claims_are_cleaned():
    found = identity.from_claims(
        {
            "uid": "9",
            "nickname": 5,
            "avatar": None,
            "rooms": [100, "101", True, -3, 102],
            "contacts": [8, "8", 9, 0, 2.0, 12],  # never oneself
        }
    )
    assert found == Identity("9", "用户9", "", (100, 102), (8, 12))
    assert identity.from_claims({"uid": "9", "contacts": "8"}) == Identity("9", "用户9", "", ())


def test_anonymous_frames_are_unchanged():
    request = parse(SPEAK)
    assert identity.attest(request, None) is request


def test_an_authenticated_frame_gets_the_attested_name_and_avatar():
    attested = identity.attest(parse(SPEAK), AKESU)
    assert attested.from_username == "阿克苏" and attested.from_avatar == "/static/avatars/3.svg"
    assert attested.original == {
        **SPEAK,
        "from_username": "阿克苏",
        "from_avatar": "/static/avatars/3.svg",
    }
    assert requests.group_text(attested) == "阿克苏[群聊说]:hi"


def test_claiming_another_user_is_forbidden_in_the_documents_format():
    frame = {**SPEAK, "from_user_id": "8"}
    with pytest.raises(Forbidden) as refused:
        identity.attest(parse(frame), AKESU)
    assert refused.value.reply == {"code": 403, "msg": identity.FORBIDDEN_IDENTITY, "data": frame}
    # a number equal to the uid is the same id (the document sends strings or numbers)
    assert identity.attest(parse({**SPEAK, "from_user_id": 7}), AKESU).from_user_id == "7"


def test_uids_of_anonymous_clients_live_in_the_guest_namespace():
    join = parse({**SPEAK, "event": "join", "mode": 1, "from_user_id": "10086"})
    assert identity.bind_target(join, None) == "guest:10086"
    assert identity.private_target("10000", None) == "guest:10000"
    assert identity.private_target("7", None) == "guest:7"  # never a registered user


def test_uids_of_authenticated_clients_are_theirs():
    join = parse({**SPEAK, "event": "join", "mode": 1})
    assert identity.bind_target(join, AKESU) == "7"
    assert identity.private_target("8", AKESU) == "8"


def test_registered_uids():
    assert groups.is_registered("7") and not groups.is_registered("guest:7")
    assert not groups.is_registered(7) and not groups.is_registered("")


def test_rooms_live_in_a_group_namespace_no_frame_can_name():
    assert groups.room_groups([100, 101]) == ["room:100", "room:101"]
    assert parse({**SPEAK, "group_id": 100}).group_id == "100"  # the document's group 100
    with pytest.raises(Rejected) as refused:
        parse({**SPEAK, "group_id": groups.room_group(100)})
    assert refused.value.reply["msg"] == requests.GROUP_NUMBER
