"""Headless Chromium against the example portal served by uvicorn on 127.0.0.1: shared by
the browser tests and the screenshot command (``python -m tests.ui.screenshots``).

Chromium and chromedriver come from Debian's ``chromium`` and ``chromium-driver``
packages (``.ci/run`` installs them), the axe-core script from the npm registry's
``axe-core`` package (``DUALID_TEST_AXE_CORE`` names the file); nothing is downloaded at
run time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dualid import generate_master_key

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_ENV = "DUALID_TEST_REQUIRE_BROWSER"
AXE_ENV = "DUALID_TEST_AXE_CORE"
AXE_DEFAULT = ROOT / ".ci-node" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = (1280, 900)
PHONE = (375, 812)


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def chromium_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver), or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        return None
    return browser, driver


def axe_script() -> Path | None:
    path = Path(os.environ.get(AXE_ENV) or AXE_DEFAULT)
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Portal:
    """The example portal running in a uvicorn subprocess."""

    base: str
    database_url: str
    master_key: str

    def host_api(self, host_id: str, path: str) -> Any:
        resp = httpx.get(f"{self.base}/v1{path}", headers={"X-Host-Id": host_id}, timeout=10)
        resp.raise_for_status()
        return resp.json()


@contextmanager
def serve_portal(workdir: Path) -> Iterator[Portal]:
    """``examples.consent_portal:app`` under uvicorn on a free loopback port, on a SQLite
    file in ``workdir``; stopped (and waited for) on exit."""
    port = _free_port()
    database_url = f"sqlite:///{workdir / 'portal.db'}"
    master_key = generate_master_key()
    env = dict(os.environ)
    env["DUALID_DATABASE_URL"] = database_url
    env["DUALID_MASTER_KEY"] = master_key
    log = workdir / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "examples.consent_portal:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--app-dir",
                str(ROOT),
            ],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start:\n{log.read_text()}")
                time.sleep(0.2)
            yield Portal(base, database_url, master_key)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


def chrome(size: tuple[int, int] = DESKTOP, language: str = "en") -> Any:
    """A headless Chromium driven by chromedriver (both from the system)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    assert paths is not None
    browser, driver = paths
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={size[0]},{size[1]}",
        f"--lang={language}",
    ):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    web = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    web.set_page_load_timeout(30)
    set_viewport(web, size)
    return web


def set_viewport(web: Any, size: tuple[int, int]) -> None:
    """The layout viewport exactly ``size`` CSS pixels (the window's chrome aside)."""
    web.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600},
    )


def full_page_png(web: Any, path: Path, width: int) -> None:
    """A screenshot of the whole page at ``width`` CSS pixels."""
    height = int(web.execute_script("return document.documentElement.scrollHeight"))
    set_viewport(web, (width, max(height, 200)))
    path.write_bytes(web.get_screenshot_as_png())
    set_viewport(web, (width, DESKTOP[1] if width >= 600 else PHONE[1]))


def axe_run(web: Any, script: Path) -> list[dict[str, Any]]:
    """The axe-core violations of the current page (WCAG 2.0/2.1 A and AA rules)."""
    web.execute_script(script.read_text(encoding="utf-8"))
    result = web.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})"
        ".then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: "
        "'critical', help: String(e), nodes: []}]));"
    )
    return list(result)


def wait_for_url(web: Any, part: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(web, 15).until(lambda d: part in d.current_url)


def consent_url(portal: Portal, host_id: str, event_id: str, event_type: str) -> str:
    return f"{portal.base}/privacy/hosts/{host_id}/events/{event_id}/register?type={event_type}"


def every_page(portal: Portal, web: Any) -> list[tuple[str, str]]:
    """(name, URL) of every page, after a registration (once) so that the settings,
    history and receipt pages have something to show."""
    from selenium.webdriver.common.by import By

    acme = consent_url(portal, "acme", "summer-party", "company_event")
    web.get(acme)
    confirm = [b for b in web.find_elements(By.TAG_NAME, "button") if b.text == "Confirm and share"]
    if confirm:
        confirm[0].click()
        wait_for_url(web, "notice=registered")
    web.get(f"{portal.base}/privacy/")
    receipt = web.find_element(By.PARTIAL_LINK_TEXT, "View receipt").get_attribute("href")
    withdraw = next(
        a.get_attribute("href")
        for a in web.find_elements(By.CSS_SELECTOR, "a.link-action")
        if "grant=" in (a.get_attribute("href") or "")
    )
    return [
        ("consent", consent_url(portal, "rowing-club", "regatta-2026", "club_event")),
        ("consent-errors", consent_url(portal, "expo-hall", "trade-fair-26", "business_event")),
        ("settings", f"{portal.base}/privacy/"),
        ("history", f"{portal.base}/privacy/history"),
        ("receipt", receipt),
        ("withdraw", withdraw),
        ("erase", f"{portal.base}/privacy/erase"),
        ("not-found", f"{portal.base}/privacy/grants/gr_none/receipt"),
    ]


def open_page(web: Any, name: str, url: str) -> None:
    """Load the page; for ``consent-errors``, submit it without the missing required
    value, which shows the page's error state."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    web.get(url)
    if name == "consent-errors":
        web.find_element(By.CSS_SELECTOR, "button[value=confirm]").click()
        WebDriverWait(web, 15).until(lambda d: d.find_elements(By.CLASS_NAME, "error-summary"))
