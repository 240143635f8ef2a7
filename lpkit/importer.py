"""Import of the store-status, business-hours and timezone exports.

Each file's kind comes from its header. A row that cannot be read exactly is
rejected with its file, line number and reason, and every rejected row is
written to a CSV beside the database. Only accepted rows name a store or
change its data.
"""

import codecs
import csv
import io
import logging
import os
import time
import uuid
from array import array
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lpkit import parsing, repository
from lpkit.localtime import DEFAULT_TIMEZONE
from lpkit.uptime import BusinessHours

log = logging.getLogger(__name__)

POLLS = "store status"
HOURS = "business hours"
TIMEZONES = "timezones"

# Header names (lower case) of each kind, mapped to the field they fill.
_COLUMNS = {
    POLLS: {"store_id": "store_id", "status": "status", "timestamp_utc": "timestamp"},
    HOURS: {
        "store_id": "store_id",
        "dayofweek": "day",
        "day": "day",
        "day_of_week": "day",
        "start_time_local": "start",
        "end_time_local": "end",
    },
    TIMEZONES: {"store_id": "store_id", "timezone_str": "timezone", "onboarded_at": "onboarded_at"},
}
_REQUIRED = {
    POLLS: {"store_id", "status", "timestamp"},
    HOURS: {"store_id", "day", "start", "end"},
    TIMEZONES: {"store_id", "timezone"},
}
_EXPECTED_HEADERS = (
    "store_id,status,timestamp_utc (store status); "
    "store_id,dayOfWeek,start_time_local,end_time_local (business hours); "
    "store_id,timezone_str[,onboarded_at] (timezones)"
)

POLL_CHUNK_ROWS = 50_000
MAX_FIELD_CHARS = 131_072
REASONS_SHOWN = 10


class ImportFailed(Exception):
    """A file that cannot be imported at all, such as one with an unknown header."""


class StrictImportAborted(Exception):
    """A rejected row in --strict mode; the import was rolled back."""

    def __init__(self, rejection):
        super().__init__(f"{rejection.path}, line {rejection.line_number}: {rejection.reason}")
        self.rejection = rejection


@dataclass
class Rejection:
    """A row that was not imported, with the reason."""

    path: str
    line_number: int
    reason: str
    fields: list


@dataclass
class FileSummary:
    """The outcome of one file's import: row counts, the first reasons and warnings."""

    path: str
    kind: str
    rows_read: int = 0
    rows_inserted: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    first_reasons: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


