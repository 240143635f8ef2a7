"""The browser pages through Flask's test client: each page in each state, CSRF and the security headers."""

import re
import uuid
from html import unescape

import pytest
from conftest import import_files, report_rows, wait_for_report, write_csv

from lpkit import importer, repository
from lpkit.parsing import format_instant, parse_pivot_us
from lpkit.report_figures import ReportData, ReportTable, summary_figures, uptime_histogram
from lpkit.reports import STANDARD_HEADER, write_csv as write_report_csv
from lpkit.runner import report_path

PIVOT = "2023-01-25T18:13:00Z"

# Three stores: a 24x7 store in UTC with an outage, a store open 22:00-02:00
# (overnight) every day in UTC, and a store whose zone name matches nothing.
STATUS_CSV = """store_id,status,timestamp_utc
s-always,active,2023-01-24 08:10:00 UTC
s-always,inactive,2023-01-24 12:10:00 UTC
s-always,active,2023-01-24 16:10:00 UTC
s-always,active,2023-01-25 17:20:00 UTC
s-night,active,2023-01-23 22:30:00 UTC
s-night,inactive,2023-01-24 01:30:00 UTC
s-night,active,2023-01-24 22:40:00 UTC
s-unknown-zone,active,2023-01-24 10:00:00 UTC
"""
HOURS_CSV = """store_id,dayOfWeek,start_time_local,end_time_local
""" + "".join(f"s-night,{day},22:00:00,02:00:00\n" for day in range(7))
TIMEZONES_CSV = """store_id,timezone_str
s-always,UTC
s-night,UTC
s-unknown-zone,Mars/Olympus_Mons
"""


@pytest.fixture
def loaded(connection, tmp_path):
    """Import the three small exports above."""
    folder = tmp_path / "exports"
    folder.mkdir()
    write_csv(folder / "store_status.csv", STATUS_CSV)
    write_csv(folder / "menu_hours.csv", HOURS_CSV)
    write_csv(folder / "timezones.csv", TIMEZONES_CSV)
    import_files(connection, tmp_path, folder)
    return connection


def csrf_token(client):
    """Return the CSRF token of the client's session, as the home page's form carries it."""
    html = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def trigger_from_form(client, **fields):
    """Post the home page's form with a valid token and return the response."""
    data = {"csrf_token": csrf_token(client), "pivot_mode": "latest"}
    data.update(fields)
    return client.post("/reports", data=data)


def add_report(connection, app, status, stores_done=0, stores_total=0, error=None, rows=None):
    """Record a report in a given state without running it; return its id."""
    report_id = str(uuid.uuid4())
    owner = app.extensions["lpkit.runner"].owner
    repository.insert_report(connection, report_id, parse_pivot_us(PIVOT), {"window": "rolling", "columns": "standard"}, owner)
    if status in ("running", "complete", "failed"):
        repository.mark_report_running(connection, report_id, stores_total)
        repository.update_report_progress(connection, report_id, stores_done)
    if status == "complete":
        write_report_csv(report_path(app.config["REPORTS_DIR"], report_id), STANDARD_HEADER, rows or [])
        repository.mark_report_complete(connection, report_id, len(rows or []))
    if status == "failed":
        repository.mark_report_failed(connection, report_id, error)
    return report_id


def assert_no_inline_code(html):
    """Check that a page needs nothing the content security policy forbids."""
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html), "on*= event attribute"
    assert not re.search(r"\sstyle\s*=", html), "style attribute"
    assert "<style" not in html


def numbers_in_totals_table(html):
    """Return the store page's per-window figures as {window label: [business, up, down, unknown]}."""
    table = html[html.index("Window (local time)") : html.index("Downtime episodes last week")]
    figures = {}
    for label, cells in re.findall(r'<th scope="row">(Last \w+),.*?</th>(.*?)</tr>', table, re.S):
        figures[label] = re.findall(r'<td class="num">([\d.]+)</td>', cells)
    return figures


# Home -----------------------------------------------------------------------


