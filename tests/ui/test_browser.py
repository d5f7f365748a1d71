"""The pages in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) against ``examples/consent_portal.py`` served by uvicorn on 127.0.0.1.

Set ``DUALID_TEST_REQUIRE_BROWSER=1`` (``.ci/run`` does) to make these tests required:
they then fail, never skip, when Chromium, chromedriver or the axe-core script
(``DUALID_TEST_AXE_CORE``, from the npm registry's ``axe-core`` package) is missing.
Unset, they skip with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dualid import DualId
from tests.support import snapshot

from ._browser import (
    AXE_ENV,
    DESKTOP,
    PHONE,
    REQUIRE_ENV,
    Portal,
    axe_run,
    axe_script,
    browser_required,
    chrome,
    chromium_paths,
    consent_url,
    every_page,
    full_page_png,
    open_page,
    serve_portal,
    set_viewport,
    wait_for_url,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _missing(reason: str) -> None:
    if browser_required():
        pytest.fail(f"{REQUIRE_ENV} is set but {reason}")
    pytest.skip(f"{reason} (set {REQUIRE_ENV}=1 to require it)")


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    if chromium_paths() is None:
        _missing("chromium or chromedriver is not installed (Debian: chromium chromium-driver)")
    with serve_portal(tmp_path_factory.mktemp("portal")) as running:
        yield running


@pytest.fixture
def web(portal: Portal) -> Iterator[Any]:
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


def _sdk(portal: Portal) -> DualId:
    """The portal's store, opened beside the server (SQLite allows it; nothing migrates)."""
    return DualId.open(portal.database_url, keys=portal.master_key, migrate=False)


def _attendee(portal: Portal, host_id: str, event_id: str) -> dict[str, Any]:
    (item,) = portal.host_api(host_id, f"/hosts/me/events/{event_id}/attendees")["items"]
    return dict(item)


def _by_text(web: Any, tag: str, text: str) -> Any:
    from selenium.webdriver.common.by import By

    for element in web.find_elements(By.TAG_NAME, tag):
        if text in element.text:
            return element
    raise AssertionError(f"no <{tag}> with {text!r} on {web.current_url}")


def test_the_whole_flow(portal: Portal, web: Any) -> None:
    from selenium.webdriver.common.by import By

    web.get(consent_url(portal, "makers-guild", "repair-cafe-12", "community_event"))
    assert web.find_element(By.TAG_NAME, "h1").text == "Register with Makers Guild"
    email = web.find_element(By.ID, "share-email")
    assert not email.is_selected()  # nothing optional is ticked in advance
    web.find_element(By.CSS_SELECTOR, "label[for=share-email]").click()
    assert email.is_selected()
    _by_text(web, "button", "Confirm and share").click()
    wait_for_url(web, "notice=registered")
    guest = _attendee(portal, "makers-guild", "repair-cafe-12")
    assert set(guest) == {"ref", "sharedAt", "name", "email"}
    assert guest["email"] == "ana@example.org"

    # Withdraw the email on the settings page, through its confirmation step.
    web.get(f"{portal.base}/privacy/")
    stop = [
        a
        for a in web.find_elements(By.CSS_SELECTOR, "a.link-action")
        if a.get_attribute("textContent").startswith("Stop sharing: Email address, Makers Guild")
    ]
    assert len(stop) == 1
    stop[0].click()
    _by_text(web, "button", "Yes, stop sharing").click()
    wait_for_url(web, "notice=withdrawn")
    assert "the host no longer receives it" in web.find_element(By.CLASS_NAME, "notice").text
    assert set(_attendee(portal, "makers-guild", "repair-cafe-12")) == {"ref", "sharedAt", "name"}
    with _sdk(portal) as sdk:
        assert sdk.audit.verify().ok


def test_declining_writes_nothing(portal: Portal, web: Any) -> None:
    web.get(consent_url(portal, "bistro-7", "res-991", "reservation"))
    with _sdk(portal) as sdk:
        before = snapshot(sdk)
    _by_text(web, "button", "Don't register").click()
    wait_for_url(web, "notice=declined")
    with _sdk(portal) as sdk:
        assert snapshot(sdk) == before
    assert portal.host_api("bistro-7", "/hosts/me/events/res-991/attendees")["items"] == []


def test_the_flow_with_the_keyboard_only(portal: Portal, web: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    web.get(consent_url(portal, "dr-lee", "tax-clinic-3", "expert_event"))
    keys = ActionChains(web)

    def active() -> Any:
        return web.switch_to.active_element

    def tab_to(element_id: str | None = None, text: str | None = None) -> Any:
        for _ in range(40):
            keys.send_keys(Keys.TAB).perform()
            here = active()
            if element_id is not None and here.get_attribute("id") == element_id:
                return here
            if text is not None and here.text == text:
                return here
        raise AssertionError(f"Tab never reached {element_id or text}")

    # The first Tab reaches the skip link: focus order starts at the top.
    keys.send_keys(Keys.TAB).perform()
    assert active().get_attribute("class") == "skip-link"
    tab_to("share-company-affiliation")
    keys.send_keys(Keys.SPACE).perform()
    assert active().is_selected()
    field = tab_to("value-company-affiliation")
    field.send_keys("Acme Consulting")
    button = tab_to(text="Confirm and share")
    # Focus is visible: the focused button gets the focus ring.
    shadow = web.execute_script("return getComputedStyle(arguments[0]).boxShadow", button)
    assert shadow not in ("", "none")
    keys.send_keys(Keys.ENTER).perform()
    wait_for_url(web, "notice=registered")
    guest = _attendee(portal, "dr-lee", "tax-clinic-3")
    assert set(guest) == {"ref", "sharedAt", "name", "email", "companyAffiliation"}
    assert guest["companyAffiliation"] == "Acme Consulting"


def _with_lang(url: str, lang: str) -> str:
    return url + ("&" if "?" in url else "?") + f"lang={lang}"


def test_every_page_passes_axe_and_reflows_in_both_languages(portal: Portal, web: Any) -> None:
    script = axe_script()
    if script is None:
        _missing(f"the axe-core script is not there (npm's axe-core package; set {AXE_ENV})")
    assert script is not None
    problems: list[str] = []
    for name, url in every_page(portal, web):
        for lang in ("en", "de"):
            open_page(web, name, _with_lang(url, lang))
            assert web.find_element("tag name", "html").get_attribute("lang") == lang
            for violation in axe_run(web, script):
                if violation.get("impact") in ("serious", "critical"):
                    targets = [n.get("target") for n in violation.get("nodes", [])][:3]
                    problems.append(
                        f"{name} [{lang}]: {violation['id']} ({violation['impact']}): "
                        f"{violation.get('help')} at {targets}"
                    )
            # WCAG 1.4.10 reflow: at 320 CSS px (and at 640, the 200 % zoom of a 1280 px
            # window) nothing needs scrolling sideways.
            for width in (320, 640):
                set_viewport(web, (width, 800))
                wide = web.execute_script(
                    "return document.documentElement.scrollWidth - window.innerWidth"
                )
                if wide > 0:
                    problems.append(f"{name} [{lang}]: {wide}px too wide at {width}px")
            set_viewport(web, DESKTOP)
    assert problems == [], "\n".join(problems)


def test_screenshots_of_every_page(portal: Portal, web: Any, tmp_path: Path) -> None:
    for name, url in every_page(portal, web):
        open_page(web, name, url)
        for label, (width, _) in (("desktop", DESKTOP), ("phone", PHONE)):
            target = tmp_path / f"{name}-{label}.png"
            full_page_png(web, target, width)
            assert target.read_bytes().startswith(b"\x89PNG")
