"""common.rundir: what gw start keeps off command lines and files."""

from __future__ import annotations

from common.rundir import without_secrets


def test_secrets_move_from_the_arguments_to_the_environment() -> None:
    args = ["--app", "x", "--secret", "s1", "--auth-secret=s2", "--workers", "2", "--auth-optional"]
    kept, secrets = without_secrets(args)
    assert kept == ["--app", "x", "--workers", "2", "--auth-optional"]
    assert secrets == {"GW_SECRET": "s1", "GW_AUTH_SECRET": "s2"}
    assert without_secrets(["--app", "x"]) == (["--app", "x"], {})


def test_api_keys_move_too_and_several_stay_several() -> None:
    kept, secrets = without_secrets(["--api-port", "0", "--api-key", "k1", "--api-key=k2"])
    assert kept == ["--api-port", "0"]
    assert secrets == {"GW_API_KEY": "k1,k2"}  # as GW_API_KEY takes them


def test_the_api_is_described_with_its_url() -> None:
    from common.background import describe

    (line,) = describe(
        {"processes": [{"role": "api", "name": "api", "pid": 7, "listen": "127.0.0.1:8790"}]}
    )
    assert "http://127.0.0.1:8790/api/v1/" in line and "openapi.json" in line


def test_a_with_command_is_named_by_the_role_it_says() -> None:
    from common.background import describe

    web, other = describe(
        {
            "processes": [
                {"role": "web", "name": "with-0", "pid": 8, "listen": "127.0.0.1:8080"},
                {"name": "with-1", "pid": 9},  # said nothing of itself: its slot's name
            ]
        }
    )
    assert web.split()[:2] == ["web", "pid"] and "http://127.0.0.1:8080/" in web
    assert other.split()[0] == "with-1"
