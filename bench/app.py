"""The bench's business-worker app: the chat protocol of :mod:`bench.chat`.

Run by ``gw worker --app bench.app``. It does what the seed's ``onMessage`` does and
nothing more, so that the bench does not depend on the chat example.
"""

from __future__ import annotations

from business import api

from . import chat


def on_message(client_id: str, text: str | bytes) -> None:
    message = chat.parse(text)
    if message is None:
        api.send_to_current_client(chat.reply(400, "invalid json"))
        return
    event, mode = message["event"], message.get("mode")
    if event == "join":
        if mode == chat.GROUP:
            api.join_group(client_id, message["group_id"])
        else:
            api.bind_uid(client_id, message["from_user_id"])
        api.session.update({key: message.get(key) for key in chat.SESSION_KEYS})
        api.send_to_current_client(chat.reply(0, "success", message))
    elif event == "speak":
        data = chat.speak_reply(message)
        if mode == chat.PRIVATE:
            api.send_to_uid(message["to_user_id"], data)
        elif mode == chat.GROUP:
            api.send_to_group(message["group_id"], data)
        else:
            api.send_to_all(data)
    elif event == "enter":  # S8: join the group and bind the uid, one answer
        api.join_group(client_id, message["group_id"])
        api.bind_uid(client_id, message["from_user_id"])
        api.send_to_current_client(chat.reply(0, "success"))
    else:
        api.send_to_current_client(chat.reply(400, "default invalid", message))
