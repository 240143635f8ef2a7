"""Malformed exports and API requests: each gets a rejection or a 4xx error that names the value, never a traceback."""

import csv
import sqlite3
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lpkit import db, importer, repository

POLLS_HEADER = "store_id,status,timestamp_utc"
HOURS_HEADER = "store_id,dayOfWeek,start_time_local,end_time_local"
ZONES_HEADER = "store_id,timezone_str,onboarded_at"

# Cells that are valid, nearly valid, or hostile to a CSV reader.
AWKWARD_CELLS = [
    "1", " 42 ", "2.57E+14", "", "active", "Inactive", "ACTIVE ", "unknown", "2023-01-22 12:09:39.388884 UTC",
    "2023-01-22T12:09:39Z", "2023-01-22", "2023-02-30 10:00:00", "9:00", "24:00", "25:61", "0", "6", "7", "-1",
    "America/New_York", "mars/olympus", '"', '""', ",", "a,b", "\x00", "x\x00y", "\r", "\n", "é", "漢字", "٣",
    "\ufeff", "'; DROP TABLE polls; --",
]
cell = st.one_of(st.sampled_from(AWKWARD_CELLS), st.text(max_size=12))
row = st.lists(cell, min_size=0, max_size=5)
header = st.sampled_from([POLLS_HEADER, HOURS_HEADER, ZONES_HEADER, "timestamp_utc,store_id,status", "a,b,c", ""])
encoding = st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])
line_end = st.sampled_from(["\n", "\r\n"])


def csv_bytes(header_line, rows, encoding_name, newline, quote_all=False):
    """Write a header and rows as CSV bytes in an encoding, with a line ending."""
    lines = [header_line]
    for fields in rows:
        out = []
        for value in fields:
            if quote_all or any(char in value for char in ',"\r\n'):
                value = '"' + value.replace('"', '""') + '"'
            out.append(value)
        lines.append(",".join(out))
    text = newline.join(lines) + newline
    return text.encode(encoding_name, errors="replace")


def new_connection():
    connection = db.connect(":memory:")
    db.create_schema(connection)
    return connection


def table_counts(connection):
    return tuple(
        connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("stores", "polls", "business_hours")
    )


def read_rejections(path):
    with open(path, encoding="utf-8", newline="") as rejects_file:
        return list(csv.DictReader(rejects_file))


def check_import(content, strict=False, connection=None):
    """Import one file; return (result or the expected error, connection). Any other exception fails the test."""
    connection = connection or new_connection()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        path.write_bytes(content)
        try:
            result = importer.import_paths(connection, [path], rejects_dir=Path(folder) / "rejects", strict=strict)
        except (importer.ImportFailed, importer.StrictImportAborted) as error:
            assert str(path) in str(error)
            return error, connection
        for summary in result.summaries:
            assert summary.rows_read == summary.rows_inserted + summary.rows_duplicate + summary.rows_rejected
        if result.rejects_path:
            for rejection in read_rejections(result.rejects_path):
                assert rejection["file"] == str(path)
                assert int(rejection["line"]) >= 2
                assert rejection["reason"]
        return result, connection


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header, st.lists(row, max_size=8), encoding, line_end, st.booleans())
def test_import_never_raises_unexpected(header_line, rows, encoding_name, newline, quote_all):
    check_import(csv_bytes(header_line, rows, encoding_name, newline, quote_all))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([POLLS_HEADER, HOURS_HEADER, ZONES_HEADER]), st.lists(row, min_size=1, max_size=8), line_end)
def test_strict_import_is_all_or_nothing(header_line, rows, newline):
    connection = new_connection()
    seed = csv_bytes(POLLS_HEADER, [["seed", "active", "2023-01-22 12:00:00 UTC"]], "utf-8", "\n")
    check_import(seed, connection=connection)
    before = table_counts(connection)

    outcome, _ = check_import(csv_bytes(header_line, rows, "utf-8", newline), strict=True, connection=connection)

    if isinstance(outcome, importer.StrictImportAborted):
        assert table_counts(connection) == before
        assert outcome.rejection.line_number >= 2
    elif isinstance(outcome, importer.ImportResult):
        assert all(summary.rows_rejected == 0 for summary in outcome.summaries)


def import_one(tmp_path, content, strict=False):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    connection = new_connection()
    result = importer.import_paths(connection, [path], rejects_dir=tmp_path / "rejects", strict=strict)
    rejections = read_rejections(result.rejects_path) if result.rejects_path else []
    return result.summaries[0], rejections, connection


