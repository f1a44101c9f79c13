"""common.protocol: frames round trip; anything else is a ProtocolError."""

from __future__ import annotations

import random
from dataclasses import fields

import msgpack
import pytest

from common import frames, protocol
from common.exceptions import GatewayError, ProtocolError
from common.frames import (
    Ack,
    Announce,
    Bye,
    Command,
    Event,
    EventKind,
    Frame,
    GatewayList,
    Goodbye,
    Hello,
    Kind,
    Op,
    Query,
    Reply,
    Role,
    Subscribe,
    Welcome,
)
from common.protocol import VERSION, decode, encode, pack_session, unpack_session

SESSION = pack_session({"name": "ann", "n": 3})

SAMPLES: list[Frame] = [
    Announce("tcp://10.0.0.1:2900", "ws://example.org:7272", 0xDEADBEEF),
    Goodbye("tcp://10.0.0.1:2900"),
    Subscribe("worker-1234"),
    GatewayList({"tcp://10.0.0.1:2900": 7, "tcp://10.0.0.2:2900": 2**32 - 1}, True),
    GatewayList({}, False),
    Hello(Role.WORKER, "worker-1", 4242),
    Hello(Role.CLIENT, "push", 1),
    Welcome("tcp://10.0.0.1:2900", 99, "ws://example.org:7272"),
    Bye(),
    Event(1, EventKind.CONNECT, "0a000001b54c00000001000000ff", "1.2.3.4:5", SESSION, None, False),
    Event(2, EventKind.WS_CONNECT, "c", "r", b"\x80", {"get": {"a": "1"}, "cookie": {}}, False),
    Event(3, EventKind.MESSAGE, "c", "r", b"\x80", "text ☃", True),
    Event(4, EventKind.MESSAGE, "c", "r", b"\x80", b"\x00\xffbinary", False),
    Event(5, EventKind.CLOSE, "c", "r", b"\x80", None, False),
    Event(6, EventKind.MESSAGE, "c", "r", b"\x80", "hi", False, pack_session({"uid": "7"})),
    Ack(7, "c", {"k": "v", 3: [1, 2]}, ["gone"]),
    Ack(8, "c", None, None),
    Command(Op.SEND_TO_ALL, ["hello", None, ["x"]]),
    Command(Op.BIND_UID, ["c", "42"]),
    Query(123, Op.GET_ALL_CLIENT_ID_COUNT, []),
    Query(2**40, Op.IS_UIDS_ONLINE, [["1", "2"]]),
    Reply(123, True, {"a": [1, 2], 5: None}),
    Reply(124, False, "bad group id"),
]


def frame_bytes(*items: object) -> bytes:
    return msgpack.packb(list(items), use_bin_type=True)


def test_samples_cover_every_kind() -> None:
    assert {type(f).KIND for f in SAMPLES} == set(Kind)


@pytest.mark.parametrize("frame", SAMPLES, ids=lambda f: repr(f)[:60])
def test_round_trip(frame: Frame) -> None:
    decoded = decode(encode(frame))
    assert type(decoded) is type(frame)
    assert decoded == frame


@pytest.mark.parametrize("frame", SAMPLES, ids=lambda f: repr(f)[:60])
def test_wire_layout_is_version_kind_fields(frame: Frame) -> None:
    items = msgpack.unpackb(encode(frame), raw=False, strict_map_key=False)
    assert items[0] == VERSION
    assert items[1] == type(frame).KIND
    assert len(items) == 2 + len(fields(frame))


@pytest.mark.parametrize("frame", SAMPLES, ids=lambda f: repr(f)[:60])
def test_enum_fields_decode_as_enums(frame: Frame) -> None:
    decoded = decode(encode(frame))
    for name, enum in (("role", Role), ("kind", EventKind), ("op", Op)):
        if hasattr(decoded, name):
            assert type(getattr(decoded, name)) is enum


@pytest.mark.parametrize("payload", ["abc", "", "é☃", b"abc", b"", b"\xff\x00"])
def test_str_and_bytes_payloads_keep_their_type(payload: str | bytes) -> None:
    event = Event(1, EventKind.MESSAGE, "c", "r", b"\x80", payload, False)
    decoded = decode(encode(event))
    assert isinstance(decoded, Event)
    assert type(decoded.payload) is type(payload)
    assert decoded.payload == payload


