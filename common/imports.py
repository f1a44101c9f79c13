"""``PACKAGE.MODULE:NAME`` strings, as options and entry points name code to load."""

from __future__ import annotations

import importlib
import traceback
from typing import Any

from .exceptions import ConfigError


def load(spec: str, what: str) -> Any:
    """The object ``spec`` names; a ConfigError saying ``what`` it was for if it fails.

    ``what`` is how the user named it, e.g. ``"--auth-hook"``.
    """
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ConfigError(f"{what} is PACKAGE.MODULE:NAME, got {spec!r}")
    module = import_module(module_name, f"{what} {spec!r}", verb="load")
    try:
        return getattr(module, name)
    except AttributeError as exc:
        raise ConfigError(f"cannot load {what} {spec!r}: {exc}") from None


def import_module(name: str, what: str, verb: str = "import") -> Any:
    """Import module ``name`` for ``what`` (``"app 'shop.app'"``); a ConfigError of one
    line if it cannot be: not found, or its own code failed on import (then the error,
    and the file and line where it was raised: the user's code, the user's fix)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"cannot {verb} {what}: {exc}") from None
    except Exception as exc:  # its own code raised (or a name no import takes)
        where = ""
        if isinstance(exc, SyntaxError):
            pass  # (its text already says the file and line)
        elif frames := [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if not frame.filename.startswith("<frozen")
            and "importlib" not in frame.filename
            and frame.filename != __file__
        ]:
            where = f" ({frames[-1].filename}, line {frames[-1].lineno})"
        raise ConfigError(f"cannot {verb} {what}: {type(exc).__name__}: {exc}{where}") from None


def load_callable(spec: str, what: str) -> Any:
    """:func:`load`, and the object must be callable."""
    found = load(spec, what)
    if not callable(found):
        raise ConfigError(f"{what} {spec!r} is not callable")
    return found
