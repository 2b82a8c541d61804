"""Headless Chromium for the web chat's end-to-end tests: skipped, saying why, where the
system browser is missing (CI sets ``REQUIRE_CHROMIUM=1`` and fails instead)."""

from __future__ import annotations

import os

import pytest

from devtools.browser import CHROMEDRIVER, CHROMIUM, Page, chrome

__all__ = ["Page", "chrome", "require_chromium"]


def require_chromium() -> None:
    """Skip (CI: fail, as REQUIRE_CHROMIUM=1 says) when the system browser is missing."""
    missing = [
        name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not path
    ]
    if missing:
        reason = (
            f"no {' and '.join(missing)} on this machine: `apt-get install chromium "
            "chromium-driver` runs the web chat's browser tests"
        )
        if os.environ.get("REQUIRE_CHROMIUM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
