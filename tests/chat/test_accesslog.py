"""The chat web backend's access log: API calls and the page by default, not its assets."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from examples.chat.web.accesslog import AccessLog, logged, runner_options


@pytest.mark.parametrize(
    ("path", "api", "everything"),
    [
        ("/", True, True),
        ("/api/config", True, True),
        ("/api/upload", True, True),
        ("/static/main.js", False, True),
        ("/static/avatars/1.svg", False, True),
        ("/uploads/ab12.png", False, True),
        ("/favicon.ico", False, True),
        ("/staticky", True, True),  # only the folder, not a name that starts alike
    ],
)
def test_what_each_mode_logs(path: str, api: bool, everything: bool) -> None:
    assert logged(path, "api") is api
    assert logged(path, "all") is everything
    assert logged(path, "off") is False


async def requested(tmp_path: Path, mode: AccessLog, caplog: pytest.LogCaptureFixture) -> str:
    """Serve a page, an API call and a static file with ``mode``; GET each; the log."""
    (tmp_path / "main.js").write_text("// js")
    app = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="page")

    app.router.add_get("/", page)
    app.router.add_get("/api/config", page)
    app.router.add_static("/static", tmp_path)
    logger = logging.getLogger("test.access")
    runner = web.AppRunner(app, **runner_options(mode, logger))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        with caplog.at_level(logging.INFO, logger="test.access"):
            async with aiohttp.ClientSession() as session:
                for path in ("/", "/api/config", "/static/main.js"):
                    async with session.get(f"http://{host}:{port}{path}") as answer:
                        assert answer.status == 200
            await runner.shutdown()  # every access line is written by now
    finally:
        await runner.cleanup()
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "test.access")


async def test_the_default_leaves_the_static_files_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = await requested(tmp_path, "api", caplog)
    assert '"GET / HTTP/1.1" 200' in text and '"GET /api/config HTTP/1.1" 200' in text
    assert "/static/" not in text


async def test_all_logs_every_request_and_off_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert '"GET /static/main.js HTTP/1.1" 200' in await requested(tmp_path, "all", caplog)
    caplog.clear()
    assert await requested(tmp_path, "off", caplog) == ""