def test_frames_are_slotted_values() -> None:
    # not frozen (a frozen dataclass costs 5x to build: issue 14), but slotted: a
    # misspelt attribute is an error, and frames compare by value
    frame = Goodbye("x")
    with pytest.raises(AttributeError):
        frame.adress = "y"  # type: ignore[attr-defined]
    assert frame == Goodbye("x") and frame != Goodbye("y")


def test_kinds_are_unique_per_class() -> None:
    assert len(protocol._CLASSES) == len(Kind)
    assert all(kind == cls.KIND for kind, cls in protocol._CLASSES.items())


# -- malformed input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never-used msgpack byte
        b"\x92\x01",  # array of 2, one item missing
        encode(Goodbye("tcp://h:1"))[:-3],  # truncated
        encode(Goodbye("tcp://h:1")) + b"\x00",  # trailing data
        b"\x81\x91\x01\x02",  # map with an array key (unhashable)
    ],
    ids=["empty", "reserved-byte", "short-array", "truncated", "trailing", "unhashable-key"],
)
def test_not_msgpack(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="undecodable"):
        decode(data)


@pytest.mark.parametrize(
    "value", [None, 1, "frame", b"frame", {"0": 1, "1": 4}, [], [VERSION], 1.5, True]
)
def test_not_an_array(value: object) -> None:
    with pytest.raises(ProtocolError, match="array"):
        decode(msgpack.packb(value, use_bin_type=True))


@pytest.mark.parametrize("version", [0, 1, -1, VERSION - 1, VERSION + 1, "2", None, True, 2.0, [2]])
def test_wrong_version(version: object) -> None:
    with pytest.raises(ProtocolError, match="version"):
        decode(frame_bytes(version, Kind.GOODBYE, "tcp://h:1"))


@pytest.mark.parametrize("kind", [0, 5, 13, 99, -1, 2**40, "1", None, True, 1.0, b"\x01"])
def test_unknown_kind(kind: object) -> None:
    with pytest.raises(ProtocolError, match="kind"):
        decode(frame_bytes(VERSION, kind, "tcp://h:1"))


@pytest.mark.parametrize("frame", SAMPLES, ids=lambda f: repr(f)[:60])
@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_field_count(frame: Frame, delta: int) -> None:
    items = msgpack.unpackb(encode(frame), raw=False, strict_map_key=False)
    if delta < 0:
        if len(items) == 2:  # Bye has no field to drop
            return
        items = items[:-1]
    else:
        items = [*items, "extra"]
    with pytest.raises(ProtocolError, match="fields"):
        decode(msgpack.packb(items, use_bin_type=True))


@pytest.mark.parametrize(
    ("items", "enum"),
    [
        ([Kind.HELLO, 0, "n", 1], "Role"),
        ([Kind.HELLO, 3, "n", 1], "Role"),
        ([Kind.HELLO, "worker", "n", 1], "Role"),
        ([Kind.HELLO, True, "n", 1], "Role"),
        ([Kind.HELLO, 1.0, "n", 1], "Role"),
        ([Kind.HELLO, None, "n", 1], "Role"),
        ([Kind.HELLO, [1], "n", 1], "Role"),
        ([Kind.EVENT, 1, 0, "c", "r", b"", None, False, None], "EventKind"),
        ([Kind.EVENT, 1, 5, "c", "r", b"", None, False, None], "EventKind"),
        ([Kind.EVENT, 1, "message", "c", "r", b"", None, False, None], "EventKind"),
        ([Kind.COMMAND, 0, []], "Op"),
        ([Kind.COMMAND, 15, []], "Op"),
        ([Kind.COMMAND, 999, []], "Op"),
        ([Kind.QUERY, 1, 39, []], "Op"),
        ([Kind.QUERY, 1, {"op": 40}, []], "Op"),
    ],
)
def test_bad_enum_value(items: list[object], enum: str) -> None:
    with pytest.raises(ProtocolError, match=f"bad {enum}"):
        decode(frame_bytes(VERSION, *items))


@pytest.mark.parametrize("frame", SAMPLES, ids=lambda f: repr(f)[:60])
def test_every_truncation_is_refused(frame: Frame) -> None:
    data = encode(frame)
    for end in range(len(data)):
        with pytest.raises(ProtocolError):
            decode(data[:end])


