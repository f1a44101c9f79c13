"""``PACKAGE.MODULE:NAME`` strings, as options and entry points name code to load."""

from __future__ import annotations

import importlib
from typing import Any

from .exceptions import ConfigError


def load(spec: str, what: str) -> Any:
    """The object ``spec`` names; a ConfigError saying ``what`` it was for if it fails.

    ``what`` is how the user named it, e.g. ``"--auth-hook"``.
    """
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ConfigError(f"{what} is PACKAGE.MODULE:NAME, got {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load {what} {spec!r}: {exc}") from None


def load_callable(spec: str, what: str) -> Any:
    """:func:`load`, and the object must be callable."""
    found = load(spec, what)
    if not callable(found):
        raise ConfigError(f"{what} {spec!r} is not callable")
    return found
