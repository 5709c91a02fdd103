"""Screenshot the asset graph in the Dagster UI with headless Debian Chromium.

    DAGSTER_HOME=$PWD/dagster_home python docs/screenshot_asset_graph.py [--out docs/asset_graph.png]

Needs ``apt-get install chromium chromium-driver``. Starts ``dagster-webserver`` on a free port,
opens the global asset lineage page, expands every group, waits until the ``raw_web`` node is
drawn, and saves a PNG.
With the project's DAGSTER_HOME the nodes show their latest materialization.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundation.settings import PROJECT_ROOT  # noqa: E402
from pipelines.webserver import running_webserver  # noqa: E402


def chromium_driver(width: int, height: int) -> webdriver.Chrome:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        raise SystemExit("Chromium not found: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(driver_path), options=options)


def screenshot(
    out: Path, width: int = 2400, height: int = 1400, scale: float = 0.6, settle_s: float = 3.0
) -> Path:
    env = {**os.environ, "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home"))}
    with running_webserver(env=env) as base_url:
        driver = chromium_driver(width, height)
        try:
            # A CSS viewport 1/scale times the picture's size: the graph fits at the UI's default zoom.
            metrics = {"width": int(width / scale), "height": int(height / scale), "deviceScaleFactor": scale}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "mobile": False})
            driver.get(base_url)
            # Left-to-right layout suits a wide screenshot (a UI setting kept in local storage).
            driver.execute_script(
                "localStorage.setItem('asset-graph-direction', JSON.stringify('horizontal'))"
            )
            driver.get(f"{base_url}/asset-groups")
            wait = WebDriverWait(driver, 90)
            # A first visit may open a "Join the Dagster community" dialog: skip it.
            with contextlib.suppress(TimeoutException):
                skip = WebDriverWait(driver, 15).until(
                    expected_conditions.element_to_be_clickable((By.XPATH, "//button[.='Skip']"))
                )
                skip.click()
                wait.until(
                    expected_conditions.invisibility_of_element_located((By.XPATH, "//button[.='Skip']"))
                )
            # Groups start collapsed; the UI's shortcut Alt+E expands them all.
            ActionChains(driver).key_down(Keys.ALT).send_keys("e").key_up(Keys.ALT).perform()
            wait.until(expected_conditions.presence_of_element_located((By.XPATH, "//*[text()='raw_web']")))
            # Each node fetches its materialization status after the layout: wait until all have.
            with contextlib.suppress(TimeoutException):
                WebDriverWait(driver, 120).until(
                    lambda d: not d.find_elements(By.XPATH, "//*[contains(text(), 'Loading')]")
                )
            time.sleep(settle_s)  # let the layout animation finish
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
        finally:
            driver.quit()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "asset_graph.png")
    args = parser.parse_args()
    print(f"wrote {screenshot(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
