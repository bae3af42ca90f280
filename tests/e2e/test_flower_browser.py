"""Flower, as an operator sees it in a browser, after the demo's restore: headless Chromium through
chromedriver (both Debian packages, driven offline: nothing is downloaded), basic auth, the tasks
page listing prepare, one ``restore_partition <topic>[<p>]`` per source partition, and finalize.
The screenshot is the README's docs/flower.png."""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO
from tests.e2e.test_demo import assert_nothing_left, kill_leftovers, recorded, run_demo

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = REPO / "docs" / "flower.png"
UNITS = [f"orders[{p}]" for p in range(4)] + [f"payments[{p}]" for p in range(3)] + ["customers[0]", "customers[1]"]
EXPECTED = ["restore_jobs.prepare", "restore_jobs.finalize", *(f"restore_partition {u}" for u in UNITS)]


@pytest.fixture
def kept_demo(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The demo run with ``--keep``: its restore done, its servers, workers and Flower left up."""
    workdir = tmp_path / "demo"
    auth = f"admin:{secrets.token_urlsafe(9)}"
    try:
        rc, out = run_demo(workdir, "--keep", "--flower-auth", auth)
        assert rc == 0, out
        assert "Left running" in out
        yield workdir, auth
        # What the demo tells the user to do: signal each process group it lists.
        for pid in recorded(workdir)["pids"].values():
            os.killpg(pid, signal.SIGTERM)
        assert_nothing_left(workdir, stopped_by_demo=False)
    finally:
        kill_leftovers(workdir)


def chrome(user_data_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert path.exists(), f"{path} missing: apt-get install chromium chromium-driver (as .ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                f"--user-data-dir={user_data_dir}", "--window-size=1500,1000"):
        options.add_argument(arg)
    # Both paths given: selenium-manager has nothing to look up or download.
    return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))


def test_flower_lists_the_restore_tasks_by_name(kept_demo: tuple[Path, str], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    workdir, auth = kept_demo
    flower = recorded(workdir)["flower_url"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{flower}/tasks", timeout=10)
    assert refused.value.code == 401  # basic auth is on

    driver = chrome(tmp_path / "chromium-profile")
    try:
        token = base64.b64encode(auth.encode()).decode()
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
        driver.get(f"{flower}/tasks")
        table = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "tasks-table"))
        # Every task on one page (beat's periodic tasks may add rows), newest first as Flower sorts.
        driver.execute_script("jQuery('#tasks-table').DataTable().page.len(50).draw()")

        def listed(d) -> list[str] | bool:
            text = table.text
            return [name for name in EXPECTED if name not in text] or True

        try:
            WebDriverWait(driver, 30).until(lambda d: listed(d) is True)
        except Exception:  # show what was missing, and the page
            pytest.fail(f"not listed: {listed(driver)}\n{table.text}")
        for name in EXPECTED:
            assert re.search(rf"{re.escape(name)} \S+ SUCCESS", table.text), name
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT))
    finally:
        driver.quit()
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
