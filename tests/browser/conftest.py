"""Browser tests: Debian's chromium driven by Playwright against relay + the real sandbox PDS.

The browser is the system's (``/usr/bin/chromium``, installed by scripts/test); Playwright never
downloads one. Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import ARTIFACTS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ARTIFACTS / "browser"


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: scripts/test installs it with apt-get")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return Path(CHROMIUM)


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"],
        )
        try:
            yield chromium
        finally:
            await chromium.close()
