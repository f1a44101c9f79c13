"""business.results: merged answers that report the gateways that did not answer."""

from __future__ import annotations

import pytest

from business.results import Count, Listing, Mapping, with_missing

GONE = ("tcp://10.0.0.9:2900",)


@pytest.mark.parametrize(
    ("value", "cls", "base"),
    [(3, Count, int), (0, Count, int), ([1, "a"], Listing, list), ({"g": 2}, Mapping, dict)],
)
def test_wraps_and_behaves_as_the_plain_value(value: object, cls: type, base: type) -> None:
    result = with_missing(value, GONE)
    assert type(result) is cls
    assert isinstance(result, base)
    assert result == value
    assert result.missing == GONE
    assert result.complete is False


@pytest.mark.parametrize("value", [5, [], ["x"], {}, {"a": 1}])
def test_complete_when_nothing_is_missing(value: object) -> None:
    result = with_missing(value, ())
    assert result.missing == ()
    assert result.complete is True
    assert result == value


def test_bool_becomes_a_count() -> None:
    result = with_missing(True, ())
    assert type(result) is Count
    assert result == 1


def test_count_arithmetic_is_int() -> None:
    result = with_missing(3, GONE)
    assert result + 2 == 5
    assert f"{result}" == "3"
    assert int(result) == 3


def test_listing_and_mapping_keep_their_content() -> None:
    listing = with_missing(["a", "b"], GONE)
    assert list(listing) == ["a", "b"]
    assert len(listing) == 2
    mapping = with_missing({"k": [1]}, GONE)
    assert mapping["k"] == [1]
    assert dict(mapping) == {"k": [1]}


def test_wrapping_copies_the_container() -> None:
    value = ["a"]
    result = with_missing(value, ())
    value.append("b")
    assert result == ["a"]


def test_missing_is_per_instance() -> None:
    partial = with_missing(1, GONE)
    whole = with_missing(1, ())
    assert partial.missing == GONE
    assert whole.missing == ()
    assert Count(7).missing == ()  # class default untouched
    assert Count(7).complete


@pytest.mark.parametrize("value", [None, "42", 1.5, ("t",)])
def test_other_values_pass_through(value: object) -> None:
    assert with_missing(value, GONE) is value


def test_plain_containers_default_to_complete() -> None:
    assert Listing([1]).complete
    assert Mapping({}).missing == ()
