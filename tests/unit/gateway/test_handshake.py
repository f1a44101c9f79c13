"""gateway.handshake: what on_websocket_connect gets from an upgrade request (pure).

The requests are parsed from their bytes by websockets' own server-side parser, as
the gateway gets them.
"""

from __future__ import annotations

from gateway.handshake import cookies_of, request_data

from .wire import KEY, PEER, parse_request, upgrade_request

GATEWAY = "tcp://10.0.0.1:2900"  # where the client's gateway is linked
PORT = 8282  # its WebSocket port


def data_of(path: str, *headers: str, hide_token: bool = False) -> dict[str, object]:
    request = parse_request(upgrade_request(path, *headers))
    return request_data(
        request.path,
        request.headers.raw_items(),
        PEER,
        "cid-1",
        GATEWAY,
        PORT,
        hide_token=hide_token,
    )


def test_request_data() -> None:
    data = data_of(
        "/room/7?a=1&b=",
        "User-Agent: test-agent",
        'Cookie: sid=abc; theme=dark; quoted="a b"',
        "Cookie: evil=1; $foo=bar",  # SimpleCookie raises CookieError: skipped
        "Cookie: late=yes",
    )
    assert data["path"] == "/room/7"
    assert data["query"] == {"a": "1", "b": ""}
    headers = data["headers"]
    assert isinstance(headers, dict)
    assert headers["Host"] == "example.com" and headers["User-Agent"] == "test-agent"
    assert data["cookies"] == {"sid": "abc", "theme": "dark", "quoted": "a b", "late": "yes"}
    assert data["server"] == {
        "REMOTE_ADDR": "10.0.0.7",
        "REMOTE_PORT": 4242,
        "REQUEST_URI": "/room/7?a=1&b=",
        "QUERY_STRING": "a=1&b=",
        "GATEWAY_ADDR": GATEWAY,
        "GATEWAY_PORT": PORT,
        "GATEWAY_CLIENT_ID": "cid-1",
        "HTTP_HOST": "example.com",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": KEY,
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "HTTP_USER_AGENT": "test-agent",
        "HTTP_COOKIE": "late=yes",  # a repeated header: its last value
    }


def test_request_data_without_query_or_cookies() -> None:
    data = data_of("/")
    assert data["path"] == "/" and data["query"] == {} and data["cookies"] == {}
    server = data["server"]
    assert isinstance(server, dict) and server["QUERY_STRING"] == ""


def test_a_verified_token_never_reaches_handlers() -> None:
    pairs = [("Host", "x"), ("Authorization", "Bearer secret.token.here"), ("X-A", "1")]
    data = request_data(
        "/room?token=secret.token.here&a=1", pairs, PEER, "cid", "tcp://g:1", 8000, hide_token=True
    )
    assert data["query"] == {"a": "1"} and data["path"] == "/room"
    assert data["server"]["QUERY_STRING"] == "a=1"
    assert data["server"]["REQUEST_URI"] == "/room?a=1"
    assert "Authorization" not in data["headers"] and "HTTP_AUTHORIZATION" not in data["server"]
    assert "secret.token.here" not in repr(data)
    # the rest of the query stays as written; an encoded "token" key is cut too
    raw = request_data(
        "/r?a=x%20y&%74oken=s&flag&token=s", pairs, PEER, "cid", "tcp://g:1", 8000, hide_token=True
    )
    assert raw["server"]["QUERY_STRING"] == "a=x%20y&flag"
    assert raw["query"] == {"a": "x y", "flag": ""}


def test_an_unverified_token_is_left_to_the_app() -> None:
    # no --auth-secret: the gateway checked nothing, the app may want its own token
    data = data_of("/?token=t", "Authorization: Bearer t")
    assert data["query"] == {"token": "t"}
    assert data["headers"]["Authorization"] == "Bearer t"  # type: ignore[index]


def test_a_basic_authorization_is_not_a_token() -> None:
    pairs = [("Authorization", "Basic dXNlcjpwYXNz")]
    data = request_data("/", pairs, PEER, "cid", GATEWAY, PORT, hide_token=True)
    assert data["headers"] == {"Authorization": "Basic dXNlcjpwYXNz"}


def test_cookies_of_every_header_a_bad_one_skipped() -> None:
    assert cookies_of(["a=1; b=2", "c=3", "evil=1; $foo=bar", "a=4"]) == {
        "a": "4",
        "b": "2",
        "c": "3",
    }
    assert cookies_of([]) == {}