def test_random_garbage_raises_only_protocol_error() -> None:
    rng = random.Random(1234)
    decoded = 0
    for _ in range(3000):
        data = rng.randbytes(rng.randint(0, 64))
        try:
            frame = decode(data)
        except ProtocolError:
            continue
        decoded += 1
        assert isinstance(frame, Frame)
    # A well-formed frame from random bytes is possible but must stay rare.
    assert decoded < 30


def test_random_byte_flips_raise_only_protocol_error() -> None:
    rng = random.Random(99)
    for frame in SAMPLES:
        data = bytearray(encode(frame))
        for _ in range(100):
            mutated = bytearray(data)
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            try:
                result = decode(bytes(mutated))
            except ProtocolError:
                continue
            assert isinstance(result, Frame)


def test_protocol_error_is_a_gateway_error() -> None:
    with pytest.raises(GatewayError):
        decode(b"")


# -- sessions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "session",
    [
        {},
        {"name": "ann"},
        {"n": 1, "f": 1.5, "b": True, "none": None, "bin": b"\x00", "list": [1, "a"]},
        {"nested": {"deep": {"er": [1, {"x": 2}]}}},
        {1: "int key", "1": "str key"},
        {"☃": "ü"},
    ],
)
def test_session_round_trip(session: dict[object, object]) -> None:
    data = pack_session(session)
    assert isinstance(data, bytes)
    assert unpack_session(data) == session


def test_empty_session_is_one_byte() -> None:
    assert len(pack_session({})) == 1


def test_session_str_and_bytes_stay_apart() -> None:
    got = unpack_session(pack_session({"s": "abc", "b": b"abc"}))
    assert type(got["s"]) is str
    assert type(got["b"]) is bytes


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", pack_session({"a": 1})[:-1], pack_session({"a": 1}) + b"\x01"],
    ids=["empty", "reserved", "truncated", "trailing"],
)
def test_undecodable_session(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="undecodable"):
        unpack_session(data)


@pytest.mark.parametrize("value", [None, 1, "s", b"b", [1, 2], [], 1.5])
def test_session_must_be_a_map(value: object) -> None:
    with pytest.raises(ProtocolError, match="map"):
        unpack_session(msgpack.packb(value, use_bin_type=True))


def test_session_travels_inside_an_event() -> None:
    session = {"uid": "42", "room": [1, 2]}
    event = Event(1, EventKind.MESSAGE, "c", "r", pack_session(session), "hi", False)
    decoded = decode(encode(event))
    assert isinstance(decoded, Event)
    assert unpack_session(decoded.session) == session


@pytest.mark.parametrize(
    "fields",
    [
        [frames.Kind.ANNOUNCE, ["tcp://x"], "ws", 1],  # address not a str
        [frames.Kind.ANNOUNCE, "tcp://x", "ws", True],  # epoch a bool
        [frames.Kind.GATEWAY_LIST, {5: 1}, True],  # address not a str
        [frames.Kind.GATEWAY_LIST, {"tcp://x": "1"}, True],  # epoch not an int
        [frames.Kind.GATEWAY_LIST, ["tcp://x"], True],  # not a map
        [frames.Kind.ACK, 1, "cid", ["not", "a", "map"], None],
        [frames.Kind.COMMAND, frames.Op.SEND_TO_ALL, {"not": "a list"}],
        [frames.Kind.EVENT, 1, 3, "cid", "1.2.3.4:5", "not bytes", "x", False, None],
        [frames.Kind.EVENT, 1, 3, "cid", "1.2.3.4:5", b"\x80", "x", False, {"uid": "x"}],
    ],
)
def test_fields_of_the_wrong_type_are_protocol_errors(fields: list[object]) -> None:
    data = msgpack.packb([protocol.VERSION, *fields], use_bin_type=True)
    with pytest.raises(ProtocolError):
        protocol.decode(data)


# -- batches: several frames in one part ------------------------------------------


def test_decode_many_reads_every_frame_of_a_part_in_order() -> None:
    goodbyes = [frames.Goodbye(f"tcp://h:{n}") for n in range(300)]
    part = b"".join(encode(frame) for frame in goodbyes)
    assert list(protocol.decode_many(part)) == goodbyes


def test_decode_many_of_one_frame() -> None:
    frame = frames.Goodbye("tcp://h:1")
    assert list(protocol.decode_many(encode(frame))) == [frame]


