"""Report options: rolling windows, extended columns, incidents and JSON output.

Expected values are worked out by hand in the comments beside them.
"""

import csv
import io

from conftest import EXAMPLES, import_files, report_rows, wait_for_report, write_csv

POLL_HEADER = "store_id,status,timestamp_utc\n"
HOURS_HEADER = "store_id,dayOfWeek,start_time_local,end_time_local\n"
ZONE_HEADER = "store_id,timezone_str\n"


def load(connection, tmp_path, polls, hours="", zones=""):
    folder = tmp_path / "exports"
    folder.mkdir(exist_ok=True)
    write_csv(folder / "store_status.csv", POLL_HEADER + polls)
    write_csv(folder / "menu_hours.csv", HOURS_HEADER + hours)
    write_csv(folder / "timezones.csv", ZONE_HEADER + zones)
    import_files(connection, tmp_path, folder)


def as_dict(row, header):
    return dict(zip(header, row))


def run_report_via_api(client, **options):
    triggered = client.post("/trigger_report", json=options)
    assert triggered.status_code == 202
    report_id = triggered.get_json()["report_id"]
    response = wait_for_report(client, report_id)
    assert response.status_code == 200
    return report_id, response


# New York changes to daylight time at 2023-03-12 07:00 UTC (02:00 EST -> 03:00 EDT).
DST_POLLS = "ny,active,2023-03-11 20:00:00 UTC\nny,inactive,2023-03-12 09:00:00 UTC\n"
DST_ZONES = "ny,America/New_York\n"
DST_PIVOT = "2023-03-12T12:00:00Z"


def test_rolling_day_across_dst_is_24_hours(connection, tmp_path):
    load(connection, tmp_path, DST_POLLS, zones=DST_ZONES)

    [row] = report_rows(connection, DST_PIVOT, window="rolling", columns="extended")

    from lpkit.reports import EXTENDED_HEADER

    values = as_dict(row, EXTENDED_HEADER)
    # Rolling day: 2023-03-11 12:00 -> 03-12 12:00 UTC, 24 real hours, cut at
    # local midnight 03-12 00:00 EST = 05:00 UTC into 17 h and 7 h segments.
    assert values["business_hours_last_day"] == "24.00"
    # First segment uses the 20:00 poll only: up 12:00 -> midpoint with the
    # pivot, 04:00 (16 h), then unknown to 05:00.
    assert values["uptime_last_day"] == "16.00"
    # Second segment uses the 09:00 poll only: down 05:00 -> 10:30 (5.5 h),
    # then unknown to the pivot.
    assert values["downtime_last_day"] == "5.50"
    assert values["unknown_hours_last_day"] == "2.50"
    # 16 / 21.5 = 74.4186... %
    assert values["uptime_percent_last_day"] == "74.42"


def test_rolling_week_and_hour_across_dst(connection, tmp_path):
    load(connection, tmp_path, DST_POLLS, zones=DST_ZONES)

    [row] = report_rows(connection, DST_PIVOT, window="rolling", columns="extended")

    from lpkit.reports import EXTENDED_HEADER

    values = as_dict(row, EXTENDED_HEADER)
    # Week 03-05 12:00 -> 03-12 12:00 UTC. Local 03-11 (05:00 -> 05:00 UTC):
    # up from 05:00 to 04:00 next day (23 h). Local 03-12: down 5.5 h as above.
    assert values["uptime_last_week"] == "23.00"
    assert values["downtime_last_week"] == "5.50"
    assert values["business_hours_last_week"] == "168.00"
    # Hour 11:00 -> 12:00 UTC: the nearest poll (09:00) is two hours away.
    assert values["uptime_last_hour"] == "0.00"
    assert values["unknown_minutes_last_hour"] == "60.00"
    assert values["uptime_percent_last_hour"] == ""


