"""The import rules: every accepted variant of the exports, rejects, replacement and the CLI."""

import csv
from pathlib import Path

import pytest

from conftest import LOOP_DATA, import_files, write_csv

from lpkit import repository

STATUS_HEADER = "store_id,status,timestamp_utc"
HOURS_HEADER = "store_id,dayOfWeek,start_time_local,end_time_local"
ZONES_HEADER = "store_id,timezone_str"

# 2023-01-25 12:00:00 UTC: (19358 days to 2023 + 24) * 86400 s + 12 h = 1674648000 s.
NOON_US = 1_674_648_000_000_000
HOUR_US = 3_600_000_000


def export(tmp_path, name, header, *lines):
    """Write an export file with a header and data lines (LF line ends)."""
    return write_csv(tmp_path / name, "\n".join([header, *lines]) + "\n")


def stored_polls(connection):
    return connection.execute(
        "SELECT store_id, polled_at_us, is_active FROM polls JOIN stores USING (store_pk) ORDER BY store_id, polled_at_us"
    ).fetchall()


def stored_hours(connection):
    return connection.execute(
        """
        SELECT store_id, day_of_week, start_time_us, end_time_us FROM business_hours JOIN stores USING (store_pk)
        ORDER BY store_id, day_of_week, start_time_us
        """
    ).fetchall()


def stored_zones(connection):
    return connection.execute("SELECT store_id, timezone FROM stores ORDER BY store_id").fetchall()


def count(connection, table):
    return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# Accepted variants ---------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp, expected_us",
    [
        ("2023-01-25 12:00:00 UTC", NOON_US),
        ("2023-01-25 12:00:00", NOON_US),  # no zone: UTC
        ("2023-01-25 12:00:00+00:00", NOON_US),
        ("2023-01-25 07:00:00-05:00", NOON_US),  # 07:00 + 5 h
        ("2023-01-25T17:30:00+05:30", NOON_US),  # 17:30 - 5 h 30 min
        ("2023-01-25T12:00:00Z", NOON_US),
        ("2023-01-25T12:00:00.388884Z", NOON_US + 388_884),
        ("2023-01-25 12:00:00.388884 UTC", NOON_US + 388_884),
        ("2023-01-25 12:00:00.5 UTC", NOON_US + 500_000),
        ("2023-01-25 12:00:00.32016 UTC", NOON_US + 320_160),  # five digits, as in real exports
        ("2023-01-25T12:00:00.32016Z", NOON_US + 320_160),
    ],
)
def test_timestamp_variant_imported(timestamp, expected_us, connection, tmp_path):
    import_files(connection, tmp_path, export(tmp_path, "status.csv", STATUS_HEADER, f"s,active,{timestamp}"))

    assert stored_polls(connection) == [("s", expected_us, 1)]


@pytest.mark.parametrize(
    "start, expected_us",
    [
        ("9:00", 9 * HOUR_US),
        ("09:00", 9 * HOUR_US),
        ("9:00:00", 9 * HOUR_US),
        ("09:00:00", 9 * HOUR_US),
        ("09:30:15", 34_215_000_000),  # 9 * 3600 + 30 * 60 + 15 = 34215 s
    ],
)
def test_time_variant_imported(start, expected_us, connection, tmp_path):
    import_files(connection, tmp_path, export(tmp_path, "hours.csv", HOURS_HEADER, f"s,0,{start},24:00"))

    # 24:00 is the end of the day, 24 h after midnight.
    assert stored_hours(connection) == [("s", 0, expected_us, 24 * HOUR_US)]


def test_columns_in_any_order(connection, tmp_path):
    paths = [
        export(tmp_path, "status.csv", "timestamp_utc,store_id,status", "2023-01-25 12:00:00 UTC,s,inactive"),
        export(tmp_path, "hours.csv", "end_time_local,store_id,start_time_local,dayOfWeek", "17:00,s,09:00,4"),
        export(tmp_path, "zones.csv", "timezone_str,store_id", "Asia/Kolkata,s"),
    ]
    import_files(connection, tmp_path, *paths)

    assert stored_polls(connection) == [("s", NOON_US, 0)]
    assert stored_hours(connection) == [("s", 4, 9 * HOUR_US, 17 * HOUR_US)]
    assert stored_zones(connection) == [("s", "Asia/Kolkata")]


@pytest.mark.parametrize("day_column", ["dayOfWeek", "day", "day_of_week"])
def test_day_column_spellings(day_column, connection, tmp_path):
    header = f"store_id,{day_column},start_time_local,end_time_local"
    import_files(connection, tmp_path, export(tmp_path, "hours.csv", header, "s,3,09:00,17:00"))

    assert stored_hours(connection) == [("s", 3, 9 * HOUR_US, 17 * HOUR_US)]