def test_decode_many_skips_a_bad_frame_and_goes_on() -> None:
    good1, good2 = frames.Goodbye("tcp://a:1"), frames.Goodbye("tcp://b:2")
    wrong_version = frame_bytes(VERSION + 1, frames.Kind.GOODBYE, "tcp://x:1")
    not_a_frame = msgpack.packb({"a": 1})
    part = encode(good1) + wrong_version + not_a_frame + encode(good2)
    out = list(protocol.decode_many(part))
    assert out[0] == good1 and out[3] == good2
    assert isinstance(out[1], ProtocolError) and "version" in str(out[1])
    assert isinstance(out[2], ProtocolError)
    assert len(out) == 4


@pytest.mark.parametrize(
    ("tail", "says"),
    [
        (b"\xc1", "undecodable"),  # 0xc1: never used by msgpack
        (encode(frames.Goodbye("tcp://c:3"))[:-2], "truncated"),
    ],
)
def test_decode_many_stops_at_bytes_it_cannot_read(tail: bytes, says: str) -> None:
    good = frames.Goodbye("tcp://a:1")
    out = list(protocol.decode_many(encode(good) + tail))
    assert out[0] == good
    assert len(out) == 2
    assert isinstance(out[1], ProtocolError) and says in str(out[1])


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x92\x01"])
def test_decode_many_of_garbage_is_one_error(data: bytes) -> None:
    out = list(protocol.decode_many(data))
    assert len(out) == 1 and isinstance(out[0], ProtocolError)


VALUES: list[object] = [
    "s",
    "",
    0,
    7,
    -1,
    True,
    False,
    None,
    b"b",
    b"",
    1.5,
    [],
    [1],
    {},
    {"a": 1},
    {"a": "x"},
]


@pytest.mark.parametrize("cls", list(protocol._CLASSES.values()), ids=lambda c: c.__name__)
def test_the_generated_field_check_agrees_with_the_per_field_checks(cls: type) -> None:
    kinds = protocol._TYPES[cls]
    rng = random.Random(cls.__name__)
    valid = {kind: [v for v in VALUES if protocol._CHECKS[kind](v)] for kind in kinds}
    outcomes = set()
    for _ in range(500):
        # mostly values the field accepts, so that whole frames pass often enough
        values = [
            rng.choice(valid[k] if valid[k] and rng.random() < 0.85 else VALUES) for k in kinds
        ]
        slow = all(protocol._CHECKS[kind](value) for kind, value in zip(kinds, values, strict=True))
        assert protocol._FAST_CHECKS[cls](values) == slow, (values, kinds)
        outcomes.add(slow)
    can_fail = any(len(valid[k]) < len(VALUES) for k in kinds)  # Bye has no fields
    assert outcomes == ({True, False} if can_fail else {True})  # both answers compared


def test_decode_parts_reads_every_part_in_order() -> None:
    first = [frames.Ack(1, "a", None, None), frames.Ack(2, "b", None, None)]
    second = frames.Ack(3, "c", None, None)
    parts = [b"".join(encode(f) for f in first), b"\xc1", encode(second)]
    out = list(protocol.decode_parts(parts))
    assert out[:2] == first and out[3] == second
    assert isinstance(out[2], ProtocolError)  # a bad part does not hide the next one


@pytest.mark.parametrize(
    "args", [["ab" * 16, "hi"], ["ab" * 16, b"\x00"], [["a", "b"], None], [], [{"k": [1]}]]
)
def test_a_command_encoded_without_its_frame_is_the_frame_encoded(args: list[object]) -> None:
    for op in frames.Op:
        assert protocol.encode_command(op, args) == protocol.encode(frames.Command(op, args))


def test_a_string_that_is_not_text_is_a_clear_invalid_argument() -> None:
    """A lone surrogate (json.loads makes one of "\\ud800") has no UTF-8: the caller
    hears which call and why, not msgpack's codec error, and the packer still works."""
    from common.exceptions import InvalidArgument
    from common.frames import Op
    from common.protocol import encode_command

    with pytest.raises(InvalidArgument, match=r"send_to_all: a string holds '\\ud800'"):
        encode_command(Op.SEND_TO_ALL, ["a\ud800b"])
    with pytest.raises(InvalidArgument, match="lone surrogate"):
        encode(Hello(Role.WORKER, "\udfff", 1))
    assert decode(encode_command(Op.SEND_TO_ALL, ["fine"])) == Command(Op.SEND_TO_ALL, ["fine"])