def test_home_empty_database(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "no stores yet" in html
    assert "No reports yet" in html
    assert '<html lang="en">' in html
    assert_no_inline_code(html)


def test_home_security_headers(client):
    response = client.get("/")
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_api_responses_carry_security_headers(client):
    response = client.get("/get_report")
    assert response.status_code == 400
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_home_shows_loaded_data(client, loaded):
    html = client.get("/").get_data(as_text=True)
    assert "<dt>Stores</dt><dd>3</dd>" in html
    assert "<dt>Polls</dt><dd>8</dd>" in html
    assert "2023-01-23 22:30:00 UTC" in html
    assert "2023-01-25 17:20:00 UTC" in html
    assert "3 files" in html
    assert "0 rejected rows" in html


def test_home_labels_every_input(client):
    html = client.get("/").get_data(as_text=True)
    ids = re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html)
    visible_inputs = re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*>', html)
    assert len(ids) == len(visible_inputs)
    for input_id in ids:
        assert f'for="{input_id}"' in html, input_id


def test_home_lists_recent_reports(client, app, connection):
    report_id = add_report(connection, app, "complete", stores_total=1, rows=[["s1"] + ["0.00"] * 6])
    html = client.get("/").get_data(as_text=True)
    assert f'href="/reports/{report_id}"' in html
    assert "2023-01-25 18:13:00 UTC" in html
    assert "badge-complete" in html
    assert "rolling windows, standard columns" in html


# Triggering from the form ---------------------------------------------------


def test_trigger_rejected_without_csrf_token(client, loaded):
    response = client.post("/reports", data={"pivot_mode": "latest"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Reload the page" in html
    assert repository.recent_reports(loaded) == []


def test_trigger_rejected_with_wrong_csrf_token(client, loaded):
    csrf_token(client)
    response = client.post("/reports", data={"csrf_token": "not-the-token", "pivot_mode": "latest"})
    assert response.status_code == 400
    assert repository.recent_reports(loaded) == []


def test_trigger_latest_redirects_to_report(client, loaded):
    response = trigger_from_form(client)
    assert response.status_code == 303
    report_id = response.headers["Location"].rsplit("/", 1)[1]
    record = repository.get_report(loaded, report_id)
    assert record.pivot_us == parse_pivot_us("2023-01-25T17:20:00Z")
    assert record.options == {"window": "calendar", "columns": "standard"}


def test_trigger_local_time_in_zone(client, loaded):
    response = trigger_from_form(
        client, pivot_mode="local", pivot_local="2023-01-25T12:13", pivot_zone="America/New_York", window="rolling", columns="extended"
    )
    assert response.status_code == 303
    record = repository.get_report(loaded, response.headers["Location"].rsplit("/", 1)[1])
    assert format_instant(record.pivot_us) == "2023-01-25T17:13:00.000000Z"
    assert record.options == {"window": "rolling", "columns": "extended"}


def test_trigger_local_time_in_spring_gap(client, loaded):
    response = trigger_from_form(client, pivot_mode="local", pivot_local="2023-03-12T02:30:00", pivot_zone="America/New_York")
    record = repository.get_report(loaded, response.headers["Location"].rsplit("/", 1)[1])
    assert format_instant(record.pivot_us) == "2023-03-12T07:30:00.000000Z"


def test_trigger_now(client, loaded):
    before = repository.now_us()
    response = trigger_from_form(client, pivot_mode="now")
    record = repository.get_report(loaded, response.headers["Location"].rsplit("/", 1)[1])
    assert record.pivot_us >= before


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"pivot_mode": "local", "pivot_local": ""}, "The date and time are empty"),
        ({"pivot_mode": "local", "pivot_local": "2023-01-25T12:13", "pivot_zone": "Mars/Base"}, 'Time zone "Mars/Base" is unknown'),
        ({"pivot_mode": "local", "pivot_local": "25/01/2023"}, "is not a valid date and time"),
        ({"pivot_mode": "sometime"}, 'Pivot choice "sometime" is unknown'),
        ({"window": "hourly"}, 'Window "hourly" is unknown'),
        ({"columns": "all"}, 'Columns "all" is unknown'),
    ],
)
def test_trigger_errors_show_form_again(client, loaded, fields, message):
    response = trigger_from_form(client, **fields)
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert message in html
    assert 'role="alert"' in html
    assert "Trigger report" in html
    assert repository.recent_reports(loaded) == []


def test_trigger_error_keeps_entered_values(client, loaded):
    response = trigger_from_form(client, pivot_mode="local", pivot_local="2023-01-25T12:13", pivot_zone="Mars/Base", window="rolling")
    html = response.get_data(as_text=True)
    assert 'value="2023-01-25T12:13"' in html
    assert re.search(r'value="local"\s+checked', html)
    assert re.search(r'<option value="rolling"\s+selected', html)


def test_reports_list_redirects_home(client):
    response = client.get("/reports")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/#recent-reports")