def test_byte_order_mark_ignored(connection, tmp_path):
    path = tmp_path / "zones.csv"
    path.write_bytes(b"\xef\xbb\xbfstore_id,timezone_str\ns,UTC\n")
    import_files(connection, tmp_path, path)

    assert stored_zones(connection) == [("s", "UTC")]


def test_crlf_line_ends(connection, tmp_path):
    status = tmp_path / "status.csv"
    status.write_bytes(b"store_id,status,timestamp_utc\r\ns,active,2023-01-25 12:00:00 UTC\r\n")
    zones = tmp_path / "zones.csv"
    zones.write_bytes(b"store_id,timezone_str\r\ns,UTC\r\n")
    import_files(connection, tmp_path, status, zones)

    assert stored_polls(connection) == [("s", NOON_US, 1)]
    assert stored_zones(connection) == [("s", "UTC")]


@pytest.mark.parametrize("status, expected", [(" Active ", 1), ("INACTIVE", 0), ("inActive", 0), ("active", 1)])
def test_status_case_and_spaces(status, expected, connection, tmp_path):
    import_files(connection, tmp_path, export(tmp_path, "status.csv", STATUS_HEADER, f"s,{status},2023-01-25 12:00:00 UTC"))

    assert stored_polls(connection) == [("s", NOON_US, expected)]


def test_store_ids_trimmed_kept_as_text(connection, tmp_path):
    zones = export(tmp_path, "zones.csv", ZONES_HEADER, "  0042  ,UTC", "8419537941919820732,UTC", " 7f3e-AB ,UTC")
    import_files(connection, tmp_path, zones)

    # Leading zeros, 64-bit integers and letter case survive; spaces do not.
    assert [store_id for store_id, _ in stored_zones(connection)] == ["0042", "7f3e-AB", "8419537941919820732"]
    assert connection.execute("SELECT DISTINCT typeof(store_id) FROM stores").fetchall() == [("text",)]


# Rejects ---------------------------------------------------------------------------


def test_bad_rows_rejected_with_reasons(connection, tmp_path):
    status = export(
        tmp_path,
        "status.csv",
        STATUS_HEADER,
        "s,unknown,2023-01-25 12:00:00 UTC",
        "s,active,25/01/2023 12:00",
        "2.57E+14,active,2023-01-25 12:00:00 UTC",
        "s,active,2023-01-25 13:00:00 UTC",
    )
    hours = export(tmp_path, "hours.csv", HOURS_HEADER, "h,7,09:00,17:00")
    status_summary, hours_summary = import_files(connection, tmp_path, status, hours)

    assert status_summary.rows_rejected == 3
    assert status_summary.first_reasons[0].startswith('line 2: status "unknown"')
    assert status_summary.first_reasons[1].startswith('line 3: timestamp "25/01/2023 12:00"')
    assert status_summary.first_reasons[2].startswith('line 4: store_id "2.57E+14"')
    assert hours_summary.rows_rejected == 1
    assert hours_summary.first_reasons[0].startswith('line 2: day of week "7"')
    # Only the accepted row (line 5) names a store.
    assert stored_polls(connection) == [("s", NOON_US + HOUR_US, 1)]
    assert stored_zones(connection) == [("s", None)]


def test_conflict_with_earlier_file(connection, tmp_path):
    first = export(tmp_path, "first.csv", STATUS_HEADER, "s,active,2023-01-25 12:00:00 UTC")
    second = export(tmp_path, "second.csv", STATUS_HEADER, "s,active,2023-01-25 11:00:00 UTC", "s,inactive,2023-01-25 12:00:00 UTC")
    _, summary = import_files(connection, tmp_path, first, second)

    assert summary.rows_rejected == 1
    assert summary.first_reasons[0].startswith("line 3: ")
    assert stored_polls(connection) == [("s", NOON_US - HOUR_US, 1), ("s", NOON_US, 1)]


def test_rejects_csv_beside_database(runner, connection, tmp_path):
    # Twelve bad rows, more than the summary prints, and one good row.
    bad_rows = [f"s,maybe,2023-01-25 {hour:02d}:00:00 UTC" for hour in range(12)]
    status = export(tmp_path, "status.csv", STATUS_HEADER, *bad_rows, "s,active,2023-01-25 12:00:00 UTC")

    result = runner.invoke(args=["import-data", str(status)])

    assert result.exit_code == 0
    (rejects_path,) = tmp_path.glob("rejected-rows-*.csv")
    with open(rejects_path, encoding="utf-8", newline="") as rejects_file:
        rejected = list(csv.DictReader(rejects_file))
    assert [int(entry["line"]) for entry in rejected] == list(range(2, 14))
    assert {entry["file"] for entry in rejected} == {str(status)}
    assert all('status "maybe"' in entry["reason"] for entry in rejected)
    assert count(connection, "polls") == 1


