"""``python -m examples.chat.web``: the web backend (see :mod:`.server`)."""

from .server import main

main()
