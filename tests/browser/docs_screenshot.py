"""Retake docs/server-options.png, the README's picture of the Server Options page, from the
running dev stack (`python -m devstack.stack up` first):

    .venv/bin/python -m tests.browser.docs_screenshot

alice, group Research Lab, CPU 2 and PyTorch chosen, advanced settings open with one
variable; 1200 px wide, light theme.
"""
from __future__ import annotations

from playwright.sync_api import sync_playwright

from .browsing import HUB, ROOT, log_in
from .conftest import CHROMIUM, CHROMIUM_ARGS

TARGET = ROOT / "docs" / "server-options.png"


def main() -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1200, "height": 900},
                                   color_scheme="light").new_page()
        log_in(page, "alice")
        page.goto(f"{HUB}/hub/spawn?group=research&instancetype=cpu-2&image=pytorch")
        page.get_by_text("Advanced settings").click()
        page.get_by_label("Variable name 1").fill("MY_SETTING")
        page.get_by_label("Variable value 1").fill("42")
        page.evaluate("document.activeElement.blur()")
        page.mouse.move(0, 0)
        TARGET.parent.mkdir(exist_ok=True)
        page.screenshot(path=TARGET, full_page=True)
        browser.close()
    print(f"wrote {TARGET} ({TARGET.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
