"""business.httpapi.auth and .errors: keys, the start-up rule, refusals (no sockets)."""

from __future__ import annotations

import hmac

import pytest

from business.httpapi.auth import BadCredentials, KeyRing, check_exposure, parse_keys
from business.httpapi.errors import STATUS_CODES, ApiError, from_exception
from common.exceptions import (
    ClientIdError,
    ConfigError,
    InvalidArgument,
    NotRunning,
    QueryTimeout,
    RemoteError,
)

OLD, NEW = "old-key-0123456789abcdef", "new-key-0123456789abcdef"


def test_keys_come_repeated_or_comma_separated() -> None:
    assert parse_keys([f"{OLD},{NEW}"]) == (OLD, NEW)
    assert parse_keys([OLD, f" {NEW} ", OLD]) == (OLD, NEW)  # once each
    assert parse_keys([]) == ()
    assert parse_keys([" , "]) == ()


@pytest.mark.parametrize("bad", ["short", "x" * 15, "é" * 20, "tab\there-0123456789"])
def test_a_weak_key_is_refused_without_being_shown(bad: str) -> None:
    with pytest.raises(ConfigError, match="API key #2 is not a key") as refused:
        parse_keys([OLD, bad])
    assert bad not in str(refused.value) and OLD not in str(refused.value)


def test_no_key_only_on_loopback_with_insecure() -> None:
    check_exposure((OLD,), "0.0.0.0", insecure=False)
    check_exposure((), "127.0.0.1", insecure=True)
    check_exposure((), "::1", insecure=True)
    with pytest.raises(ConfigError, match="no API key: give --api-key or GW_API_KEY"):
        check_exposure((), "127.0.0.1", insecure=False)
    with pytest.raises(ConfigError, match=r"loopback address only, not on 0\.0\.0\.0"):
        check_exposure((), "0.0.0.0", insecure=True)
    with pytest.raises(ConfigError, match=r"not on 10\.0\.0\.5"):
        check_exposure((), "10.0.0.5", insecure=True)


def test_either_scheme_and_any_configured_key() -> None:
    keys = KeyRing([OLD, NEW])
    assert not keys.open and len(keys) == 2
    assert keys.identify(f"Bearer {OLD}") == 1
    assert keys.identify(f"bearer {NEW}") == 2
    assert keys.identify(f"apikey {NEW}") == 2
    assert keys.identify(f"ApiKey  {OLD} ") == 1
    assert keys.identify(None) is BadCredentials.NO_HEADER
    assert keys.identify("") is BadCredentials.NO_HEADER
    assert keys.identify(f"Basic {OLD}") is BadCredentials.SCHEME
    assert keys.identify("Bearer") is BadCredentials.SCHEME
    assert keys.identify(f"Bearer {OLD}x") is BadCredentials.WRONG_KEY
    assert keys.identify(f"Bearer {OLD[:-1]}") is BadCredentials.WRONG_KEY
    assert keys.identify("Bearer \udcff-not-utf-8") is BadCredentials.WRONG_KEY
    assert KeyRing([]).open


def test_every_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    keys = KeyRing([OLD, NEW, "third-key-0123456789"])
    assert keys.identify(f"Bearer {OLD}") == 1
    assert keys.identify("Bearer x") is BadCredentials.WRONG_KEY
    # all three every time (not stopping at the first match), digests of one length
    assert compared == [(32, 32)] * 6


def test_refusals_by_status() -> None:
    assert ApiError("unauthorized", "x").status == 401
    assert ApiError("no_gateway", "x", 1.0).item() == {
        "error": {"code": "no_gateway", "message": "x", "status": 503},
    }
    assert set(STATUS_CODES.values()) == {400, 401, 404, 405, 413, 429, 500, 502, 503, 504}
    cases = [
        (QueryTimeout("late"), "query_timeout"),
        (InvalidArgument("bad"), "invalid_argument"),
        (ClientIdError("no"), "invalid_argument"),
        (RemoteError("e"), "gateway_error"),
        (NotRunning("x"), "stopping"),
    ]
    for exc, code in cases:
        error = from_exception(exc)
        assert error is not None and error.code == code
    assert from_exception(KeyError("a bug")) is None  # not a refusal: a 500, logged
