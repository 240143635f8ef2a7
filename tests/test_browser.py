"""The pages in a real headless Chromium: trigger, progress, download, store page, screenshots.

Runs Debian's /usr/bin/chromium through Playwright against a server on
127.0.0.1 (a port in 5200-5299) with a generated data set of 60 stores.
Set LPKIT_SCREENSHOTS=1 to write the screenshots to docs/screenshots/.
"""

import json
import os
import re
import socket
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")

from playwright.sync_api import expect, sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from lpkit import create_app, db, importer, repository  # noqa: E402
from lpkit.generator import generate_dataset  # noqa: E402
from lpkit.reports import ReportOptions, write_csv  # noqa: E402
from lpkit.runner import report_path  # noqa: E402

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PORTS = range(5200, 5300)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000
SCREENSHOT_DIR = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def free_port():
    """Return a port in 5200-5299 that nothing on 127.0.0.1 listens on."""
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("every port in 5200-5299 on 127.0.0.1 is in use")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Serve lpkit with 60 generated stores on 127.0.0.1; yield (base_url, app)."""
    folder = tmp_path_factory.mktemp("browser")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(folder / "lpkit.sqlite"),
            "REPORTS_DIR": str(folder / "reports"),
            "SECRET_KEY": "browser-test",
            "STORE_TZS_DBFETCH_BATCH_SIZE": 10,
        }
    )
    connection = db.connect(app.config["DATABASE"])
    db.create_schema(connection)
    generate_dataset(folder / "data", stores=60, days=9)
    importer.import_paths(connection, [folder / "data"], rejects_dir=folder / "rejects")
    connection.close()

    port = free_port()
    http_server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", app
    http_server.shutdown()
    thread.join(timeout=10)
    app.extensions["lpkit.runner"].executor.shutdown(wait=True)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory):
    if os.environ.get("LPKIT_SCREENSHOTS") == "1":
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        return SCREENSHOT_DIR
    return tmp_path_factory.mktemp("screenshots")


class ConsoleErrors:
    """The console errors of a page, such as content-security-policy violations."""

    def __init__(self, page):
        self.messages = []
        page.on("console", self._record)
        page.on("pageerror", lambda error: self.messages.append(str(error)))

    def _record(self, message):
        if message.type == "error":
            self.messages.append(message.text)


def new_page(browser, viewport=DESKTOP, javascript=True):
    context = browser.new_context(viewport=viewport, accept_downloads=True, java_script_enabled=javascript)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    return page, ConsoleErrors(page)


def fetch(url, accept):
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def overnight_store_id(app):
    """Return the id of a store whose business hours run past midnight, to show on its page."""
    connection = db.connect(app.config["DATABASE"])
    try:
        row = connection.execute(
            """
            SELECT store_id FROM stores JOIN business_hours USING (store_pk)
            WHERE end_time_us <= start_time_us ORDER BY store_id LIMIT 1
            """
        ).fetchone()
    finally:
        connection.close()
    assert row is not None, "the generated data set has no store open past midnight"
    return row[0]


def screenshot(page, folder, name):
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_report_from_form_to_store_page(server, browser, screenshot_dir):
    base_url, _app = server
    page, console = new_page(browser)

    response = page.goto(base_url + "/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="Store uptime reports")).to_be_visible()
    expect(page.locator(".stats")).to_contain_text("60")

    page.get_by_label("Latest poll").check()
    page.get_by_label("Windows").select_option("calendar")
    page.get_by_role("button", name="Trigger report").click()
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}$"))
    report_id = page.url.rsplit("/", 1)[1]

    expect(page.locator(".badge-complete").first).to_be_visible()
    expect(page.get_by_role("heading", name="Rows", exact=True)).to_be_visible()
    expect(page.locator("table.report-rows tbody tr")).to_have_count(50)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    downloaded = Path(download_info.value.path()).read_bytes()
    from_api = fetch(f"{base_url}/get_report?report_id={report_id}", "text/csv")
    assert downloaded == from_api
    assert downloaded.startswith(b"store_id,uptime_last_hour,")
    assert downloaded.count(b"\r\n") == 61

    store_id = overnight_store_id(server[1])
    page.get_by_label("Store id contains").fill(store_id)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.report-rows tbody tr")).to_have_count(1)
    page.get_by_role("link", name=store_id).click()
    page.wait_for_url(re.compile(r"/stores/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(store_id)
    expect(page.locator(".timeline-day").first).to_be_visible()
    expect(page.locator(".hours")).to_contain_text("(next day)")
    assert page.locator(".timeline-day").count() >= 7
    screenshot(page, screenshot_dir, "store-desktop")

    page.goto(f"{base_url}/reports/{report_id}?per_page=25")
    screenshot(page, screenshot_dir, "report-desktop")
    page.goto(base_url + "/")
    expect(page.locator("#recent-reports tbody tr")).not_to_have_count(0)
    screenshot(page, screenshot_dir, "home-desktop")

    assert console.messages == []


def test_progress_updates_without_reload(server, browser):
    base_url, app = server
    connection = db.connect(app.config["DATABASE"])
    runner = app.extensions["lpkit.runner"]
    report_id = str(uuid.uuid4())
    repository.insert_report(connection, report_id, repository.latest_poll_us(connection), {"window": "calendar", "columns": "standard"}, runner.owner)
    repository.mark_report_running(connection, report_id, 60)
    repository.update_report_progress(connection, report_id, 10)

    page, console = new_page(browser)
    page.goto(f"{base_url}/reports/{report_id}")
    expect(page.locator("#report-progress")).to_contain_text("10 of 60 stores")
    page.evaluate("window.loadedOnce = true")

    repository.update_report_progress(connection, report_id, 45)
    expect(page.locator("#report-progress")).to_contain_text("45 of 60 stores")
    assert page.locator("#report-progress-bar").evaluate("bar => bar.value") == 45
    assert page.evaluate("window.loadedOnce") is True

    write_csv(report_path(app.config["REPORTS_DIR"], report_id), ["store_id", "uptime_last_hour", "uptime_last_day", "uptime_last_week", "downtime_last_hour", "downtime_last_day", "downtime_last_week"], [["s1", "60.00", "24.00", "168.00", "0.00", "0.00", "0.00"]])
    repository.mark_report_complete(connection, report_id, 1)
    expect(page.locator(".badge-complete").first).to_be_visible()
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()
    assert page.evaluate("window.loadedOnce") is True
    connection.close()

    assert console.messages == []


def test_running_page_refreshes_without_javascript(server, browser):
    base_url, app = server
    connection = db.connect(app.config["DATABASE"])
    report_id = str(uuid.uuid4())
    repository.insert_report(connection, report_id, repository.latest_poll_us(connection), {}, app.extensions["lpkit.runner"].owner)
    repository.mark_report_running(connection, report_id, 60)

    page, _console = new_page(browser, javascript=False)
    page.goto(f"{base_url}/reports/{report_id}")
    expect(page.locator("#report-progress")).to_contain_text("0 of 60 stores")
    repository.update_report_progress(connection, report_id, 20)
    expect(page.locator("#report-progress")).to_contain_text("20 of 60 stores", timeout=6_000)

    repository.mark_report_failed(connection, report_id, "The report failed: the database file was replaced while it ran.")
    expect(page.get_by_role("button", name="Run it again")).to_be_visible(timeout=6_000)
    connection.close()


def test_filter_and_sort_without_javascript(server, browser):
    base_url, app = server
    report_id = run_report(base_url, app)

    page, _console = new_page(browser, javascript=False)
    page.goto(f"{base_url}/reports/{report_id}")
    first_id = page.locator("table.report-rows tbody th a").first.inner_text()
    page.get_by_label("Store id contains").fill(first_id[:12])
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".table-count")).to_contain_text("matching")
    assert first_id in page.locator("table.report-rows tbody").inner_text()

    page.get_by_role("link", name="downtime last week").click()
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("downtime last week")
    assert "store=" in page.url


def test_keyboard_reaches_skip_link_first(server, browser):
    base_url, _app = server
    page, _console = new_page(browser)
    page.goto(base_url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#content")


def test_phone_screenshots(server, browser, screenshot_dir):
    base_url, app = server
    report_id = run_report(base_url, app)

    page, console = new_page(browser, viewport=PHONE)
    page.goto(base_url + "/")
    screenshot(page, screenshot_dir, "home-phone")
    page.goto(f"{base_url}/reports/{report_id}?per_page=25")
    expect(page.locator(".badge-complete").first).to_be_visible()
    screenshot(page, screenshot_dir, "report-phone")
    page.locator("table.report-rows tbody th a").first.click()
    page.wait_for_url(re.compile(r"/stores/"))
    screenshot(page, screenshot_dir, "store-phone")

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"]
    assert console.messages == []


def run_report(base_url, app, timeout_s=30):
    """Trigger a standard report as of the newest poll and wait until it is complete; return its id."""
    connection = db.connect(app.config["DATABASE"])
    report_id = app.extensions["lpkit.runner"].trigger(connection, repository.latest_poll_us(connection), ReportOptions())
    connection.close()

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = json.loads(fetch(f"{base_url}/get_report?report_id={report_id}", "application/json"))
        if status["status"] != "Running":
            assert status["status"] == "Complete"
            return report_id
        time.sleep(0.1)
    raise AssertionError(f"report {report_id} still running after {timeout_s} s")
