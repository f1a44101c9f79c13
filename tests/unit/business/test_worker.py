"""business.worker.session_patch: what a handler changed in the session."""

from __future__ import annotations

from typing import Any

import pytest

from business.worker import session_patch


@pytest.mark.parametrize(
    ("before", "after", "changed", "deleted"),
    [
        ({}, {}, None, None),
        ({"a": 1}, {"a": 1}, None, None),
        ({}, {"a": 1}, {"a": 1}, None),
        ({"a": 1}, {"a": 2}, {"a": 2}, None),
        ({"a": 1}, {}, None, ["a"]),
        ({"a": 1, "b": 2}, {"b": 3, "c": 4}, {"b": 3, "c": 4}, ["a"]),
        ({"a": 1, "b": 2, "c": 3}, {"b": 2}, None, ["a", "c"]),
        ({"a": None}, {"a": 0}, {"a": 0}, None),
        ({"a": None}, {}, None, ["a"]),
        ({}, {"a": None}, {"a": None}, None),
        ({"l": [1, 2]}, {"l": [1, 2, 3]}, {"l": [1, 2, 3]}, None),
        ({"d": {"x": 1}}, {"d": {"x": 1}}, None, None),
        ({"d": {"x": 1}}, {"d": {"x": 2}}, {"d": {"x": 2}}, None),
        ({1: "int", "1": "str"}, {1: "int"}, None, ["1"]),
    ],
)
def test_session_patch(
    before: dict[Any, Any],
    after: dict[Any, Any],
    changed: dict[Any, Any] | None,
    deleted: list[Any] | None,
) -> None:
    assert session_patch(before, after) == (changed, deleted)


def test_patch_applied_to_before_gives_after() -> None:
    before = {"keep": 1, "change": "x", "drop": [1], "drop2": None}
    after = {"keep": 1, "change": "y", "new": {"n": 1}}
    changed, deleted = session_patch(before, after)
    patched = dict(before)
    patched.update(changed or {})
    for key in deleted or ():
        del patched[key]
    assert patched == after


def test_inputs_are_not_modified() -> None:
    before, after = {"a": 1, "b": 2}, {"a": 3}
    session_patch(before, after)
    assert (before, after) == ({"a": 1, "b": 2}, {"a": 3})


@pytest.mark.parametrize(
    ("old", "new"), [(1, True), (1, 1.0), ([1], [True]), ({"a": 0}, {"a": False})]
)
def test_values_equal_in_python_but_not_on_the_wire_are_changes(old: Any, new: Any) -> None:
    assert session_patch({"k": old}, {"k": new}) == ({"k": new}, None)
