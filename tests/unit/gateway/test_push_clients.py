"""gateway.workers.push_clients: gw status's names of the push clients a gateway links."""

from __future__ import annotations

from gateway.workers import push_clients


def test_a_push_client_is_named_once_whatever_its_links() -> None:
    # a push client's identity is NAME/random, one per link (business.cluster)
    identities = [b"api-12/0a1b2c3d", b"chat-web-7/00000000", b"api-12/ffeeddcc", b"odd"]
    assert push_clients(identities) == ["api-12", "chat-web-7", "odd"]  # "odd": a bare one
    assert push_clients([b"api-1/\xff\xfe"]) == ["api-1"]  # not UTF-8 after the name: fine
    assert push_clients([]) == []
