"""Our own media: the file types the chat keeps, and which URLs are ours (pure).

An upload is saved as ``/uploads/<24 hex digits><extension>``. The extension is
chosen from what the file's bytes were found to be (:mod:`examples.chat.web.sniff`),
never from the client's claim, and it alone says how the file is served and what it
may be sent as:

=========  ==============  =========  ==========
extension  content type    msgtype    container
=========  ==============  =========  ==========
``.png``   ``image/png``   1 image    png
``.jpg``   ``image/jpeg``  1          jpeg
``.gif``   ``image/gif``   1          gif
``.webp``  ``image/webp``  1          webp
``.mp4``   ``video/mp4``   2 video    mp4
``.webm``  ``video/webm``  2          webm
``.ogv``   ``video/ogg``   2          ogg
``.mp3``   ``audio/mpeg``  3 voice    mp3
``.m4a``   ``audio/mp4``   3          mp4
``.aac``   ``audio/aac``   3          aac
``.ogg``   ``audio/ogg``   3          ogg
``.wav``   ``audio/wav``   3          wav
``.weba``  ``audio/webm``  3          webm
=========  ==============  =========  ==========

Media in a message, and an avatar, are ours only: an upload URL of that exact shape,
or a stock avatar (:data:`STOCK_AVATARS`). Nothing names another server, so no
viewer's browser is ever sent to one. Standard library only: the worker checks
avatars with it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UPLOADS = "/uploads/"
STOCK_AVATARS = tuple(f"/static/avatars/{n}.svg" for n in range(1, 9))
DEFAULT_AVATAR = "/static/avatars/default.svg"
IMAGE, VIDEO, VOICE = 1, 2, 3  # msgtypes of media messages


@dataclass(frozen=True, slots=True)
class MediaType:
    content_type: str
    msgtype: int
    container: str  # what the file's first bytes show (examples.chat.web.sniff.container)


TYPES: dict[str, MediaType] = {
    ".png": MediaType("image/png", IMAGE, "png"),
    ".jpg": MediaType("image/jpeg", IMAGE, "jpeg"),
    ".gif": MediaType("image/gif", IMAGE, "gif"),
    ".webp": MediaType("image/webp", IMAGE, "webp"),
    ".mp4": MediaType("video/mp4", VIDEO, "mp4"),
    ".webm": MediaType("video/webm", VIDEO, "webm"),
    ".ogv": MediaType("video/ogg", VIDEO, "ogg"),
    ".mp3": MediaType("audio/mpeg", VOICE, "mp3"),
    ".m4a": MediaType("audio/mp4", VOICE, "mp4"),
    ".aac": MediaType("audio/aac", VOICE, "aac"),
    ".ogg": MediaType("audio/ogg", VOICE, "ogg"),
    ".wav": MediaType("audio/wav", VOICE, "wav"),
    ".weba": MediaType("audio/webm", VOICE, "webm"),
}
_NAME = re.compile(r"[0-9a-f]{24}(\.[a-z0-9]{3,4})")


def upload_name(name: str) -> MediaType | None:
    """The type of an upload's file name (``<24 hex><extension>``); None for any other
    name, so that no other path under the folder is ever served."""
    match = _NAME.fullmatch(name)
    return TYPES.get(match.group(1)) if match else None


def upload_url(url: object) -> MediaType | None:
    """The type of one of our upload URLs (``/uploads/<name>``, nothing before or
    after: no host, no query); None for anything else."""
    if not isinstance(url, str) or not url.startswith(UPLOADS):
        return None
    return upload_name(url.removeprefix(UPLOADS))


def is_own_avatar(url: object) -> bool:
    """A stock avatar or an uploaded image."""
    if url in STOCK_AVATARS or url == DEFAULT_AVATAR:
        return True
    found = upload_url(url)
    return found is not None and found.msgtype == IMAGE
