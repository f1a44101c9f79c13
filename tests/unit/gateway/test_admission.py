"""gateway.admission: caps, origins, tokens and the hook, decided with no I/O."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from common.exceptions import ConfigError
from gateway.admission import (
    Admission,
    Policy,
    Refusal,
    admit,
    check_caps,
    load_hook,
    token_of,
    verify,
)

SECRET = "unit-test-secret-of-32-bytes-or-more"
NOW = 1_800_000_000.0


def token(secret: str = SECRET, **claims: Any) -> str:
    return jwt.encode({"exp": NOW + 60, **claims}, secret, algorithm="HS256")


def data(claims: dict[str, Any] | None) -> dict[str, Any]:
    return {"query": {}, "auth": claims}


def decide(policy: Policy, path: str = "/", **headers: str) -> Admission | Refusal:
    return admit(policy, path, {k.lower(): v for k, v in headers.items()}, NOW, data)


def test_caps_count_this_connection_too() -> None:
    policy = Policy(max_connections=2, max_connections_per_ip=1)
    assert check_caps(policy, connections=2, from_ip=1) is None
    over = check_caps(policy, connections=3, from_ip=1)
    assert over is not None and over.status == 503 and over.reason == "max-connections"
    per_ip = check_caps(policy, connections=2, from_ip=2)
    assert per_ip is not None and per_ip.reason == "max-connections-per-ip"
    assert check_caps(Policy(), connections=10**6, from_ip=10**6) is None  # 0: no cap


def test_origins() -> None:
    policy = Policy(allowed_origins=("https://a.example",))
    assert decide(policy, Origin="https://a.example") == Admission(None)
    refusal = decide(policy, Origin="https://evil.example")
    assert isinstance(refusal, Refusal) and refusal.status == 403
    assert decide(policy) == Admission(None)  # no Origin: not a browser page
    assert decide(Policy(), Origin="https://evil.example") == Admission(None)


def test_token_sources() -> None:
    assert token_of("/?a=1&token=abc", {}) == "abc"
    assert token_of("/", {"authorization": "Bearer xyz"}) == "xyz"
    assert token_of("/?token=abc", {"authorization": "bearer  xyz "}) == "xyz"  # header wins
    assert token_of("/", {"authorization": "Basic Zm9v"}) is None
    assert token_of("/?token=", {}) is None


def test_verify_accepts_a_good_token_and_says_why_not_otherwise() -> None:
    claims = verify(token(uid="7", name="x"), SECRET, NOW)
    assert isinstance(claims, dict) and claims["uid"] == "7"
    cases = {
        "forged": verify(token("another-secret-of-32-bytes-or-more", uid="7"), SECRET, NOW),
        "garbage": verify("not-a-token", SECRET, NOW),
        "expired": verify(token(uid="7"), SECRET, NOW + 61),
        "no exp": verify(jwt.encode({"uid": "7"}, SECRET, algorithm="HS256"), SECRET, NOW),
        "not yet": verify(token(uid="7", nbf=NOW + 30), SECRET, NOW),
        "bad uid": verify(token(uid=""), SECRET, NOW),
        "zero uid": verify(token(uid=0), SECRET, NOW),
        "none alg": verify(jwt.encode({"exp": NOW + 60}, None, algorithm="none"), SECRET, NOW),
    }
    for name, result in cases.items():
        assert isinstance(result, Refusal) and result.status == 401, name
        assert SECRET not in result.reason and "eyJ" not in result.reason  # nothing secret
    assert "expired" in cases["expired"].reason  # type: ignore[union-attr]


def test_required_optional_and_anonymous() -> None:
    required = Policy(auth_secret=SECRET)
    missing = decide(required)
    assert isinstance(missing, Refusal) and missing.status == 401
    assert decide(required, f"/?token={token(uid='u1')}") == Admission(
        {"exp": NOW + 60, "uid": "u1"}
    )
    optional = Policy(auth_secret=SECRET, auth_optional=True)
    assert decide(optional) == Admission(None)
    bad = decide(optional, "/?token=garbage")
    assert isinstance(bad, Refusal) and bad.status == 401  # optional is not "anything goes"


def test_the_hook_sees_the_verified_claims_and_decides() -> None:
    seen: list[dict[str, Any]] = []

    def hook(request: dict[str, Any]) -> Any:
        seen.append(request)
        return request["query"].get("answer", request["auth"])

    policy = Policy(auth_secret=SECRET, auth_optional=True, hook=hook)
    assert decide(policy, f"/?token={token(uid='u')}") == Admission({"exp": NOW + 60, "uid": "u"})
    assert seen[-1]["auth"]["uid"] == "u"

    def answering(answer: Any) -> Policy:
        return Policy(hook=lambda request: answer)

    assert decide(answering({"uid": "h"})) == Admission({"uid": "h"})
    assert decide(answering(None)) == Admission(None)
    refusal = decide(answering(429))
    assert isinstance(refusal, Refusal) and refusal.status == 429
    for wrong in ("yes", True, ["uid"], {"uid": ""}):
        with pytest.raises(TypeError):  # a bug in the hook: the gateway answers 500
            decide(answering(wrong))


def test_load_hook() -> None:
    assert load_hook("tests.cluster.apps.hook:decide")({"query": {}, "auth": None}) is None
    for bad in (
        "no_colon",
        "no.such.module:f",
        "tests.cluster.apps.hook:missing",
        "tests.cluster.apps.hook:__doc__",
    ):
        with pytest.raises(ConfigError):
            load_hook(bad)
