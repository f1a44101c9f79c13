"""One language (issue 18, item 8), in Chromium, desktop and 390x844: what the page
shows is Chinese, the page's language, however the browser is set (the contexts here
are English, en-US, as a browser that would show its own file button in English).

- the avatar file picker is ours: "选择图片" / "未选择文件" / the file's name, the
  browser's own button never shown; an avatar over 1 MB is refused before it is sent;
- refused uploads: a file that is not media (the backend's words), a file over 8 MB
  (refused before it is sent: no request), and the backend's own 413 for one that is;
- a room or a person that does not exist, opened by a link: "房间不存在", "用户不存在",
  and the lists shown; a private chat with yourself: "不能给自己发私聊消息" (the
  decision: refused, and said so).
Screenshots: artifacts/chat-language.png, artifacts/chat-phone-language.png (the
register card, its avatar file refused as too big).
"""

from __future__ import annotations

import re

import pytest

from .browser import (
    DESKTOP,
    PHONE,
    WAIT,
    browser,
    chromium,
    needs_chromium,
    shot,
    sign_in,
    site,
    watch,
)
from .test_web import png

pytestmark = needs_chromium
__all__ = ["browser", "chromium", "site"]  # fixtures
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
UNITS = {"MB"}  # the only Latin a text may have


def english(text: str) -> list[str]:
    return [word for word in LATIN_WORD.findall(text) if word not in UNITS]


async def toast_says(page, text: str) -> None:
    from playwright.async_api import expect

    toast = page.locator("#toast")
    await expect(toast).to_have_text(text, timeout=WAIT)
    assert english(await toast.inner_text()) == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_every_text_is_in_the_pages_language(site, browser, viewport, tmp_path):
    from playwright.async_api import expect

    phone = viewport is PHONE
    errors: list[str] = []
    context = await browser.new_context(viewport=viewport, locale="en-US")
    page = await context.new_page()
    watch(page, site.url, errors)
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if "/api/upload" in r.url else None)
    await page.goto(site.url)

    # the register card: our file picker, in our words
    await page.click("#mode-register")
    picker = page.locator(".file-pick")
    await expect(picker.locator(".file-button")).to_have_text("选择图片")
    await expect(page.locator("#avatar-file-name")).to_have_text("未选择文件")
    native = await page.locator("#avatar-file").bounding_box()
    assert native is not None and native["width"] <= 1 and native["height"] <= 1
    big_avatar = tmp_path / "big.png"
    big_avatar.write_bytes(png(8, 8) + b"\0" * (1 << 20))
    await page.set_input_files("#avatar-file", str(big_avatar))
    await expect(page.locator("#login-error")).to_have_text("文件太大：不能超过 1 MB")
    await expect(page.locator("#avatar-file-name")).to_have_text("未选择文件")
    assert english(await page.locator(".login-card").inner_text()) == []
    await shot(page, "chat-phone-language.png" if phone else "chat-language.png")
    avatar = tmp_path / "我的头像.png"
    avatar.write_bytes(png(32, 32))
    await page.set_input_files("#avatar-file", str(avatar))
    await expect(page.locator("#avatar-file-name")).to_have_text("我的头像.png")
    await expect(page.locator("#login-error")).to_have_text("")
    name = "语言手机" if phone else "语言桌面"
    await sign_in(page, name)
    await expect(page.locator("#me-avatar")).to_have_attribute("src", re.compile("^/uploads/"))
    me = await page.evaluate("window.__chat.me.id")

    # uploads refused: by the backend (not media), before sending (too big), and the
    # backend's own 413 for a big one sent anyway
    await page.click('#rooms li[data-room="100"]')
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    await page.set_input_files("#media-file", str(text))
    await toast_says(page, "文件格式不支持：只能上传图片、视频或音频")
    assert len(uploads) == 1
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * ((8 << 20) + 1))
    await page.set_input_files("#media-file", str(big))
    await toast_says(page, "文件太大：不能超过 8 MB")
    assert len(uploads) == 1  # not sent
    refused = await page.evaluate("""async () => {
      const { postForm } = await import("/static/api.js");
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array((8 << 20) + 1)]), "big.mp4");
      try { await postForm("/api/upload", form); return null; } catch (e) { return e.message; }
    }""")
    assert refused == "文件太大：不能超过 8 MB"

    # links to no room, no one, and yourself: said, and back to the lists
    for hash_, said in [
        ("#room/99999", "房间不存在"),
        ("#user/99999", "用户不存在"),
        (f"#user/{me}", "不能给自己发私聊消息"),
    ]:
        linked = await context.new_page()
        watch(linked, site.url, errors)
        await linked.goto(site.url + "/" + hash_)
        await toast_says(linked, said)
        await expect(linked.locator("#app")).to_have_attribute("data-view", "list")
        await expect(linked.locator("#chat-title")).to_have_text("选择一个房间开始聊天")
        assert linked.url == site.url + "/"
        await linked.close()
    sent = await page.evaluate(f"""async () => {{
      const {{ post }} = await import("/static/api.js");
      try {{ await post("/api/send", {{action_type: "send_msg", msgtype: 0, content: "x",
                                     group_id: 0, to_user_id: {me}}}); return null; }}
      catch (e) {{ return e.message; }}
    }}""")
    assert sent == "不能给自己发私聊消息"
    assert errors == []
