"""common.ids: the client_id codec and group/uid name normalisation."""

from __future__ import annotations

import string

import pytest

from common import ids
from common.exceptions import ClientIdError, GatewayError, InvalidArgument

GOOD = ids.encode("192.168.1.20", 2900, 0x01020304, 42)


@pytest.mark.parametrize(
    ("ip", "port", "epoch", "counter"),
    [
        ("127.0.0.1", 2900, 1, 1),
        ("0.0.0.0", 0, 0, 0),
        ("255.255.255.255", 65535, 2**32 - 1, 2**32 - 1),
        ("10.1.2.3", 40000, 0xDEADBEEF, 123456),
    ],
)
def test_round_trip(ip: str, port: int, epoch: int, counter: int) -> None:
    client_id = ids.encode(ip, port, epoch, counter)
    assert len(client_id) == ids.ID_LENGTH == 28
    assert set(client_id) <= set("0123456789abcdef")
    assert ids.decode(client_id) == ids.ClientId(ip, port, epoch, counter)


def test_layout_is_big_endian_ip_port_epoch_counter() -> None:
    assert ids.encode("1.2.3.4", 0x0506, 0x0708090A, 0x0B0C0D0E) == "0102030405060708090a0b0c0d0e"


def test_gateway_of() -> None:
    assert ids.gateway_of(GOOD) == "tcp://192.168.1.20:2900"
    assert ids.decode(GOOD).gateway_address == "tcp://192.168.1.20:2900"


def test_ids_differ_by_counter_and_epoch() -> None:
    base = ids.encode("10.0.0.1", 2900, 5, 1)
    assert base != ids.encode("10.0.0.1", 2900, 5, 2)
    assert base != ids.encode("10.0.0.1", 2900, 6, 1)
    assert ids.gateway_of(base) == ids.gateway_of(ids.encode("10.0.0.1", 2900, 6, 1))


def test_epochs_are_non_zero_32_bit_and_differ() -> None:
    epochs = [ids.new_epoch() for _ in range(200)]
    assert all(0 < e < 2**32 for e in epochs)
    assert len(set(epochs)) > 190  # 200 draws of 32 bits: a clash is ~5e-6 likely


def test_new_epoch_retries_on_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([b"\x00\x00\x00\x00", b"\x00\x00\x00\x00", b"\x00\x00\x01\x00"])
    monkeypatch.setattr(ids.os, "urandom", lambda n: next(draws))
    assert ids.new_epoch() == 256


@pytest.mark.parametrize(
    "bad",
    [
        "",
        GOOD[:-1],
        GOOD + "0",
        "g" + GOOD[1:],
        "z" * 28,
        GOOD.upper(),
        GOOD[:-1] + "\n",  # a regex's $ would let a newline end it
        GOOD[:-1] + "\u0660",  # a digit, but not an ASCII one
        GOOD[:2] + "  " + GOOD[4:],  # bytes.fromhex() would skip the spaces
        " " * 28,
        "\t" + GOOD[1:],
        "0x" + GOOD[2:],
        "-" + GOOD[1:],
        "é" + GOOD[1:],
        None,
        123,
        GOOD.encode(),
        [GOOD],
    ],
)
def test_bad_ids(bad: object) -> None:
    assert not ids.is_client_id(bad)
    with pytest.raises(ClientIdError):
        ids.decode(bad)  # type: ignore[arg-type]
    with pytest.raises(ClientIdError):
        ids.gateway_of(bad)  # type: ignore[arg-type]


def test_a_good_id_has_the_form() -> None:
    assert ids.is_client_id(GOOD)
    assert ids.is_client_id(ids.encode("10.0.0.1", 2900, 1, 1))


def test_every_non_hex_character_is_refused() -> None:
    for char in set(string.printable) - set("0123456789abcdef"):
        with pytest.raises(ClientIdError):
            ids.decode(char + GOOD[1:])


@pytest.mark.parametrize(
    ("ip", "port", "epoch", "counter"),
    [
        ("::1", 1, 1, 1),
        ("256.0.0.1", 1, 1, 1),
        ("host.example", 1, 1, 1),
        ("", 1, 1, 1),
        ("1.2.3.4", -1, 1, 1),
        ("1.2.3.4", 65536, 1, 1),
        ("1.2.3.4", 1, -1, 1),
        ("1.2.3.4", 1, 2**32, 1),
        ("1.2.3.4", 1, 1, -1),
        ("1.2.3.4", 1, 1, 2**32),
    ],
)
def test_encode_refuses_what_does_not_fit(ip: str, port: int, epoch: int, counter: int) -> None:
    with pytest.raises(ClientIdError):
        ids.encode(ip, port, epoch, counter)


def test_client_id_error_is_a_gateway_error() -> None:
    assert issubclass(ClientIdError, GatewayError)


# -- name_key -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100, "100"), ("100", "100"), ("room", "room"), (-5, "-5"), ("00", "00"), (" ", " ")],
)
def test_name_key_normalises_to_str(value: object, expected: str) -> None:
    assert ids.name_key(value) == expected


def test_int_and_str_name_the_same_key() -> None:
    assert ids.name_key(100) == ids.name_key("100")
    assert ids.name_key(7, "uid") == ids.name_key("7", "uid")


@pytest.mark.parametrize("value", [0, "0", "", None, False, True, 0.0])
def test_name_key_refuses_invalid_ids(value: object) -> None:
    with pytest.raises(InvalidArgument, match="not a valid group id"):
        ids.name_key(value)


@pytest.mark.parametrize("value", [1.5, 100.0, b"abc", ["a"], ("a",), {"a": 1}, object()])
def test_name_key_refuses_other_types(value: object) -> None:
    with pytest.raises(InvalidArgument, match="string or an integer"):
        ids.name_key(value)


def test_name_key_names_what_it_checks() -> None:
    with pytest.raises(InvalidArgument, match="uid"):
        ids.name_key(None, "uid")
    with pytest.raises(InvalidArgument, match="uid"):
        ids.name_key(1.5, "uid")


def test_invalid_argument_is_also_a_value_error() -> None:
    with pytest.raises(ValueError):
        ids.name_key("")


def test_gateway_of_agrees_with_decode_and_refuses_what_it_refuses() -> None:
    import random

    rng = random.Random(20)
    for _ in range(2000):
        ip = ".".join(str(rng.randrange(256)) for _ in range(4))
        client_id = ids.encode(
            ip, rng.randrange(1, 65536), rng.randrange(1, 2**32), rng.randrange(2**32)
        )
        assert ids.gateway_of(client_id) == ids.decode(client_id).gateway_address
    good = ids.encode("10.0.0.1", 2900, 1, 1)
    for bad in [
        good.upper(),
        good[:-1] + "g",
        good[:-1],
        good + "0",
        " " + good[1:],
        5,
        None,
        good[:12] + "-" * 16,
    ]:
        with pytest.raises(ClientIdError):
            ids.decode(bad)  # type: ignore[arg-type]
        with pytest.raises(ClientIdError):
            ids.gateway_of(bad)  # type: ignore[arg-type]