def test_calendar_day_on_dst_change_is_23_hours(connection, tmp_path):
    # Calendar mode, pivot 03-13 12:00 UTC: yesterday is 03-12 local, 23 hours long.
    load(connection, tmp_path, "ny,active,2023-03-12 12:00:00 UTC\n", zones=DST_ZONES)

    [row] = report_rows(connection, "2023-03-13T12:00:00Z", columns="extended")

    from lpkit.reports import EXTENDED_HEADER

    values = as_dict(row, EXTENDED_HEADER)
    assert values["business_hours_last_day"] == "23.00"
    # Up from 03-12 05:00 UTC to midpoint(12:00, next day 12:00) = 03-13 00:00
    # UTC (19 h); the rest of the day, to 04:00 UTC, is unknown (4 h).
    assert values["uptime_last_day"] == "19.00"
    assert values["unknown_hours_last_day"] == "4.00"


# Overnight shift Monday 22:00 -> 02:00 and Tuesday 03:00 -> 04:00, in UTC.
# Last week of pivot Monday 2023-01-23 is 01-16 .. 01-22.
OVERNIGHT_HOURS = "night,0,22:00:00,02:00:00\nnight,1,03:00:00,04:00:00\n"
OVERNIGHT_POLLS = (
    "night,active,2023-01-16 21:30:00 UTC\n"
    "night,inactive,2023-01-16 22:30:00 UTC\n"
    "night,inactive,2023-01-17 01:30:00 UTC\n"
    "night,active,2023-01-17 01:50:00 UTC\n"
    "night,inactive,2023-01-17 03:30:00 UTC\n"
)


def test_overnight_week_totals(connection, tmp_path):
    load(connection, tmp_path, OVERNIGHT_POLLS, hours=OVERNIGHT_HOURS, zones="night,UTC\n")

    [row] = report_rows(connection, "2023-01-23T12:00:00Z")

    # 01-16 segment (22:00-24:00), polls 21:30 up and 22:30 down: the
    # midpoint is 22:00, so down 2 h. 01-17 segment (00:00-02:00 and
    # 03:00-04:00), polls 01:30 down, 01:50 up, 03:30 down: down 00:00-01:40,
    # up 01:40-02:00 (20 min), down 03:00-04:00. Week: up 0.33 h, down 4.67 h.
    assert row == ["night", "0.00", "0.00", "0.33", "0.00", "0.00", "4.67"]


def test_incident_spans_midnight_in_overnight_shift(client, connection, tmp_path):
    load(connection, tmp_path, OVERNIGHT_POLLS, hours=OVERNIGHT_HOURS, zones="night,UTC\n")
    report_id, _ = run_report_via_api(client, pivot="2023-01-23T12:00:00Z")

    response = client.get(f"/get_report?report_id={report_id}&part=incidents")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.data.decode("utf-8").split("\r\n")
    assert lines[0] == "store_id,start_utc,end_utc,start_local,end_local,timezone,duration_minutes"
    # 22:00 -> 01:40 is one episode across midnight (220 min); closed hours
    # 02:00-03:00 split off the 03:00-04:00 episode (60 min).
    assert lines[1] == (
        "night,2023-01-16T22:00:00.000000Z,2023-01-17T01:40:00.000000Z,"
        "2023-01-16T22:00:00.000000+00:00,2023-01-17T01:40:00.000000+00:00,UTC,220.00"
    )
    assert lines[2] == (
        "night,2023-01-17T03:00:00.000000Z,2023-01-17T04:00:00.000000Z,"
        "2023-01-17T03:00:00.000000+00:00,2023-01-17T04:00:00.000000+00:00,UTC,60.00"
    )
    assert lines[3:] == [""]


def test_incident_local_times_use_store_zone(client, connection, tmp_path):
    # New York store, Monday 2023-01-16 09:00-12:00 local (14:00-17:00 UTC),
    # polls 15:00 UTC down and 16:00 UTC up: down 14:00-15:30 UTC (90 min).
    polls = "nyc,inactive,2023-01-16 15:00:00 UTC\nnyc,active,2023-01-16 16:00:00 UTC\n"
    load(connection, tmp_path, polls, hours="nyc,0,09:00,12:00\n", zones="nyc,America/New_York\n")
    report_id, _ = run_report_via_api(client, pivot="2023-01-23T12:00:00Z")

    response = client.get(f"/get_report?report_id={report_id}&part=incidents&format=json")

    [incident] = response.get_json()["rows"]
    assert incident["start_utc"] == "2023-01-16T14:00:00.000000Z"
    assert incident["end_local"] == "2023-01-16T10:30:00.000000-05:00"
    assert incident["duration_minutes"] == "90.00"


