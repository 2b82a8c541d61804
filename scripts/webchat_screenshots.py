"""The README's web chat screenshots, made by the real bot in headless Chromium.

    .venv/bin/python scripts/webchat_screenshots.py   # -> docs/webchat-desktop.png, -phone.png

Needs Debian's ``chromium`` and ``chromium-driver`` (and the dev dependencies).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.browser import Page, chrome  # noqa: E402
from devtools.webchat_server import WebChatServer  # noqa: E402

DOCS = ROOT / "docs"


def conversation(page: Page, lang: str, label: str, question: str) -> None:
    page.open(lang)
    page.wait_text("Қазақша")
    page.press(label, "")
    page.say(question, r"\b5\.\d+\.\d+", sender="bot")


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        server = WebChatServer(f"sqlite+aiosqlite:///{folder}/shots.db", flood_limit=0).start()
        try:
            desktop = chrome(1280, 860)
            try:
                page = Page(desktop, server.url)
                conversation(page, "en", "English", "How do I apply for distance learning?")
                page.press("Full clause", "Participants of international")
                desktop.execute_script("document.getElementById('log').scrollTop = 1e9")
                desktop.save_screenshot(str(DOCS / "webchat-desktop.png"))
            finally:
                desktop.quit()
            phone = chrome(390, 844, mobile=True)
            try:
                page = Page(phone, server.url)
                conversation(
                    page, "ru", "Русский", "Как подать заявление на дистанционное обучение?"
                )
                phone.save_screenshot(str(DOCS / "webchat-phone.png"))
            finally:
                phone.quit()
        finally:
            server.stop()
    print("wrote", DOCS / "webchat-desktop.png", "and", DOCS / "webchat-phone.png")


if __name__ == "__main__":
    main()
