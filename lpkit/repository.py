"""SQL for stores, business hours, polls, reports and imports.

Every statement is parameterised; lists of ids travel as one JSON parameter
read with json_each, so no statement is built from values.
"""

import json
import time
from dataclasses import dataclass

import numpy as np

from lpkit.localtime import DEFAULT_TIMEZONE
from lpkit.uptime import BusinessHours


def now_us():
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Store:
    """A store as the report reads it."""

    store_pk: int
    store_id: str
    timezone: str
    onboarded_at_us: int | None


# Stores ---------------------------------------------------------------------


def ensure_stores(connection, store_ids):
    """Create the stores that do not exist yet; return {store_id: store_pk} for all given ids."""
    ids = sorted(set(store_ids))
    connection.executemany(
        "INSERT INTO stores (store_id) VALUES (?) ON CONFLICT (store_id) DO NOTHING",
        ((store_id,) for store_id in ids),
    )
    rows = connection.execute(
        "SELECT store_id, store_pk FROM stores WHERE store_id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    )
    return dict(rows)


def count_stores(connection):
    return connection.execute("SELECT count(*) FROM stores").fetchone()[0]


_STORES_IN_ZONE_AFTER = """
    SELECT store_pk, store_id, COALESCE(timezone, 'America/Chicago'), onboarded_at_us FROM stores
    WHERE COALESCE(timezone, 'America/Chicago') = ? AND store_id > ?
    ORDER BY store_id
    LIMIT ?
"""
_STORES_IN_LATER_ZONES = """
    SELECT store_pk, store_id, COALESCE(timezone, 'America/Chicago'), onboarded_at_us FROM stores
    WHERE COALESCE(timezone, 'America/Chicago') > ?
    ORDER BY COALESCE(timezone, 'America/Chicago'), store_id
    LIMIT ?
"""


def iter_store_batches(connection, batch_size):
    """Yield lists of stores sorted by effective time zone, then store id.

    The literal 'America/Chicago' is localtime.DEFAULT_TIMEZONE; it matches
    the expression of the stores_by_report_timezone index, so every query is
    an index seek: the rest of the current zone, then the zones after it.
    """
    zone, store_id = "", ""
    while True:
        rows = connection.execute(_STORES_IN_ZONE_AFTER, (zone, store_id, batch_size)).fetchall()
        if len(rows) < batch_size:
            rows += connection.execute(_STORES_IN_LATER_ZONES, (zone, batch_size - len(rows))).fetchall()
        if not rows:
            return
        yield [Store(*row) for row in rows]
        zone, store_id = rows[-1][2], rows[-1][1]


def find_store(connection, store_id):
    row = connection.execute(
        "SELECT store_pk, store_id, COALESCE(timezone, ?), onboarded_at_us FROM stores WHERE store_id = ?",
        (DEFAULT_TIMEZONE, store_id),
    ).fetchone()
    return Store(*row) if row else None


def store_timezone_names(connection, store_pks):
    """Return {store_pk: (timezone_name, timezone, onboarded_at_us)}."""
    rows = connection.execute(
        """
        SELECT store_pk, timezone_name, timezone, onboarded_at_us FROM stores
        WHERE store_pk IN (SELECT value FROM json_each(?))
        """,
        (json.dumps(list(store_pks)),),
    )
    return {pk: (name, zone, onboarded) for pk, name, zone, onboarded in rows}


def update_store_timezones(connection, updates, set_onboarded):
    """Apply (timezone_name, timezone, onboarded_at_us, store_pk) updates."""
    if set_onboarded:
        connection.executemany(
            "UPDATE stores SET timezone_name = ?, timezone = ?, onboarded_at_us = ? WHERE store_pk = ?",
            updates,
        )
    else:
        connection.executemany(
            "UPDATE stores SET timezone_name = ?, timezone = ? WHERE store_pk = ?",
            [(name, zone, pk) for name, zone, _onboarded, pk in updates],
        )


# Business hours -------------------------------------------------------------


def business_hours_for(connection, store_pks):
    """Return {store_pk: tuple of BusinessHours sorted by day and time} for stores that have rows."""
    rows = connection.execute(
        """
        SELECT store_pk, day_of_week, start_time_us, end_time_us FROM business_hours
        WHERE store_pk IN (SELECT value FROM json_each(?))
        ORDER BY store_pk, day_of_week, start_time_us, end_time_us
        """,
        (json.dumps(list(store_pks)),),
    )
    hours = {}
    for store_pk, *row in rows:
        hours.setdefault(store_pk, []).append(BusinessHours._make(row))
    return {store_pk: tuple(rows) for store_pk, rows in hours.items()}


def replace_business_hours(connection, store_pk, hours):
    connection.execute("DELETE FROM business_hours WHERE store_pk = ?", (store_pk,))
    connection.executemany(
        "INSERT INTO business_hours (store_pk, day_of_week, start_time_us, end_time_us) VALUES (?, ?, ?, ?)",
        [(store_pk, row.day_of_week, row.start_time_us, row.end_time_us) for row in hours],
    )


# Polls ----------------------------------------------------------------------


def latest_poll_us(connection):
    """Return the newest poll instant, or None; one index seek per store."""
    return connection.execute(
        "SELECT max((SELECT max(polled_at_us) FROM polls WHERE polls.store_pk = stores.store_pk)) FROM stores"
    ).fetchone()[0]


def fetch_polls(connection, store_pks, start_us, end_us):
    """Return the polls of some stores in [start_us, end_us] as arrays (store_pk, instant_us, is_active).

    The arrays are not sorted. Each store's polls travel as one text of
    comma-separated ``instant * 2 + is_active`` values, which numpy parses
    several times faster than Python builds a tuple per row.
    """
    rows = connection.execute(
        """
        SELECT store_pk, count(*), group_concat(polled_at_us * 2 + is_active) FROM polls
        WHERE store_pk IN (SELECT value FROM json_each(?))
          AND polled_at_us BETWEEN ? AND ?
        GROUP BY store_pk
        """,
        (json.dumps(list(store_pks)), start_us, end_us),
    ).fetchall()
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    pks = np.array([row[0] for row in rows], dtype=np.int64)
    counts = np.array([row[1] for row in rows], dtype=np.int64)
    encoded = np.fromstring(",".join(row[2] for row in rows), dtype=np.int64, sep=",")
    return np.repeat(pks, counts), encoded >> 1, encoded & 1


def store_polls(connection, store_pk, start_us, end_us):
    """Return one store's polls in [start_us, end_us] as sorted (instant_us, is_active) pairs."""
    return connection.execute(
        """
        SELECT polled_at_us, is_active FROM polls
        WHERE store_pk = ? AND polled_at_us BETWEEN ? AND ?
        ORDER BY polled_at_us
        """,
        (store_pk, start_us, end_us),
    ).fetchall()


# Rows converted to Python objects at a time; bounds the memory of large imports.
INSERT_CHUNK_ROWS = 100_000


def insert_polls(connection, store_pks, instants_us, actives):
    """Insert new polls; the arrays should be sorted by store and instant, which keeps inserts fast."""
    for start in range(0, len(store_pks), INSERT_CHUNK_ROWS):
        chunk = slice(start, start + INSERT_CHUNK_ROWS)
        connection.executemany(
            "INSERT INTO polls (store_pk, polled_at_us, is_active) VALUES (?, ?, ?)",
            zip(store_pks[chunk].tolist(), instants_us[chunk].tolist(), actives[chunk].tolist()),
        )


def poll_summary(connection):
    """Return (poll count, first poll instant, last poll instant)."""
    count = connection.execute("SELECT count(*) FROM polls").fetchone()[0]
    first = connection.execute(
        "SELECT min((SELECT min(polled_at_us) FROM polls WHERE polls.store_pk = stores.store_pk)) FROM stores"
    ).fetchone()[0]
    return count, first, latest_poll_us(connection)


# Reports --------------------------------------------------------------------

REPORT_COLUMNS = (
    "report_id, status, pivot_us, options, created_at_us, started_at_us, finished_at_us, "
    "stores_done, stores_total, row_count, error, owner"
)


@dataclass
class ReportRecord:
    """One row of the reports table."""

    report_id: str
    status: str
    pivot_us: int
    options: dict
    created_at_us: int
    started_at_us: int | None
    finished_at_us: int | None
    stores_done: int
    stores_total: int
    row_count: int | None
    error: str | None
    owner: str | None


def _report_from_row(row):
    fields = list(row)
    fields[3] = json.loads(fields[3])
    return ReportRecord(*fields)


def insert_report(connection, report_id, pivot_us, options, owner):
    connection.execute(
        """
        INSERT INTO reports (report_id, status, pivot_us, options, created_at_us, owner)
        VALUES (?, 'queued', ?, ?, ?, ?)
        """,
        (report_id, pivot_us, json.dumps(options, sort_keys=True), now_us(), owner),
    )


def get_report(connection, report_id):
    row = connection.execute(f"SELECT {REPORT_COLUMNS} FROM reports WHERE report_id = ?", (report_id,)).fetchone()
    return _report_from_row(row) if row else None


def recent_reports(connection, limit=20):
    rows = connection.execute(
        f"SELECT {REPORT_COLUMNS} FROM reports ORDER BY created_at_us DESC LIMIT ?", (limit,)
    )
    return [_report_from_row(row) for row in rows]


def unfinished_reports(connection):
    rows = connection.execute(f"SELECT {REPORT_COLUMNS} FROM reports WHERE status IN ('queued', 'running')")
    return [_report_from_row(row) for row in rows]


def mark_report_running(connection, report_id, stores_total):
    connection.execute(
        "UPDATE reports SET status = 'running', started_at_us = ?, stores_total = ? WHERE report_id = ?",
        (now_us(), stores_total, report_id),
    )


def update_report_progress(connection, report_id, stores_done):
    connection.execute("UPDATE reports SET stores_done = ? WHERE report_id = ?", (stores_done, report_id))


def mark_report_complete(connection, report_id, row_count):
    connection.execute(
        """
        UPDATE reports SET status = 'complete', finished_at_us = ?, row_count = ?, stores_done = stores_total
        WHERE report_id = ?
        """,
        (now_us(), row_count, report_id),
    )


def mark_report_failed(connection, report_id, error):
    connection.execute(
        "UPDATE reports SET status = 'failed', finished_at_us = ?, error = ? WHERE report_id = ?",
        (now_us(), error, report_id),
    )


# Imports --------------------------------------------------------------------


def record_import(connection, summary, run_id, started_at_us, rejects_path):
    connection.execute(
        """
        INSERT INTO imports (run_id, file_path, file_kind, started_at_us, finished_at_us, rows_read,
                             rows_inserted, rows_duplicate, rows_rejected, rejects_path)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (
            run_id,
            summary.path,
            summary.kind,
            started_at_us,
            now_us(),
            summary.rows_read,
            summary.rows_inserted,
            summary.rows_duplicate,
            summary.rows_rejected,
            rejects_path,
        ),
    )


def last_import(connection):
    """Return (finished_at_us, files, rejected rows) of the newest import run, or None."""
    row = connection.execute(
        """
        SELECT max(finished_at_us), count(*), sum(rows_rejected) FROM imports
        WHERE run_id = (SELECT run_id FROM imports ORDER BY import_id DESC LIMIT 1)
        """
    ).fetchone()
    return row if row and row[0] is not None else None


def data_version(connection):
    """Return a value that changes whenever an import or a reset changes the data."""
    schema_version = connection.execute("PRAGMA schema_version").fetchone()[0]
    last_import_id, imports = connection.execute("SELECT max(import_id), count(*) FROM imports").fetchone()
    return schema_version, last_import_id, imports


def data_summary(connection):
    """Return counts for the home page: stores, polls, first/last poll, stores without timezone or hours."""
    stores = count_stores(connection)
    polls, first_poll, last_poll = poll_summary(connection)
    without_timezone = connection.execute("SELECT count(*) FROM stores WHERE timezone IS NULL").fetchone()[0]
    without_hours = connection.execute(
        "SELECT count(*) FROM stores WHERE store_pk NOT IN (SELECT store_pk FROM business_hours)"
    ).fetchone()[0]
    return {
        "stores": stores,
        "polls": polls,
        "first_poll_us": first_poll,
        "last_poll_us": last_poll,
        "stores_without_timezone": without_timezone,
        "stores_without_hours": without_hours,
    }