def test_blank_line_counts_in_line_numbers(connection, tmp_path):
    status = write_csv(tmp_path / "status.csv", f"{STATUS_HEADER}\n\ns,maybe,2023-01-25 12:00:00 UTC\n")
    (summary,) = import_files(connection, tmp_path, status)

    assert summary.rows_rejected == 1
    assert summary.first_reasons[0].startswith("line 3: ")


@pytest.mark.parametrize("start, end", [("24:00", "02:00"), ("09:00", "25:00"), ("09:60", "17:00"), ("nine", "17:00")])
def test_bad_time_rejected(start, end, connection, tmp_path):
    (summary,) = import_files(connection, tmp_path, export(tmp_path, "hours.csv", HOURS_HEADER, f"s,0,{start},{end}"))

    assert summary.rows_rejected == 1
    assert stored_hours(connection) == []


def test_onboarded_at_offset_converted(connection, tmp_path):
    zones = export(tmp_path, "zones.csv", f"{ZONES_HEADER},onboarded_at", "s,UTC,2023-01-25 07:00:00-05:00")
    import_files(connection, tmp_path, zones)

    assert connection.execute("SELECT onboarded_at_us FROM stores").fetchall() == [(NOON_US,)]


def test_bad_onboarded_at_rejected(connection, tmp_path):
    zones = export(tmp_path, "zones.csv", f"{ZONES_HEADER},onboarded_at", "s,UTC,yesterday")
    (summary,) = import_files(connection, tmp_path, zones)

    assert summary.first_reasons[0].startswith('line 2: timestamp "yesterday"')
    assert stored_zones(connection) == []


def test_conflicts_checked_against_kept_poll(connection, tmp_path):
    # The stored poll is active. Both later rows have status inactive, so both conflict
    # with it, even though they agree with each other.
    first = export(tmp_path, "first.csv", STATUS_HEADER, "s,active,2023-01-25 12:00:00 UTC")
    second = export(tmp_path, "second.csv", STATUS_HEADER, "s,inactive,2023-01-25 12:00:00 UTC", "s,inactive,2023-01-25 12:00:00 UTC")
    _, summary = import_files(connection, tmp_path, first, second)

    assert summary.rows_rejected == 2
    assert stored_polls(connection) == [("s", NOON_US, 1)]


# Repeated imports --------------------------------------------------------------------


def test_reimport_adds_nothing(connection, tmp_path):
    status = export(tmp_path, "status.csv", STATUS_HEADER, "s,active,2023-01-25 12:00:00 UTC", "s,inactive,2023-01-25 13:00:00 UTC")
    hours = export(tmp_path, "hours.csv", HOURS_HEADER, "s,0,09:00,17:00")
    zones = export(tmp_path, "zones.csv", ZONES_HEADER, "s,UTC")
    import_files(connection, tmp_path, status, hours, zones)

    again = import_files(connection, tmp_path, status, hours, zones)

    assert [summary.rows_inserted for summary in again] == [0, 0, 0]
    assert [summary.rows_duplicate for summary in again] == [2, 1, 1]
    assert count(connection, "polls") == 2
    assert count(connection, "business_hours") == 1


def test_zones_file_replaces_named_stores(connection, tmp_path):
    import_files(connection, tmp_path, export(tmp_path, "a.csv", ZONES_HEADER, "s1,UTC", "s2,Asia/Kolkata"))
    import_files(connection, tmp_path, export(tmp_path, "b.csv", ZONES_HEADER, "s1,America/New_York"))

    assert stored_zones(connection) == [("s1", "America/New_York"), ("s2", "Asia/Kolkata")]


def test_hours_file_replaces_named_stores(connection, tmp_path):
    import_files(connection, tmp_path, export(tmp_path, "a.csv", HOURS_HEADER, "s1,0,09:00,17:00", "s1,1,09:00,17:00", "s2,0,10:00,12:00"))
    import_files(connection, tmp_path, export(tmp_path, "b.csv", HOURS_HEADER, "s1,2,08:00,09:00"))

    assert stored_hours(connection) == [
        ("s1", 2, 8 * HOUR_US, 9 * HOUR_US),
        ("s2", 0, 10 * HOUR_US, 12 * HOUR_US),
    ]


