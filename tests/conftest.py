"""Shared fixtures: an app on a temporary SQLite file, its client and CLI runner."""

import os
import time
from pathlib import Path

import pytest

from lpkit import create_app, db, importer
from lpkit.parsing import parse_pivot_us
from lpkit.reports import BatchSizes, ReportBuilder, ReportOptions

# The worked examples and the real Loop exports live in a shared folder beside
# the repository; LPKIT_SHARED_DIR points elsewhere.
SHARED = Path(os.environ.get("LPKIT_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
EXAMPLES = SHARED / "examples"
LOOP_DATA = SHARED / "data" / "loop-2023"
MISSING_SHARED = f"shared data not found at {SHARED}; set LPKIT_SHARED_DIR to the folder with examples/ and data/"


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "lpkit.sqlite"),
            "REPORTS_DIR": str(tmp_path / "reports"),
            "SECRET_KEY": "test",
        }
    )
    connection = db.connect(app.config["DATABASE"])
    db.create_schema(connection)
    connection.close()
    yield app
    app.extensions["lpkit.runner"].executor.shutdown(wait=True)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def connection(app):
    connection = db.connect(app.config["DATABASE"])
    yield connection
    connection.close()


def import_files(connection, tmp_path, *paths, strict=False):
    """Import export files and return the per-file summaries; skip the test when shared data is missing."""
    if not SHARED.exists() and (not paths or any(SHARED in Path(path).parents for path in paths)):
        pytest.skip(MISSING_SHARED)
    result = importer.import_paths(connection, paths, rejects_dir=tmp_path / "rejects", strict=strict)
    return result.summaries


def write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def report_rows(connection, pivot, window="calendar", columns="standard", batch_sizes=BatchSizes()):
    """Compute report rows synchronously, as of a pivot given as text."""
    builder = ReportBuilder(connection, parse_pivot_us(pivot), ReportOptions(window, columns), batch_sizes)
    return builder.rows()


def wait_for_report(client, report_id, timeout_s=30):
    """Poll /get_report until the report leaves the Running state; return the last response."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/get_report?report_id={report_id}")
        if response.mimetype != "application/json" or response.get_json()["status"] != "Running":
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"report {report_id} still running after {timeout_s} s")
        time.sleep(0.05)
