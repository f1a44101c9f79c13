"""What a gateway learns from a client's upgrade request, as data (pure, no I/O).

``on_websocket_connect(client_id, data)`` receives :func:`request_data`: the path,
the query string's parameters, the headers, the cookies, and ``server``, the
PHP-style ``$_SERVER`` keys of GatewayWorker (``REMOTE_ADDR``, ``HTTP_USER_AGENT``,
``HTTP_X_FORWARDED_FOR``...).
"""

from __future__ import annotations

from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit


def cookies_of(values: Iterable[str]) -> dict[str, str]:
    """Every cookie of the ``Cookie`` headers; a malformed header is skipped."""
    cookies: dict[str, str] = {}
    for raw in values:
        parsed: SimpleCookie = SimpleCookie()
        try:
            parsed.load(raw)
        except CookieError:  # a bad cookie header must not cost the connection
            continue
        cookies.update({k: morsel.value for k, morsel in parsed.items()})
    return cookies


def request_data(
    path: str,
    headers: Iterable[tuple[str, str]],
    peer: tuple[str, int],
    client_id: str,
    gateway_address: str,
    gateway_port: int,
    hide_token: bool = False,
) -> dict[str, Any]:
    """What ``on_websocket_connect`` receives: path, query, headers, cookies, server.

    ``headers`` are the request's (name, value) pairs in order; a repeated header
    keeps its last value in ``headers`` and ``server`` (all ``Cookie`` headers count).
    ``hide_token``: the gateway verified the request's bearer token; handlers get its
    claims (``auth``), never the token itself (``?token=`` and ``Authorization`` go).
    """
    pairs = list(headers)
    if hide_token:
        path, pairs = _without_token(path, pairs)
    url = urlsplit(path)
    header_map = dict(pairs)
    remote_ip, remote_port = peer
    server: dict[str, Any] = {
        "REMOTE_ADDR": remote_ip,
        "REMOTE_PORT": remote_port,
        "REQUEST_URI": path,
        "QUERY_STRING": url.query,
        "GATEWAY_ADDR": gateway_address,
        "GATEWAY_PORT": gateway_port,
        "GATEWAY_CLIENT_ID": client_id,
    }
    for name, value in header_map.items():
        server["HTTP_" + name.upper().replace("-", "_")] = value
    return {
        "path": url.path,
        "query": dict(parse_qsl(url.query, keep_blank_values=True)),
        "headers": header_map,
        "cookies": cookies_of(v for k, v in pairs if k.lower() == "cookie"),
        "server": server,
    }


def _without_token(path: str, pairs: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    # the other parameters stay as the client wrote them (only the token's are cut)
    url = urlsplit(path)
    query = [p for p in url.query.split("&") if unquote_plus(p.partition("=")[0]) != "token"]
    path = url.path + ("?" + "&".join(query) if any(query) else "")
    kept = [
        (k, v)
        for k, v in pairs
        if not (k.lower() == "authorization" and v.lower().startswith("bearer "))
    ]
    return path, kept
