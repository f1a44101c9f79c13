"""common.control: what gw start keeps off command lines and files."""

from __future__ import annotations

from common.control import without_secrets


def test_secrets_move_from_the_arguments_to_the_environment() -> None:
    args = ["--app", "x", "--secret", "s1", "--auth-secret=s2", "--workers", "2",
            "--auth-optional"]  # fmt: skip
    kept, secrets = without_secrets(args)
    assert kept == ["--app", "x", "--workers", "2", "--auth-optional"]
    assert secrets == {"GW_SECRET": "s1", "GW_AUTH_SECRET": "s2"}
    assert without_secrets(["--app", "x"]) == (["--app", "x"], {})
