"""The smallest app: greet, echo back, broadcast on "all:", track a room."""

from __future__ import annotations

from business import api


def on_connect(client_id: str) -> None:
    api.send_to_client(client_id, f"hello {client_id}")


def on_message(client_id: str, message: str | bytes) -> None:
    if isinstance(message, str) and message.startswith("all:"):
        api.send_to_all(message[4:])
    else:
        api.send_to_current_client(message)


def on_close(client_id: str) -> None:
    api.send_to_all(f"{client_id} left")
