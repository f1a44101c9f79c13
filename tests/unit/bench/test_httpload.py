"""bench.httpload: the load generator's HTTP response parser and requests (no sockets)."""

from __future__ import annotations

import pytest

from bench.httpload import parse, request

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"


def test_a_response_is_taken_whole_and_only_whole() -> None:
    whole = ANSWER + b'{"result":null}'
    for cut in range(len(whole)):
        assert parse(whole[:cut]) is None  # every prefix: not yet
    assert parse(whole) == (200, len(whole), b'{"result":null}')
    two = whole + b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 2\r\n\r\n{}"
    status, taken, body = parse(two) or (0, 0, b"")
    assert (status, body) == (200, b'{"result":null}')
    assert parse(two[taken:]) == (429, len(two) - taken, b"{}")  # header names: any case


def test_what_it_cannot_read_is_an_error() -> None:
    with pytest.raises(ValueError, match="without Content-Length"):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    with pytest.raises(ValueError, match="not an HTTP response"):
        parse(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_a_request_carries_its_key_and_length() -> None:
    raw = request("127.0.0.1", 8790, "/api/v1/batch", b"[]", "k" * 20)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /api/v1/batch HTTP/1.1\r\n")
    assert b"Authorization: Bearer " + b"k" * 20 in head and b"Content-Length: 2" in head
    assert body == b"[]"