def test_empty_file_is_rejected(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    with pytest.raises(importer.ImportFailed, match="is empty"):
        importer.import_paths(new_connection(), [path], rejects_dir=tmp_path)


def test_header_only_file_imports_nothing(tmp_path):
    summary, rejections, connection = import_one(tmp_path, b"store_id,status,timestamp_utc\r\n")

    assert summary.rows_read == 0
    assert rejections == []
    assert table_counts(connection) == (0, 0, 0)


def test_bom_crlf_and_quotes_import(tmp_path):
    content = '\ufeff"store_id","status","timestamp_utc"\r\n"7","Active","2023-01-22 12:09:39 UTC"\r\n'.encode()

    summary, rejections, connection = import_one(tmp_path, content)

    assert (summary.rows_inserted, rejections) == (1, [])
    assert repository.find_store(connection, "7") is not None


def test_latin1_row_is_rejected(tmp_path):
    content = "store_id,timezone_str\n1,America/Chicago\n2,Am\xe9rica\n".encode("latin-1")

    summary, rejections, _ = import_one(tmp_path, content)

    assert summary.rows_inserted == 1
    assert [(row["line"], "UTF-8" in row["reason"]) for row in rejections] == [("3", True)]


def test_nul_byte_in_store_id_is_rejected(tmp_path):
    content = b"store_id,status,timestamp_utc\n1\x002,active,2023-01-22 12:09:39 UTC\n"

    summary, rejections, connection = import_one(tmp_path, content)

    assert summary.rows_rejected == 1
    assert "U+0000" in rejections[0]["reason"]
    assert table_counts(connection) == (0, 0, 0)


def test_ten_megabyte_line_is_rejected(tmp_path):
    huge = b"1,active," + b"9" * 10_000_000
    content = b"store_id,status,timestamp_utc\n" + huge + b"\n2,active,2023-01-22 12:09:39 UTC\n"

    summary, rejections, _ = import_one(tmp_path, content)

    assert summary.rows_inserted == 1
    assert rejections[0]["line"] == "2"
    assert len(rejections[0]["reason"]) < 300


def test_other_script_digits_are_rejected(tmp_path):
    content = "store_id,day,start_time_local,end_time_local\n1,٣,09:00,17:00\n2,3,٠٩:٠٠,17:00\n".encode()

    summary, rejections, _ = import_one(tmp_path, content)

    assert summary.rows_inserted == 0
    assert [row["line"] for row in rejections] == ["2", "3"]


def test_strict_rejection_applies_nothing(tmp_path):
    good = tmp_path / "a_good.csv"
    good.write_text("store_id,status,timestamp_utc\n1,active,2023-01-22 12:09:39 UTC\n")
    bad = tmp_path / "b_bad.csv"
    bad.write_text("store_id,status,timestamp_utc\n2,active,2023-01-22 12:09:39 UTC\n3,open,2023-01-22 12:09:39 UTC\n")
    connection = new_connection()

    with pytest.raises(importer.StrictImportAborted) as raised:
        importer.import_paths(connection, [good, bad], rejects_dir=tmp_path, strict=True)

    assert raised.value.rejection.line_number == 3
    assert table_counts(connection) == (0, 0, 0)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"store_id,status,timestamp_utc\n",
        "st\xf6re_id,status\n1,active\n".encode("latin-1"),
        b"\x00\x00\x00\n",
        b"store_id,status,timestamp_utc\n" + b"x" * 1_000_000,
        b'store_id,status,timestamp_utc\n"1,active,2023-01-22 12:09:39 UTC\n',
        b"store_id,status,timestamp_utc\r\n1,active\r\n",
    ],
    ids=["empty", "header-only", "latin1-header", "nul-header", "long-line", "open-quote", "short-row"],
)
def test_cli_import_gives_message_not_traceback(runner, tmp_path, content):
    path = tmp_path / "export.csv"
    path.write_bytes(content)

    result = runner.invoke(args=["import-data", str(path)])

    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert str(path) in result.output


# API ------------------------------------------------------------------------

BAD_REPORT_IDS = [
    ("", 400), (" ", 400), ("abc", 404), ("x" * 5000, 404), ("é漢字", 404), ("' OR 1=1 --", 404),
    ("\x00", 404), ("../../etc/passwd", 404), ("1; DROP TABLE reports", 404), ("%00", 404),
]


