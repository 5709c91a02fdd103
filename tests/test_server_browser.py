"""End to end: the API's chat page in headless Debian Chromium, driven by selenium (slow)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apps.chat.service import ChatService
from apps.server.app import create_app, running_server
from labeling.emotions import EMOTIONS
from tests.test_engine_support import tiny_engine

pytestmark = pytest.mark.slow


def chromium_driver():
    """Headless Chromium through the system chromedriver (no download: selenium-manager stays off)."""
    browser, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver_path:
        pytest.skip(
            "Debian chromium/chromium-driver not installed "
            "(make browser, or apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def test_chat_page_streams_a_reply_with_an_emotion(tmp_path: Path, data_root: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # long enough that the page visibly streams several token frames before "done"
    engine = tiny_engine(tmp_path / "model", data_root, max_new_tokens=24, min_new_tokens=24, seed=0)
    service = ChatService.open(engine, tmp_path / "history.sqlite")
    driver = chromium_driver()
    try:
        with running_server(create_app(service, api_token="page-token")) as address:
            driver.get(f"http://{address}/#token=page-token")
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: d.find_element(By.ID, "status").text == "connected")
            driver.find_element(By.ID, "message").send_keys("Hello Rosie, nice to meet you!")
            driver.find_element(By.ID, "send").click()

            # seen while streaming: words are arriving (her emotion comes when her reply ends)
            streaming = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".rosie[data-state]"))
            wait.until(lambda d: streaming[0].find_element(By.CLASS_NAME, "words").text)
            wait.until(lambda d: streaming[0].get_attribute("data-state") == "done")

            bubble = driver.find_element(By.CSS_SELECTOR, ".rosie[data-state='done']")
            label = bubble.find_element(By.CLASS_NAME, "emotion").text
            words = bubble.find_element(By.CLASS_NAME, "words").text
            assert label in EMOTIONS and words.strip()
            user = driver.find_element(By.CSS_SELECTOR, ".user")
            assert user.find_element(By.CLASS_NAME, "words").text == "Hello Rosie, nice to meet you!"
            user_label = user.find_element(By.CLASS_NAME, "emotion").text

            stored = service.history(
                next(c for c in service.store.conversation_ids() if c.startswith("web-"))
            )
            assert stored[0].turn.text == "Hello Rosie, nice to meet you!"
            assert (stored[0].turn.emotion, stored[1].turn.emotion) == (user_label, label)
            assert " ".join(stored[1].turn.text.split()) == " ".join(words.split())

            driver.find_element(By.ID, "poke").click()  # an action from the page gets a reply too
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".rosie[data-state='done']")) == 2)
    finally:
        driver.quit()