class RejectLog:
    """Collects rejections: counts them per file and writes each to a CSV, opened on first use."""

    def __init__(self, directory, strict):
        self.directory = Path(directory)
        self.strict = strict
        self.path = None
        self._file = None
        self._writer = None

    def add(self, summary, rejection):
        if self.strict:
            raise StrictImportAborted(rejection)
        summary.rows_rejected += 1
        if len(summary.first_reasons) < REASONS_SHOWN:
            summary.first_reasons.append(f"line {rejection.line_number}: {rejection.reason}")
        if self._writer is None:
            self._open()
        self._writer.writerow([rejection.path, rejection.line_number, rejection.reason, _join_fields(rejection.fields)])

    def _open(self):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"rejected-rows-{stamp}-{os.getpid()}.csv"
        self._file = open(self.path, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(["file", "line", "reason", "row"])

    def close(self):
        if self._file is not None:
            self._file.close()


def _join_fields(fields):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue().encode("utf-8", "replace").decode("utf-8")


@dataclass
class ImportResult:
    """The summaries of the imported files, the rejects CSV (or None) and the files skipped in folders."""

    summaries: list
    rejects_path: Path | None
    skipped: list


def expand_paths(paths):
    """Return (file, named) pairs for paths, where a folder stands for its *.csv files.

    ``named`` is False for files found in a folder: those whose header matches
    no export (such as a previous report) are skipped instead of failing.
    """
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.csv"))
            if not found:
                raise ImportFailed(f"folder {path} contains no .csv files; name the export files or their folder")
            files.extend((file, False) for file in found)
        elif path.is_file():
            files.append((path, True))
        else:
            raise ImportFailed(f"{path} does not exist; check the path")
    return files


@dataclass
class _CsvFile:
    path: str
    kind: str
    column_index: dict
    reader: object
    raw: object
    size: int
    has_onboarded: bool
    # _DecodeErrorCounter.count before the file was opened: reading the header decodes a first block.
    decode_errors_at_open: int


def _open_csv(path):
    raw = open(path, "rb")
    try:
        size = os.fstat(raw.fileno()).st_size
        decode_errors_at_open = _DecodeErrorCounter.count
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors=_DecodeErrorCounter.name, newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFailed(f"{path} is empty; export the file again with its header row") from None
        except csv.Error as error:
            raise ImportFailed(f"{path}: the header row cannot be read ({error})") from None
        kind, column_index = _detect_kind(path, header)
    except BaseException:
        raw.close()
        raise
    return _CsvFile(str(path), kind, column_index, reader, raw, size, "onboarded_at" in column_index, decode_errors_at_open)


def _detect_kind(path, header):
    names = [name.strip().lower() for name in header]
    for kind, columns in _COLUMNS.items():
        index = {}
        for position, name in enumerate(names):
            if name in columns:
                index[columns[name]] = position
        if set(index) >= _REQUIRED[kind] and len(index) == len(set(names) & set(columns)):
            return kind, index
    header_text = ",".join(header)[:200]
    raise ImportFailed(f'{path}: header "{header_text}" matches no export; expected {_EXPECTED_HEADERS}')


class _DecodeErrorCounter:
    """A codec error handler that keeps invalid bytes as lone surrogates and counts them.

    Rows decoded before the first invalid byte of a file need no check, which
    saves a per-row scan on the usual, clean file.
    """

    name = "lpkit-count-surrogateescape"
    count = 0

    @classmethod
    def handle(cls, error):
        cls.count += 1
        return codecs.lookup_error("surrogateescape")(error)


codecs.register_error(_DecodeErrorCounter.name, _DecodeErrorCounter.handle)


def _is_valid_utf8(fields):
    """Return False when a field contains bytes that were not UTF-8 (decoded as lone surrogates)."""
    try:
        "".join(fields).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _records(csv_file, summary, rejects):
    """Yield (line_number, fields) of each data row; rows the CSV reader cannot parse are rejected."""
    reader = csv_file.reader
    width = max(csv_file.column_index.values()) + 1
    decode_errors_before = csv_file.decode_errors_at_open
    while True:
        line_number = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            summary.rows_read += 1
            rejects.add(summary, Rejection(csv_file.path, line_number, f"the row cannot be parsed as CSV ({error})", []))
            continue
        if not fields or fields == [""]:
            continue

        summary.rows_read += 1
        if _DecodeErrorCounter.count != decode_errors_before and not _is_valid_utf8(fields):
            reason = "the row is not valid UTF-8; save the file as UTF-8 and import it again"
            rejects.add(summary, Rejection(csv_file.path, line_number, reason, fields))
            continue
        if len(fields) < width:
            reason = f"the row has {len(fields)} fields, but the header needs at least {width}"
            rejects.add(summary, Rejection(csv_file.path, line_number, reason, fields))
            continue
        yield line_number, fields


def import_paths(connection, paths, *, rejects_dir, strict=False, progress=None):
    """Import export files (or folders of them) and return an ImportResult.

    Each file is applied in one transaction, so an interrupted import leaves
    every file either fully applied or not at all. With ``strict`` all files
    share one transaction that is rolled back at the first rejected row.
    """
    files = []
    skipped = []
    for path, named in expand_paths(paths):
        try:
            _open_csv(path).raw.close()
        except ImportFailed as error:
            if named:
                raise
            skipped.append(f"skipped {error}")
            continue
        files.append(path)
    csv.field_size_limit(MAX_FIELD_CHARS)
    rejects = RejectLog(rejects_dir, strict)
    run_id = str(uuid.uuid4())
    summaries = []
    try:
        if strict:
            with _transaction(connection):
                for path in files:
                    summaries.append(_import_file(connection, path, run_id, rejects, progress))
        else:
            for path in files:
                with _transaction(connection):
                    summaries.append(_import_file(connection, path, run_id, rejects, progress))
    finally:
        rejects.close()
    return ImportResult(summaries, rejects.path, skipped)


@contextmanager
def _transaction(connection):
    """Run a block in a write transaction that is rolled back on any exception, Ctrl-C included."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _import_file(connection, path, run_id, rejects, progress):
    started_at_us = repository.now_us()
    csv_file = _open_csv(path)
    summary = FileSummary(str(path), csv_file.kind)
    log.info("importing %s as %s", path, csv_file.kind)

    def report_progress():
        if progress is not None:
            progress(str(path), csv_file.raw.tell(), csv_file.size)

    try:
        if csv_file.kind == POLLS:
            _import_polls(connection, csv_file, summary, rejects, report_progress)
        elif csv_file.kind == HOURS:
            _import_hours(connection, csv_file, summary, rejects, report_progress)
        else:
            _import_timezones(connection, csv_file, summary, rejects, report_progress)
    finally:
        csv_file.raw.close()

    repository.record_import(connection, summary, run_id, started_at_us, str(rejects.path) if rejects.path else None)
    log.info(
        "imported %s: %d read, %d inserted, %d duplicate, %d rejected",
        path,
        summary.rows_read,
        summary.rows_inserted,
        summary.rows_duplicate,
        summary.rows_rejected,
    )
    return summary


def _import_polls(connection, csv_file, summary, rejects, report_progress):
    column = csv_file.column_index
    id_column, status_column, time_column = column["store_id"], column["status"], column["timestamp"]
    # Parsed store ids and statuses by their raw text, which repeats on
    # nearly every row. A store gets an index only with an accepted row.
    id_of_raw = {}
    status_of_raw = {}
    store_index = {}
    lines, stores, instants, actives = array("q"), array("q"), array("q"), array("b")

    for line_number, fields in _records(csv_file, summary, rejects):
        raw_id, raw_status = fields[id_column], fields[status_column]
        try:
            store_id = id_of_raw.get(raw_id)
            if store_id is None:
                store_id = id_of_raw[raw_id] = parsing.parse_store_id(raw_id)
            active = status_of_raw.get(raw_status)
            if active is None:
                active = status_of_raw[raw_status] = parsing.parse_status(raw_status)
            instant_us = parsing.parse_timestamp_us(fields[time_column])
        except ValueError as error:
            rejects.add(summary, Rejection(csv_file.path, line_number, str(error), fields))
            continue
        index = store_index.setdefault(store_id, len(store_index))
        lines.append(line_number)
        stores.append(index)
        instants.append(instant_us)
        actives.append(active)
        if len(lines) % POLL_CHUNK_ROWS == 0:
            report_progress()
    report_progress()

    store_ids = list(store_index)
    store_pks = repository.ensure_stores(connection, store_ids)
    pk_of_index = np.array([store_pks[store_id] for store_id in store_ids], dtype=np.int64)
    new_polls = PollRows(
        np.frombuffer(lines, dtype=np.int64),
        pk_of_index[np.frombuffer(stores, dtype=np.int64)] if len(stores) else np.zeros(0, dtype=np.int64),
        np.frombuffer(instants, dtype=np.int64),
        np.frombuffer(actives, dtype=np.int8).astype(np.int64),
    )
    if len(new_polls.lines):
        stored = repository.fetch_polls(connection, store_pks.values(), int(new_polls.instants.min()), int(new_polls.instants.max()))
    else:
        stored = (np.zeros(0, dtype=np.int64),) * 3
    inserted, duplicates, conflicts = _merge_polls(new_polls, PollRows(np.zeros(len(stored[0]), dtype=np.int64), *stored))

    repository.insert_polls(connection, inserted.store_pks, inserted.instants, inserted.actives)
    summary.rows_inserted = len(inserted.lines)
    summary.rows_duplicate = duplicates

    ids_by_pk = {pk: store_id for store_id, pk in store_pks.items()}
    for line_number, store_pk, instant_us, staged_active, kept_active in conflicts:
        status = "active" if staged_active else "inactive"
        reason = (
            f'status "{status}" conflicts with the poll imported first for this store at this instant '
            f'({"active" if kept_active else "inactive"}); the first one is kept'
        )
        fields = [ids_by_pk[store_pk], status, parsing.format_instant(instant_us)]
        rejects.add(summary, Rejection(csv_file.path, line_number, reason, fields))


@dataclass
class PollRows:
    """Polls as parallel arrays; ``lines`` is 0 for polls already stored."""

    lines: np.ndarray
    store_pks: np.ndarray
    instants: np.ndarray
    actives: np.ndarray

    def take(self, index):
        return PollRows(self.lines[index], self.store_pks[index], self.instants[index], self.actives[index])


def _merge_polls(new, stored):
    """Split new polls into those to insert, duplicates and conflicts.

    For each (store, instant) the stored poll wins, else the first line of the
    file. A later row with the same status is a duplicate, and one with
    another status is a conflict. Returns the PollRows to insert, in key
    order, the duplicate count, and the conflicts as (line, store_pk,
    instant, status, kept status) sorted by line.
    """
    both = PollRows(*(np.concatenate(pair) for pair in zip(vars(stored).values(), vars(new).values())))
    is_new = np.concatenate((np.zeros(len(stored.lines), dtype=bool), np.ones(len(new.lines), dtype=bool)))
    order = np.lexsort((both.lines, is_new, both.instants, both.store_pks))
    both, is_new = both.take(order), is_new[order]

    starts_group = np.ones(len(order), dtype=bool)
    starts_group[1:] = (both.store_pks[1:] != both.store_pks[:-1]) | (both.instants[1:] != both.instants[:-1])
    winner = np.maximum.accumulate(np.where(starts_group, np.arange(len(order)), 0))
    disagrees = both.actives != both.actives[winner]

    inserted = both.take(is_new & starts_group)
    duplicates = int(np.count_nonzero(is_new & ~starts_group & ~disagrees))
    conflicting = np.flatnonzero(is_new & ~starts_group & disagrees)
    conflicting = conflicting[np.argsort(both.lines[conflicting], kind="stable")]
    conflicts = zip(
        both.lines[conflicting].tolist(),
        both.store_pks[conflicting].tolist(),
        both.instants[conflicting].tolist(),
        both.actives[conflicting].tolist(),
        both.actives[winner[conflicting]].tolist(),
    )
    return inserted, duplicates, list(conflicts)


def _import_hours(connection, csv_file, summary, rejects, report_progress):
    column = csv_file.column_index
    hours_by_store = {}
    for line_number, fields in _records(csv_file, summary, rejects):
        try:
            store_id = parsing.parse_store_id(fields[column["store_id"]])
            day = parsing.parse_day_of_week(fields[column["day"]])
            start = parsing.parse_local_time_us(fields[column["start"]], column="start_time_local")
            end = parsing.parse_local_time_us(fields[column["end"]], column="end_time_local")
        except ValueError as error:
            rejects.add(summary, Rejection(csv_file.path, line_number, str(error), fields))
            continue
        rows = hours_by_store.setdefault(store_id, set())
        row = BusinessHours(day, start, end)
        if row in rows:
            summary.rows_duplicate += 1
        rows.add(row)
    report_progress()

    store_pks = repository.ensure_stores(connection, hours_by_store)
    existing = repository.business_hours_for(connection, store_pks.values())
    for store_id, rows in hours_by_store.items():
        store_pk = store_pks[store_id]
        new_rows = tuple(sorted(rows, key=lambda row: (row.day_of_week, row.start_time_us, row.end_time_us)))
        if existing.get(store_pk, ()) == new_rows:
            summary.rows_duplicate += len(new_rows)
            continue
        repository.replace_business_hours(connection, store_pk, new_rows)
        summary.rows_inserted += len(new_rows)


def _import_timezones(connection, csv_file, summary, rejects, report_progress):
    column = csv_file.column_index
    values_by_store = {}
    unknown_names = {}
    for line_number, fields in _records(csv_file, summary, rejects):
        try:
            store_id = parsing.parse_store_id(fields[column["store_id"]])
            name = fields[column["timezone"]].strip() or None
            onboarded_at_us = None
            if csv_file.has_onboarded and fields[column["onboarded_at"]].strip():
                onboarded_at_us = parsing.parse_timestamp_us(fields[column["onboarded_at"]])
        except ValueError as error:
            rejects.add(summary, Rejection(csv_file.path, line_number, str(error), fields))
            continue

        zone = parsing.canonical_timezone(name) if name else None
        values = (name, zone, onboarded_at_us)
        previous = values_by_store.get(store_id)
        if previous is not None:
            if previous[0] == values:
                summary.rows_duplicate += 1
            else:
                reason = f"store {store_id} already has a timezone row on line {previous[1]} of this file; keep one row per store"
                rejects.add(summary, Rejection(csv_file.path, line_number, reason, fields))
            continue
        values_by_store[store_id] = (values, line_number)
        if name and zone is None:
            unknown_names.setdefault(name, []).append(store_id)
    report_progress()

    store_pks = repository.ensure_stores(connection, values_by_store)
    existing = repository.store_timezone_names(connection, store_pks.values())
    updates = []
    for store_id, (values, _line) in values_by_store.items():
        store_pk = store_pks[store_id]
        current = existing[store_pk]
        unchanged = current[:2] == values[:2] and (not csv_file.has_onboarded or current[2] == values[2])
        if unchanged:
            summary.rows_duplicate += 1
        else:
            updates.append((*values, store_pk))
            summary.rows_inserted += 1
    repository.update_store_timezones(connection, updates, set_onboarded=csv_file.has_onboarded)

    for name, store_ids in sorted(unknown_names.items()):
        named_stores = ", ".join(store_ids[:3])
        if len(store_ids) > 3:
            named_stores += f" and {len(store_ids) - 3} more"
        summary.warnings.append(
            f'timezone "{name}" is not an IANA zone name; stores {named_stores} use {DEFAULT_TIMEZONE}'
        )
