"""Uploads and media a viewer can trust (issue 18, items 2 and 3), in Chromium against a
real cluster and backend, on a desktop and on a phone (390x844).

- A file whose bytes are a script (SVG, HTML) is refused whatever it was declared as,
  with the refusal in the page's language, and nothing is sent; a JPEG named ``.png``
  is shown as the JPEG it is, and opened alone it comes with ``nosniff`` and a sandbox
  Content-Security-Policy.
- The page runs only its own scripts: an injected inline handler or inline script
  does not run (the page's CSP), and Chromium reports the violation.
- Media come from our own uploads only: the page has no way to send a link as an
  image, the backend refuses one posted from the page, a message an older release
  stored with an outside image is shown as text, and an image from another site that
  got into the page anyway is not fetched (CSP): the other site (a server on another
  port, recording every request) never hears from a viewer.

Every browser test also fails on any CSP violation the page itself causes
(:func:`tests.chat.browser.watch`).

Screenshots: artifacts/chat-upload-refused.png, artifacts/chat-phone-upload-refused.png,
artifacts/chat-media-outside-as-text.png, artifacts/chat-phone-media-outside-as-text.png.
"""

from __future__ import annotations

import re
import sqlite3

from .browser import (
    PHONE,
    WAIT,
    Stranger,
    browser,
    chromium,
    needs_chromium,
    open_page,
    shot,
    sign_in,
    site,
)
from .test_sniff import HTML, SVG, image

pytestmark = needs_chromium
__all__ = ["browser", "chromium", "site"]  # fixtures
CSP_REPORTED = "Content Security Policy"


async def test_a_script_declared_as_an_image_is_refused_and_a_real_one_shown(
    site, browser, tmp_path
):
    from playwright.async_api import expect

    errors: list[str] = []
    scripts = []
    for name, data in (("cat.png", SVG), ("page.png", HTML)):
        scripts.append(tmp_path / name)
        scripts[-1].write_bytes(data)
    photo = tmp_path / "photo.png"  # a JPEG with a .png name
    photo.write_bytes(image("JPEG", (120, 80)))
    desk = await open_page(browser, site.url, errors)
    await sign_in(desk, "传图甲")
    phone = await open_page(browser, site.url, errors, viewport=PHONE)
    await sign_in(phone, "传图乙")
    await phone.click('#rooms li[data-room="100"]')

    shots = (("chat-upload-refused.png", desk), ("chat-phone-upload-refused.png", phone))
    for name, page in shots:
        for script in scripts:
            await page.set_input_files("#media-file", str(script))
            toast = page.locator("#toast")
            await expect(toast).to_be_visible(timeout=WAIT)
            await expect(toast).to_contain_text("文件格式不支持")
            await shot(page, name)
            await expect(toast).to_be_hidden(timeout=WAIT)
    # nothing was sent: the photo is the first picture either side sees
    await desk.set_input_files("#media-file", str(photo))
    for page in (desk, phone):
        pictures = page.locator("#messages li.msg img.pic")
        await expect(pictures).to_have_count(1, timeout=WAIT)
        await expect(pictures).to_have_attribute("src", re.compile(r"^/uploads/[0-9a-f]{24}\.jpg$"))
        await page.wait_for_function(
            "() => document.querySelector('#messages img.pic').naturalWidth === 120", timeout=WAIT
        )
    src = await desk.locator("#messages img.pic").get_attribute("src")

    # opened alone: typed by its bytes, and nothing in it could run
    alone = await desk.context.new_page()
    response = await alone.goto(site.url + src)
    assert response is not None and response.status == 200
    headers = response.headers
    assert headers["content-type"] == "image/jpeg"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["content-security-policy"].endswith("sandbox")
    await alone.wait_for_function(
        "() => document.images.length === 1 && document.images[0].naturalWidth === 120",
        timeout=WAIT,
    )
    assert errors == []


async def test_the_page_runs_only_its_own_scripts(site, browser):
    errors: list[str] = []
    page = await open_page(browser, site.url, errors)
    await sign_in(page, "注入者")
    policy = await page.evaluate(
        "async () => (await fetch('/')).headers.get('content-security-policy')"
    )
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    await page.evaluate(
        "() => { window.violations = []; document.addEventListener("
        "'securitypolicyviolation', (e) => window.violations.push("
        "e.effectiveDirective)); }"
    )
    async with page.expect_console_message(lambda m: CSP_REPORTED in m.text, timeout=WAIT):
        # what a hole that let HTML into the page would let in: neither may run
        await page.evaluate("""() => {
          const probe = document.createElement("div");
          probe.id = "probe";
          probe.innerHTML = '<img src="/static/avatars/1.svg" onload="window.pwned = 1">';
          document.body.append(probe);
          const script = document.createElement("script");
          script.textContent = "window.pwned = 2";
          document.body.append(script);
        }""")
    await page.wait_for_function(
        "() => document.querySelector('#probe img').complete && window.violations.length >= 2",
        timeout=WAIT,
    )
    assert await page.evaluate("window.pwned") is None
    violations = sorted(await page.evaluate("window.violations"))
    assert violations == ["script-src-attr", "script-src-elem"]
    reported = [e for e in errors if CSP_REPORTED in e]
    assert reported and [e for e in errors if e not in reported] == []


async def test_media_from_elsewhere_never_reaches_a_viewer(site, browser):
    from playwright.async_api import expect

    errors: list[str] = []
    async with Stranger() as stranger:
        tracker = stranger.url + "/tracker.png"
        desk = await open_page(browser, site.url, errors)
        await sign_in(desk, "只看本站")
        assert await desk.locator("#media-url").count() == 0  # no "send a link as an image"
        refused = await desk.evaluate(
            """async (url) => {
              const { post } = await import("/static/api.js");
              try {
                await post("/api/send", {action_type: "send_msg", group_id: 100, msgtype: 1,
                                         content: url});
                return "sent";
              } catch (error) { return error.message; }
            }""",
            tracker,
        )
        assert refused == "只能发送本站上传的文件"
        me = await desk.evaluate("window.__chat.me.id")
        with sqlite3.connect(site.db) as db:  # as a release that took any http(s) URL did
            db.execute(
                "INSERT INTO messages (room_id, from_uid, to_uid, msgtype, content, created_at)"
                " VALUES (100, ?, NULL, 1, ?, strftime('%s', 'now'))",
                (me, tracker),
            )
        await desk.reload()
        phone = await open_page(browser, site.url, errors, viewport=PHONE)
        await sign_in(phone, "手机只看本站")
        await phone.click('#rooms li[data-room="100"]')
        shots = (
            ("chat-media-outside-as-text.png", desk),
            ("chat-phone-media-outside-as-text.png", phone),
        )
        for name, page in shots:
            old = page.locator("#messages li.msg .bubble", has_text=tracker)
            await expect(old).to_have_count(1, timeout=WAIT)
            assert await page.locator(f'#messages [src="{tracker}"]').count() == 0
            await shot(page, name)

        # an outside image that got into the page anyway is not fetched: the page's CSP
        async with desk.expect_console_message(lambda m: CSP_REPORTED in m.text, timeout=WAIT):
            await desk.evaluate(
                "(url) => { const img = new Image(); img.src = url; document.body.append(img); }",
                stranger.url + "/slipped-in.png",
            )
        assert stranger.requests == []
    reported = [e for e in errors if CSP_REPORTED in e]
    assert len(reported) == 1 and "img-src" in reported[0]
    assert [e for e in errors if e not in reported] == []
