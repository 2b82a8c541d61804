"""Headless Chromium for the web chat (Debian's ``chromium`` and ``chromium-driver``, driven
by Selenium, a dev dependency; no browser download): the browser tests and the README's
screenshots (``scripts/webchat_screenshots.py``)."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
WAIT = 20


def chrome(width: int = 1280, height: int = 900, *, mobile: bool = False) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--lang=en-US",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    if mobile:
        options.add_experimental_option(
            "mobileEmulation",
            {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0}},
        )
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


class Page:
    """The chat page as a user works it: type, press, attach, read."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver = driver
        self.base = base

    def open(self, lang: str = "en") -> Page:
        self.driver.get(f"{self.base}/chat?lang={lang}")
        self.wait_for(lambda d: d.execute_script("return window.webchat && 1") == 1)
        return self

    def wait_for(self, condition: Any, timeout: float = WAIT) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(condition)

    def bubbles(self, sender: str | None = None) -> list[Any]:
        from selenium.webdriver.common.by import By

        css = f".msg.{sender}" if sender else ".msg"
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def bot_texts(self) -> list[str]:
        return [b.text for b in self.bubbles() if "user" not in b.get_attribute("class")]

    def wait_text(self, pattern: str, *, sender: str | None = None, after: int = 0) -> str:
        """The first message after the first ``after`` ones that matches ``pattern``."""
        regex = re.compile(pattern, re.I | re.S)

        def found(_: Any) -> str | bool:
            for bubble in self.bubbles()[after:]:
                mine = sender is None or sender in bubble.get_attribute("class").split()
                if mine and regex.search(bubble.text):
                    return str(bubble.text)
            return False

        from selenium.common.exceptions import TimeoutException

        try:
            return str(self.wait_for(found))
        except TimeoutException:
            shown = [b.text for b in self.bubbles()][after:]
            raise AssertionError(f"no message matching {pattern!r}; shown: {shown}") from None

    def count(self) -> int:
        return len(self.bubbles())

    def type(self, text: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        box = self.driver.find_element(By.ID, "text")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def say(self, text: str, expect: str, *, sender: str | None = None) -> str:
        before = self.count()
        self.type(text)
        return self.wait_text(expect, sender=sender, after=before)

    def press(self, label: str, expect: str) -> str:
        from selenium.webdriver.common.by import By

        before = self.count()
        xpath = f"//div[contains(@class,'buttons')]//button[contains(., {label!r})]"
        button = self.wait_for(lambda d: (d.find_elements(By.XPATH, xpath) or [False])[-1])
        button.click()
        return self.wait_text(expect, after=before - 1)

    def attach(self, path: str, expect: str) -> str:
        from selenium.webdriver.common.by import By

        before = self.count()
        self.driver.find_element(By.ID, "file").send_keys(path)
        return self.wait_text(expect, after=before)

    def fetch(self, url: str) -> dict[str, Any]:
        """GET ``url`` from the page (with its cookie), as a download link would."""
        return dict(
            self.driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "fetch(arguments[0], {credentials: 'same-origin'}).then(async r => done({"
                "status: r.status, type: r.headers.get('Content-Type'),"
                "disposition: r.headers.get('Content-Disposition'),"
                "size: (await r.arrayBuffer()).byteLength}))",
                url,
            )
        )
