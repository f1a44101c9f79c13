"""One language (issue 18, item 8): every refusal the backend can answer the page with is
in Chinese, the page's language.

Read from the source with ``ast``: each ``BadRequest(...)`` of ``examples/chat`` is
found, its text resolved (a literal, an f-string, a module constant); a text that
cannot be resolved must be one of the few known indirect ones, checked here by value.
A new refusal in English, or a new indirect one, fails until it is looked at.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from examples.chat.web import conversations, origin, passwords, payloads, state

PACKAGE = Path(payloads.__file__).resolve().parent
CHINESE = re.compile(r"[\u4e00-\u9fff]")
# texts passed in from elsewhere, each checked below by value
INDIRECT = {"guard.py": {"refused.msg"}, "accounts.py": {"problem"}, "state.py": {"missing"}}


def constants() -> dict[str, str]:
    """Every module-level ``NAME = "text"`` of the package."""
    found: dict[str, str] = {}
    for path in PACKAGE.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        found[target.id] = node.value.value
    return found


def texts_of(node: ast.expr, names: dict[str, str]) -> list[str] | None:
    """The texts an expression can be (both of ``a if c else b``), the unknown parts of
    an f-string left out; None if one of them is not known at all."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name):
        return [names[node.id]] if node.id in names else None
    if isinstance(node, ast.IfExp):
        body, orelse = texts_of(node.body, names), texts_of(node.orelse, names)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.JoinedStr):
        parts = [
            texts_of(v.value if isinstance(v, ast.FormattedValue) else v, names)
            for v in node.values
        ]
        known = "".join(p[0] for p in parts if p and len(p) == 1)
        return [known] if known else None
    return None


def refusals() -> list[tuple[str, int, str, list[str] | None]]:
    """(file, line, source, text) of every ``BadRequest(...)`` of the package."""
    names = constants()
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "BadRequest"
                and node.args
            ):
                expression = ast.get_source_segment(source, node.args[0]) or ""
                found.append((path.name, node.lineno, expression, texts_of(node.args[0], names)))
    return found


def test_every_refusal_is_said_in_chinese():
    found = refusals()
    assert len(found) > 30  # the scan sees the refusals (a broken walk would pass anything)
    english = [
        (f, line, text)
        for f, line, _, texts in found
        for text in texts or ()
        if not CHINESE.search(text)
    ]
    assert english == []
    indirect = {(f, e) for f, _, e, t in found if t is None}
    assert indirect == {(f, e) for f, es in INDIRECT.items() for e in es}


def test_the_indirect_texts_are_chinese_too():
    assert passwords.policy_error("x") and CHINESE.search(passwords.policy_error("x") or "")
    for text in (origin.CROSS_SITE, origin.STALE, state.NO_ROOM, state.NO_USER):
        assert CHINESE.search(text), text
    for text in state.HTTP_TEXTS.values():  # aiohttp's own refusals under /api/
        assert CHINESE.search(text), text


def test_number_is_only_given_chinese_texts():
    """``number(value, missing)``: every caller passes one of the Chinese constants."""
    calls = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "number":
                calls.append(ast.unparse(node.args[1]))
    assert calls and set(calls) <= {"NO_ROOM", "NO_USER"}


def test_a_private_chat_with_yourself_is_refused_as_such():
    assert conversations.SELF == "不能给自己发私聊消息"