# Report pages ---------------------------------------------------------------


def test_report_running_page(client, app, connection):
    report_id = add_report(connection, app, "running", stores_done=4, stores_total=10)
    response = client.get(f"/reports/{report_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "4 of 10 stores" in html
    assert 'max="10" value="4"' in html
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in html
    assert f'data-status-url="/get_report?report_id={report_id}"' in html
    assert '<script src="/static/report.js" defer></script>' in html
    assert_no_inline_code(html)


def test_report_queued_page(client, app, connection):
    report_id = add_report(connection, app, "queued")
    html = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "Queued" in html
    assert "waiting for a worker" in html
    assert 'http-equiv="refresh"' in html


def test_report_failed_page(client, app, connection):
    report_id = add_report(connection, app, "failed", error="The report failed: disk I/O error")
    response = client.get(f"/reports/{report_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The report failed: disk I/O error" in html
    assert "Run it again" in html
    assert 'http-equiv="refresh"' not in html
    assert 'name="pivot" value="2023-01-25T18:13:00.000000Z"' in html
    assert 'name="window" value="rolling"' in html
    assert_no_inline_code(html)


def test_report_run_again_keeps_pivot_and_options(client, app, connection):
    failed_id = add_report(connection, app, "failed", error="The report failed: disk I/O error")
    html = client.get(f"/reports/{failed_id}").get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    response = client.post("/reports", data=fields)
    assert response.status_code == 303
    record = repository.get_report(connection, response.headers["Location"].rsplit("/", 1)[1])
    assert record.report_id != failed_id
    assert record.pivot_us == parse_pivot_us(PIVOT)
    assert record.options == {"window": "rolling", "columns": "standard"}


def test_report_unknown_id_is_html_404(client):
    response = client.get("/reports/no-such-report")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Report not found" in response.get_data(as_text=True)


def test_report_overlong_id_is_404(client):
    response = client.get("/reports/" + "x" * 500)
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_report_complete_page(client, loaded):
    report_id = trigger_from_form(client, pivot_mode="instant", pivot=PIVOT).headers["Location"].rsplit("/", 1)[1]
    assert wait_for_report(client, report_id).status_code == 200
    response = client.get(f"/reports/{report_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'href="/get_report?report_id={report_id}&amp;format=csv"' in html
    assert 'role="img"' in html
    assert '<title id="histogram-title">' in html
    assert 'href="/stores/s-night?pivot=2023-01-25T18:13:00.000000Z&amp;window=calendar"' in html
    assert '<th scope="col" aria-sort="ascending"' in html
    assert 'http-equiv="refresh"' not in html
    assert_no_inline_code(html)


def test_report_complete_with_missing_csv(client, app, connection):
    report_id = add_report(connection, app, "complete", rows=[["s1"] + ["0.00"] * 6])
    report_path(app.config["REPORTS_DIR"], report_id).unlink()
    response = client.get(f"/reports/{report_id}")
    assert response.status_code == 410
    assert "Trigger the report again" in response.get_data(as_text=True)


def many_rows(count):
    """Rows with store ids s000... and last week's downtime equal to the store number."""
    return [[f"s{index:03d}", "60.00", "24.00", "100.00", "0.00", "0.00", f"{index}.00"] for index in range(count)]


def row_ids(html):
    return re.findall(r'<th scope="row"><a class="mono" href="/stores/[^"]*">([^<]+)</a>', html)


def test_report_table_paginates(client, app, connection):
    report_id = add_report(connection, app, "complete", rows=many_rows(60))
    first = row_ids(client.get(f"/reports/{report_id}").get_data(as_text=True))
    second = row_ids(client.get(f"/reports/{report_id}?page=2&per_page=25").get_data(as_text=True))
    beyond = row_ids(client.get(f"/reports/{report_id}?page=99&per_page=25").get_data(as_text=True))
    assert first == [f"s{index:03d}" for index in range(50)]
    assert second == [f"s{index:03d}" for index in range(25, 50)]
    assert beyond == [f"s{index:03d}" for index in range(50, 60)]


def test_report_table_sorts_numbers(client, app, connection):
    report_id = add_report(connection, app, "complete", rows=many_rows(12))
    html = client.get(f"/reports/{report_id}?sort=downtime_last_week&order=desc").get_data(as_text=True)
    assert row_ids(html)[:3] == ["s011", "s010", "s009"]
    assert '<th scope="col" aria-sort="descending" class="num">' in html


def test_report_table_filters_store_ids(client, app, connection):
    report_id = add_report(connection, app, "complete", rows=many_rows(30))
    html = client.get(f"/reports/{report_id}?store=S02").get_data(as_text=True)
    assert row_ids(html) == [f"s{index:03d}" for index in range(20, 30)]
    assert "of 10 matching" in html


def test_report_table_filter_without_match(client, app, connection):
    report_id = add_report(connection, app, "complete", rows=many_rows(3))
    html = client.get(f"/reports/{report_id}?store=zzz").get_data(as_text=True)
    assert row_ids(html) == []
    assert "No store id contains" in html


def test_report_without_rows(client, app, connection):
    report_id = add_report(connection, app, "complete", rows=[])
    html = unescape(client.get(f"/reports/{report_id}").get_data(as_text=True))
    assert "The report has no rows" in html
    assert "no data: 0 stores" in html
    assert "No store id contains" not in html


def test_report_table_ignores_unknown_sort_column(client, app, connection):
    report_id = add_report(connection, app, "complete", rows=many_rows(3))
    response = client.get(f"/reports/{report_id}?sort=password&per_page=7&page=x")
    assert response.status_code == 200
    assert row_ids(response.get_data(as_text=True)) == ["s000", "s001", "s002"]


def test_table_sorts_empty_cells_last():
    header = STANDARD_HEADER + ["uptime_percent_last_week"]
    zeros = ("0.00",) * 6
    rows = [("a", *zeros, ""), ("b", *zeros, "50.00"), ("c", *zeros, "100.00")]
    data = ReportData(header, rows)
    ascending = ReportTable(data, "", "uptime_percent_last_week", False, 1, 25)
    descending = ReportTable(data, "", "uptime_percent_last_week", True, 1, 25)
    assert [row[0] for row in ascending.rows] == ["b", "c", "a"]
    assert [row[0] for row in descending.rows] == ["c", "b", "a"]


def test_table_keeps_store_order_for_ties():
    rows = [(store_id, "0.00", "0.00", "0.00", "0.00", "0.00", "1.00") for store_id in ("c", "a", "b")]
    data = ReportData(STANDARD_HEADER, rows)
    descending = ReportTable(data, "", "downtime_last_week", True, 1, 25)
    assert [row[0] for row in descending.rows] == ["a", "b", "c"]


def test_summary_figures_count_stores():
    rows = [
        ("up", "60.00", "24.00", "168.00", "0.00", "0.00", "0.00"),
        ("down-hour", "30.00", "24.00", "168.00", "30.00", "0.00", "0.00"),
        ("down-week", "0.00", "0.00", "160.00", "0.00", "0.00", "8.50"),
        ("closed", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
    ]
    figures = summary_figures(tuple(STANDARD_HEADER), rows)
    assert figures.stores == 4
    assert figures.fully_up_last_week == 2
    assert figures.with_downtime == 2
    assert str(figures.downtime_last_week_hours) == "8.50"


def test_histogram_bins_uptime_percentage():
    rows = [
        ("full", "0.00", "0.00", "10.00", "0.00", "0.00", "0.00"),
        ("half", "0.00", "0.00", "5.00", "0.00", "0.00", "5.00"),
        ("ninety-five", "0.00", "0.00", "9.50", "0.00", "0.00", "0.50"),
        ("no-data", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"),
        ("none-up", "0.00", "0.00", "0.00", "0.00", "0.00", "3.00"),
    ]
    histogram = uptime_histogram(tuple(STANDARD_HEADER), rows)
    counts = {bar.label: bar.count for bar in histogram.bars}
    assert counts["0–10%"] == 1
    assert counts["50–60%"] == 1
    assert counts["90–100%"] == 2
    assert counts["no data"] == 1
    assert histogram.bars[-1].unknown
    assert sum(counts.values()) == len(rows)


# Store pages ----------------------------------------------------------------


def test_store_page_overnight_hours(client, loaded):
    response = client.get(f"/stores/s-night?pivot={PIVOT}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Sunday</span> 22:00–02:00" in html
    assert html.count("(next day)") == 7
    assert "Tue 24 Jan" in html
    assert 'class="span-down"' in html
    assert 'class="poll-inactive"' in html
    assert_no_inline_code(html)


def test_store_page_shades_hours_after_midnight(client, loaded):
    html = client.get(f"/stores/s-night?pivot={PIVOT}").get_data(as_text=True)
    tuesday = html[html.index('<h3 class="day-label">Tue 24 Jan') : html.index('<h3 class="day-label">Wed 25 Jan')]
    # 00:00-02:00 from Monday's row and 22:00-24:00 from Tuesday's.
    assert '<rect class="business" x="0.0" y="0" width="83.33"' in tuesday
    assert '<rect class="business" x="916.67" y="0" width="83.33"' in tuesday


@pytest.mark.parametrize("window", ["calendar", "rolling"])
def test_store_numbers_match_report(client, loaded, window):
    expected = {row[0]: row for row in report_rows(loaded, PIVOT, window=window)}
    for store_id, row in expected.items():
        html = client.get(f"/stores/{store_id}?pivot={PIVOT}&window={window}").get_data(as_text=True)
        figures = numbers_in_totals_table(html)
        for index, label in enumerate(("Last hour", "Last day", "Last week")):
            _business, uptime, downtime, _unknown = figures[label]
            assert uptime == row[1 + index], (store_id, label)
            assert downtime == row[4 + index], (store_id, label)


def test_store_page_without_hours(client, loaded):
    html = client.get("/stores/s-always").get_data(as_text=True)
    assert "open 24 hours, 7 days" in html
    assert "Numbers as of Wed 25 Jan 2023 17:20:00 local" in html


def test_store_page_names_unmatched_timezone(client, loaded):
    html = unescape(client.get("/stores/s-unknown-zone").get_data(as_text=True))
    assert "America/Chicago" in html
    assert "“Mars/Olympus_Mons” matches no IANA zone" in html


def test_store_page_unknown_store_is_404(client, loaded):
    response = client.get("/stores/nobody")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Store not found" in response.get_data(as_text=True)


def test_store_page_invalid_pivot_is_400(client, loaded):
    response = client.get("/stores/s-always?pivot=yesterday-ish")
    assert response.status_code == 400
    assert "is not a valid date" in unescape(response.get_data(as_text=True))


def test_store_page_invalid_window_is_400(client, loaded):
    response = client.get("/stores/s-always?window=fortnight")
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_store_page_with_empty_database(client):
    assert client.get("/stores/anything").status_code == 404


@pytest.mark.parametrize("path", ["/static/missing.css", "/reports/a/b", "/stores/"])
def test_unknown_page_paths_are_html_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Not Found" in response.get_data(as_text=True)


def test_unknown_api_path_stays_json(client):
    response = client.get("/no_such_endpoint")
    assert response.status_code == 404
    assert response.mimetype == "application/json"


def test_wrong_method_on_page_is_html_405(client):
    response = client.post("/stores/s1", data={})
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert response.headers["Allow"]


def test_home_summary_follows_imports(client, connection, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("store_id,status,timestamp_utc\na,active,2023-01-25 12:00:00 UTC\n", encoding="utf-8")
    second = tmp_path / "second.csv"
    second.write_text("store_id,status,timestamp_utc\nb,active,2023-01-25 13:00:00 UTC\n", encoding="utf-8")

    importer.import_paths(connection, [first], rejects_dir=tmp_path)
    before = client.get("/").get_data(as_text=True)
    importer.import_paths(connection, [second], rejects_dir=tmp_path)
    after = client.get("/").get_data(as_text=True)

    assert "2023-01-25 12:00:00" in before
    assert "2023-01-25 13:00:00" not in before
    assert "2023-01-25 13:00:00" in after


def test_report_page_fails_orphaned_report(client, connection):
    repository.insert_report(connection, "orphan", 1_674_670_380_000_000, {}, "another-host:12345:1@boot")
    repository.mark_report_running(connection, "orphan", 10)

    html = client.get("/reports/orphan").get_data(as_text=True)

    assert "interrupted by a restart" in html
    assert repository.get_report(connection, "orphan").status == "failed"


def test_rolling_report_page_names_its_window(client, connection, tmp_path):
    write_csv(tmp_path / "status.csv", "store_id,status,timestamp_utc\ns,active,2023-01-25 12:00:00 UTC\n")
    import_files(connection, tmp_path, tmp_path / "status.csv")
    triggered = client.post("/trigger_report", json={"window": "rolling"})
    wait_for_report(client, triggered.get_json()["report_id"])

    html = client.get(f"/reports/{triggered.get_json()['report_id']}").get_data(as_text=True)

    assert "Fully up the last 7 days" in html
    assert "Fully up last week" not in html
