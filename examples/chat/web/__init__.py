"""The chat's web backend: the page, accounts, rooms, history, uploads, over HTTP.

``python -m examples.chat.web`` (:mod:`.server`): an aiohttp application that logs
people in, issues the tokens the gateway verifies, stores the conversations in SQLite
(:mod:`.db`) and pushes what changes to the pages through the cluster (a push
client). ``python -m examples.chat.web.admin``: the operator's commands on its
database.
"""
