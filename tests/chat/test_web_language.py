"""aiohttp's own refusals under ``/api/`` (no such endpoint, a body over the size limit)
answered as the backend's JSON, in Chinese (issue 18, item 8), against a real backend."""

from __future__ import annotations

import io

from .test_web import browsers, web

__all__ = ["browsers", "web"]  # fixtures


async def test_aiohttps_refusals_are_json_in_chinese(browsers):
    alice = browsers[0]
    assert await alice.call("GET", "/api/nothing", 404) == {
        "code": 404,
        "msg": "没有这个接口",
        "data": None,
    }
    await alice.register("大包")
    huge = b'{"name": "' + b"x" * (11 << 20) + b'"}'  # over the backend's 10 MB a body
    refused = await alice.call(
        "POST",
        "/api/rooms",
        413,
        data=io.BytesIO(huge),
        headers={"Content-Type": "application/json"},
    )
    assert refused == {"code": 413, "msg": "请求太大", "data": None}
    async with alice.http.get(alice.base + "/static/nothing.js") as response:
        assert response.status == 404  # outside /api/: aiohttp's own answer, untouched
        assert response.content_type != "application/json"