def test_rejected_hours_keep_old_hours(connection, tmp_path):
    import_files(connection, tmp_path, export(tmp_path, "a.csv", HOURS_HEADER, "s,0,09:00,17:00"))
    import_files(connection, tmp_path, export(tmp_path, "b.csv", HOURS_HEADER, "s,7,10:00,11:00"))

    # The only row of the second file is rejected, so it names no store.
    assert stored_hours(connection) == [("s", 0, 9 * HOUR_US, 17 * HOUR_US)]


def test_status_file_adds_polls(connection, tmp_path):
    import_files(connection, tmp_path, export(tmp_path, "a.csv", STATUS_HEADER, "s,active,2023-01-25 12:00:00 UTC"))
    import_files(connection, tmp_path, export(tmp_path, "b.csv", STATUS_HEADER, "s,inactive,2023-01-25 13:00:00 UTC"))

    assert stored_polls(connection) == [("s", NOON_US, 1), ("s", NOON_US + HOUR_US, 0)]


# Command line --------------------------------------------------------------------------


def test_strict_import_changes_nothing(runner, connection, tmp_path):
    zones = export(tmp_path, "zones.csv", ZONES_HEADER, "s,UTC")
    status = export(tmp_path, "status.csv", STATUS_HEADER, "s,active,2023-01-25 12:00:00 UTC", "s,maybe,2023-01-25 13:00:00 UTC")

    result = runner.invoke(args=["import-data", "--strict", str(zones), str(status)])

    assert result.exit_code != 0
    assert "line 3" in result.output
    assert count(connection, "stores") == 0
    assert count(connection, "polls") == 0


def test_init_db_keeps_data(runner, connection, tmp_path):
    import_files(connection, tmp_path, export(tmp_path, "status.csv", STATUS_HEADER, "s,active,2023-01-25 12:00:00 UTC"))

    result = runner.invoke(args=["init-db"])

    assert result.exit_code == 0
    assert count(connection, "polls") == 1


def test_init_db_reset_deletes_data(runner, connection, tmp_path):
    import_files(connection, tmp_path, export(tmp_path, "status.csv", STATUS_HEADER, "s,active,2023-01-25 12:00:00 UTC"))

    result = runner.invoke(args=["init-db", "--reset", "--yes"])

    assert result.exit_code == 0
    assert count(connection, "polls") == 0
    assert count(connection, "stores") == 0


def test_init_db_reset_removes_report_files(app, runner):
    reports_dir = Path(app.config["REPORTS_DIR"])
    (reports_dir / "report-old.csv").write_text("store_id\r\n", encoding="utf-8")
    (reports_dir / "notes.txt").write_text("kept", encoding="utf-8")

    result = runner.invoke(args=["init-db", "--reset", "--yes"])

    assert result.exit_code == 0
    assert not (reports_dir / "report-old.csv").exists()
    assert (reports_dir / "notes.txt").exists()


# Real exports ---------------------------------------------------------------------------


def test_loop_exports_import_fully(connection, tmp_path):
    hours, status, zones = import_files(connection, tmp_path, *sorted(LOOP_DATA.glob("*.csv")))

    # Row counts from the files themselves: 86198 hours rows, 5032 polls (the
    # last line has no line end), 13559 timezone rows; 13822 distinct ids in all.
    assert (hours.kind, hours.rows_inserted, hours.rows_rejected) == ("business hours", 86198, 0)
    assert (status.kind, status.rows_inserted, status.rows_rejected) == ("store status", 5032, 0)
    assert (zones.kind, zones.rows_inserted, zones.rows_rejected) == ("timezones", 13559, 0)
    assert zones.warnings == []
    assert count(connection, "stores") == 13822


def test_rejected_poll_rows_name_no_store(connection, tmp_path):
    polls = write_csv(
        tmp_path / "status.csv",
        "store_id,status,timestamp_utc\n"
        "kept,active,2023-01-24 10:00:00 UTC\n"
        "bad-status,maybe,2023-01-24 10:00:00 UTC\n"
        "bad-time,active,garbage\n",
    )

    import_files(connection, tmp_path, polls)

    store_ids = [row[0] for row in connection.execute("SELECT store_id FROM stores ORDER BY store_id")]
    assert store_ids == ["kept"]


def test_last_import_groups_one_command(connection, tmp_path):
    first = export(tmp_path, "a.csv", STATUS_HEADER, "a,active,2023-01-25 12:00:00 UTC")
    second = export(tmp_path, "b.csv", STATUS_HEADER, "b,maybe,2023-01-25 12:00:00 UTC")
    import_files(connection, tmp_path, first)

    import_files(connection, tmp_path, first, second)

    _finished, files, rejected = repository.last_import(connection)
    assert files == 2
    assert rejected == 1
