"""The review page in a real headless Chromium: keys, clicks, undo, reload, and response.csv."""

import os
import threading

import pytest

from snakeseg.assl.review import make_review_server
from snakeseg.assl.roundfiles import make_round

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = "/tmp/review_page.png"


@pytest.fixture
def browser(tmp_path):
    # Runs wherever Debian's Chromium is installed; CI (.ci/run) installs it and sets SNAKESEG_BROWSER_E2E=1,
    # which turns a missing browser into a failure. A plain `pytest` never installs system packages.
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        message = (f"{' and '.join(missing)} missing: install Debian's chromium and chromium-driver "
                   "(apt-get install chromium chromium-driver) to run the review page's browser test")
        if os.environ.get("SNAKESEG_BROWSER_E2E") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,900"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture
def page(tmp_path):
    """A round of nine synthetic images served on a free port: (round folder, URL)."""
    round_dir = tmp_path / "round-2"
    make_round(round_dir, n=9, size=96, seed=3)
    server = make_review_server(round_dir, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield round_dir, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_review_with_keys_and_clicks_survives_a_reload(browser, page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    round_dir, url = page
    wait = WebDriverWait(browser, 15)
    text = lambda element_id: browser.find_element(By.ID, element_id).text  # noqa: E731

    def open_page():
        browser.get(url)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")

    def press(key, progress=None, current=None):
        ActionChains(browser).send_keys(key).perform()
        settle(progress, current)

    def settle(progress, current):
        wait.until(lambda d: (progress is None or text("progress") == progress)
                   and (current is None or text("item-id") == current))

    def strip():
        return [cell.get_attribute("data-decision") for cell in browser.find_elements(By.CSS_SELECTOR, "#strip button")]

    open_page()
    assert text("progress") == "0 of 9 reviewed" and text("item-id") == "pool-000"
    for k, key in enumerate("ynyyn"):  # five answers with keys; each moves on to the next image
        press(key, f"{k + 1} of 9 reviewed", f"pool-{k + 1:03d}")
    press(Keys.ARROW_RIGHT, current="pool-006")
    press(Keys.ARROW_LEFT, current="pool-005")
    browser.find_element(By.ID, "yes").click()
    settle("6 of 9 reviewed", "pool-006")
    browser.find_element(By.ID, "no").click()
    settle("7 of 9 reviewed", "pool-007")
    wait.until(lambda d: d.execute_script("const i = document.getElementById('overlay');"
                                          "return i.complete && i.naturalWidth > 0"))
    browser.save_screenshot(SCREENSHOT)
    press("u", "6 of 9 reviewed", "pool-006")  # undo the last answer (pool-006: no)
    assert text("decision") == "not reviewed"

    expected = ["yes", "no", "yes", "yes", "no", "yes", "", "", ""]
    rows = [f"pool-{k:03d}.png,{a}" for k, a in enumerate(expected) if a]
    csv = round_dir / "response.csv"
    assert csv.read_text().splitlines() == ["Filename,response", *rows]

    browser.refresh()  # a reload: the state comes back from response.csv; the undo history does not
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    assert text("progress") == "6 of 9 reviewed" and text("progress-detail") == "4 yes · 2 no"
    assert text("item-id") == "pool-006" and strip() == expected
    press(Keys.ARROW_LEFT, current="pool-005")
    assert text("decision") == "accepted"
    press("u")
    wait.until(lambda d: "Nothing to undo" in text("status"))
    browser.find_element(By.ID, "filter-pending").click()  # only the three not yet reviewed stay in the strip
    wait.until(lambda d: text("item-id") == "pool-006")
    assert len([c for c in browser.find_elements(By.CSS_SELECTOR, "#strip button") if c.is_displayed()]) == 3
    assert csv.read_text().splitlines() == ["Filename,response", *rows]
    errors = [e["message"] for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not errors