@pytest.mark.parametrize(("report_id", "status"), BAD_REPORT_IDS)
def test_get_report_rejects_bad_id(client, report_id, status):
    response = client.get("/get_report", query_string={"report_id": report_id})

    assert response.status_code == status
    assert response.is_json
    message = response.get_json()["error"]
    assert "report_id" in message or report_id.strip() in message
    assert len(message) < 300


def test_get_report_without_id(client):
    response = client.get("/get_report")

    assert response.status_code == 400
    assert "report_id is missing" in response.get_json()["error"]


BAD_PIVOTS = [
    ("2023-13-01", "not a valid date"),
    ("99999-01-01", "not a valid date"),
    ("1969-12-31T00:00:00Z", "out of range"),
    ("-5", "out of range"),
    ("0", "out of range"),
    ("99999999999999999", "out of range"),
    ("1674670380000.5", "whole number"),
    ("yesterday", "not a valid date"),
    ("", "empty"),
    ("   ", "empty"),
    ("١٦٧٤٦٧٠٣٨٠٠٠٠", "not a valid date"),
    ("2023-01-25T18:13:00+25:00", "not a valid date"),
    ("x" * 100_000, "100000 characters"),
    ("'; DROP TABLE reports; --", "not a valid date"),
]


@pytest.mark.parametrize(("pivot", "expected"), BAD_PIVOTS)
@pytest.mark.parametrize("where", ["form", "query", "json"])
def test_trigger_rejects_bad_pivot(client, pivot, expected, where):
    if where == "form":
        response = client.post("/trigger_report", data={"pivot": pivot})
    elif where == "query":
        response = client.post("/trigger_report", query_string={"pivot": pivot})
    else:
        response = client.post("/trigger_report", json={"pivot": pivot})

    assert response.status_code == 400
    message = response.get_json()["error"]
    assert expected in message
    assert "pivot" in message
    assert len(message) < 400


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[1, 2]", "an array, not an object"),
        (b"5", "a number, not an object"),
        (b'"now"', "a string, not an object"),
        (b"{not json", "not valid JSON"),
        (b'{"pivot": [1]}', "pivot is an array"),
        (b'{"pivot": true}', "pivot is true or false"),
        (b'{"pivot": 1674670380000.5}', "pivot is a number"),
        (b'{"window": {"a": 1}}', "window is an object"),
    ],
)
def test_trigger_rejects_bad_json_body(client, body, expected):
    response = client.post("/trigger_report", data=body, content_type="application/json")

    assert response.status_code == 400
    assert expected in response.get_json()["error"]


def test_trigger_rejects_huge_body(client):
    response = client.post("/trigger_report", data=b"{" + b" " * 5_000_000 + b"}", content_type="application/json")

    assert response.status_code == 413
    assert "larger than" in response.get_json()["error"]


def test_trigger_accepts_integer_pivot_in_json(client, app):
    response = client.post("/trigger_report", json={"pivot": 1674670380000})

    assert response.status_code == 202
    assert response.get_json()["pivot"] == "2023-01-25T18:13:00.000000Z"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_report_id_gets_4xx_json(client, report_id):
    response = client.get("/get_report", query_string={"report_id": report_id})

    assert response.status_code in (400, 404)
    assert "error" in response.get_json()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=60), st.text(alphabet=string.digits + "-.:TZ +", max_size=30)))
def test_any_pivot_gets_202_or_400(client, pivot):
    response = client.post("/trigger_report", data={"pivot": pivot})

    assert response.status_code in (202, 400)
    assert response.is_json
    if response.status_code == 400:
        assert "pivot" in response.get_json()["error"]


def test_report_ids_are_random_uuids(client):
    import uuid

    ids = [client.post("/trigger_report").get_json()["report_id"] for _ in range(3)]

    assert len(set(ids)) == 3
    assert all(uuid.UUID(report_id).version == 4 for report_id in ids)


def test_sql_text_in_values_is_stored_as_data(tmp_path):
    content = b"store_id,status,timestamp_utc\n\"1'); DROP TABLE polls; --\",active,2023-01-22 12:09:39 UTC\n"

    summary, _, connection = import_one(tmp_path, content)

    assert summary.rows_inserted == 1
    assert repository.find_store(connection, "1'); DROP TABLE polls; --") is not None
    assert connection.execute("SELECT count(*) FROM polls").fetchone()[0] == 1
    assert isinstance(connection, sqlite3.Connection)
