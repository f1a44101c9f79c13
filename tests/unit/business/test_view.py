"""business.view: registers add gateways, a gateway's own link removes it (pure)."""

from __future__ import annotations

from business.view import GatewayView

A, B, C = "tcp://10.0.0.1:2900", "tcp://10.0.0.2:2900", "tcp://10.0.0.3:2900"
TIMEOUT = 3.5


def view_with(*addresses: str, now: float = 0.0) -> GatewayView:
    """A view whose only register listed ``addresses`` (complete), links up."""
    view = GatewayView(TIMEOUT)
    changes = view.on_list(0, dict.fromkeys(addresses, 1), True, now)
    assert changes.add == list(addresses) and changes.drop == []
    for address in addresses:
        view.link_up(address)
    return view


def test_a_list_adds_members() -> None:
    view = view_with(A, B)
    assert view.members() == [A, B]
    assert view.listed() == {A: 1, B: 1}
    assert view.answered and view.complete


def test_nothing_answered_yet() -> None:
    view = GatewayView(TIMEOUT)
    assert not view.answered and not view.complete
    assert view.members() == [] and view.listed() == {}


def test_a_complete_list_that_omits_a_live_gateway_does_not_drop_it() -> None:
    # a register back from a network loss, before the gateways re-announced
    view = view_with(A, B)
    changes = view.on_list(0, {}, True, 10.0)
    assert changes.add == [] and changes.drop == []
    assert view.members() == [A, B]  # "all" sends still reach both
    assert view.tick(100.0) == []  # however long it lasts, while the links are up


def test_an_unlisted_gateway_goes_when_its_link_goes_down() -> None:
    view = view_with(A, B)
    view.on_list(0, {B: 1}, True, 10.0)
    assert view.members() == [A, B]
    assert view.link_down(A, 11.0) == [A]
    assert view.members() == [B]


def test_a_listed_gateway_stays_while_its_link_is_down() -> None:
    # the gateway's host is cut: the register still lists it (it has not expired yet)
    view = view_with(A, B)
    assert view.link_down(A, 11.0) == []
    assert view.tick(50.0) == []
    assert view.members() == [A, B]
    # the register expires it: now both agree
    changes = view.on_list(0, {B: 1}, True, 51.0)
    assert changes.drop == [A]
    assert view.members() == [B]


def test_a_gateway_that_left_goes_whichever_word_comes_first() -> None:
    view = view_with(A, B)
    assert view.link_down(B, 5.0) == []  # still listed
    assert view.on_list(0, {A: 1}, True, 5.1).drop == [B]
    view = view_with(A, B)
    assert view.on_list(0, {A: 1}, True, 5.0).drop == []  # its link is still up
    assert view.link_down(B, 5.1) == [B]


def test_an_incomplete_list_only_adds() -> None:
    view = view_with(A, B)
    view.link_down(A, 5.0)
    changes = view.on_list(0, {C: 1}, False, 6.0)  # a register that just restarted
    assert changes.add == [C] and changes.drop == []
    assert view.listed() == {A: 1, B: 1, C: 1}
    assert view.members() == [A, B, C]
    # its first complete list replaces what it said before
    assert view.on_list(0, {B: 1, C: 1}, True, 9.0).drop == [A]


def test_any_register_listing_a_gateway_keeps_it() -> None:
    view = view_with(A, B)
    view.on_list(1, {A: 1}, True, 1.0)
    view.link_down(A, 2.0)
    view.link_down(B, 2.0)
    assert view.on_list(0, {}, True, 3.0).drop == [B]  # register 1 still lists A
    assert view.members() == [A]


def test_completeness_is_from_any_register_ever() -> None:
    view = GatewayView(TIMEOUT)
    view.on_list(0, {A: 1}, False, 0.0)
    assert view.answered and not view.complete
    view.on_list(1, {A: 1}, True, 1.0)
    assert view.complete
    view.on_list(1, {A: 1}, False, 2.0)
    assert view.complete  # our members were complete once; links keep them so


def test_a_link_opened_on_demand_is_not_a_member() -> None:
    view = view_with(A)
    view.opened(C, 10.0)  # a client_id of a gateway no register lists
    assert view.members() == [A]
    assert view.tick(10.0 + TIMEOUT) == []
    assert view.tick(10.1 + TIMEOUT) == [C]  # never up: forgotten after the timeout
    assert C not in view.links


def test_an_on_demand_link_that_is_up_stays_and_becomes_a_member_once_listed() -> None:
    view = view_with(A)
    view.opened(C, 10.0)
    view.link_up(C)
    assert view.tick(100.0) == []
    assert view.on_list(0, {A: 1, C: 1}, True, 101.0).add == []  # the link exists
    assert view.members() == [A, C]


def test_an_on_demand_link_goes_a_timeout_after_its_link_went_down() -> None:
    view = view_with(A)
    view.opened(C, 10.0)
    view.link_up(C)
    assert view.link_down(C, 20.0) == []
    assert view.tick(20.0 + TIMEOUT) == []
    assert view.tick(20.1 + TIMEOUT) == [C]


def test_a_link_that_comes_back_is_kept() -> None:
    view = view_with(A, B)
    view.on_list(0, {B: 1}, True, 1.0)  # A unlisted, but up
    view.link_up(A)
    assert view.tick(2.0) == []
    assert view.members() == [A, B]


def test_events_for_unknown_links_are_ignored() -> None:
    view = view_with(A)
    view.link_up(C)
    assert view.link_down(C, 1.0) == []
    assert view.members() == [A]