def test_unknown_time_with_long_poll_gap(connection, tmp_path):
    # 24x7 UTC store polled only on Sunday 01-22; pivot Wednesday 01-25 12:00.
    polls = "gap,active,2023-01-22 10:00:00 UTC\ngap,inactive,2023-01-22 18:00:00 UTC\n"
    load(connection, tmp_path, polls, zones="gap,UTC\n")

    [row] = report_rows(connection, "2023-01-25T12:00:00Z", columns="extended")

    from lpkit.reports import EXTENDED_HEADER

    values = as_dict(row, EXTENDED_HEADER)
    # Last day (01-24) has no poll within an hour of it: all 24 h unknown.
    assert values["unknown_hours_last_day"] == "24.00"
    assert values["uptime_percent_last_day"] == ""
    # Last week 01-16..01-22: only Sunday is known, up 00:00-14:00 and down
    # 14:00-24:00 (the last poll's midpoint with the pivot is days later).
    assert values["uptime_last_week"] == "14.00"
    assert values["downtime_last_week"] == "10.00"
    assert values["unknown_hours_last_week"] == "144.00"
    # 14 / 24 = 58.333... %
    assert values["uptime_percent_last_week"] == "58.33"


def test_default_options_keep_example_bytes(client, connection, tmp_path):
    example = EXAMPLES / "midpoint"
    import_files(connection, tmp_path, example)
    pivot = (example / "pivot.txt").read_text(encoding="utf-8").strip()

    _, explicit = run_report_via_api(client, pivot=pivot, window="calendar", columns="standard")

    assert explicit.data == (example / "expected.csv").read_bytes()


def test_json_format_returns_rows(client, connection, tmp_path):
    import_files(connection, tmp_path, EXAMPLES / "midpoint")
    report_id, _ = run_report_via_api(client, pivot="2021-01-28T10:18:00Z")

    payload = client.get(f"/get_report?report_id={report_id}&format=json").get_json()

    assert payload["status"] == "Complete"
    assert payload["rows"] == [
        {
            "store_id": "s1",
            "uptime_last_hour": "0.00",
            "uptime_last_day": "10.05",
            "uptime_last_week": "0.00",
            "downtime_last_hour": "0.00",
            "downtime_last_day": "12.57",
            "downtime_last_week": "0.00",
        }
    ]


def test_options_recorded_with_report(client, connection, tmp_path):
    import_files(connection, tmp_path, EXAMPLES / "midpoint")
    report_id, _ = run_report_via_api(client, pivot="2021-01-28T10:18:00Z", window="rolling", columns="extended")

    payload = client.get(f"/get_report?report_id={report_id}", headers={"Accept": "application/json"}).get_json()

    assert payload["options"] == {"window": "rolling", "columns": "extended"}


def test_unknown_option_is_rejected(client):
    response = client.post("/trigger_report", json={"window": "monthly"})

    assert response.status_code == 400
    assert "monthly" in response.get_json()["error"]


def test_cli_rolling_extended(runner, connection, tmp_path):
    import_files(connection, tmp_path, EXAMPLES / "midpoint")
    output = tmp_path / "out.csv"

    result = runner.invoke(
        args=["report", "--pivot", "2021-01-28T10:18:00Z", "--window", "rolling", "--columns", "extended", "--output", str(output)]
    )

    assert result.exit_code == 0, result.output
    header = next(csv.reader(io.StringIO(output.read_text(encoding="utf-8"))))
    assert "uptime_percent_last_week" in header


def test_misspelled_option_is_rejected(client):
    response = client.post("/trigger_report", data={"windows": "rolling"})

    assert response.status_code == 400
    assert '"windows" is unknown' in response.get_json()["error"]


def test_epoch_seconds_pivot_is_rejected(client):
    response = client.post("/trigger_report", json={"pivot": "1674670380"})

    assert response.status_code == 400
    assert "1674670380000" in response.get_json()["error"]
