"""Runs reports in a thread pool and records their status in the reports table."""

import logging
import os
import socket
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lpkit import db, repository
from lpkit.parsing import format_instant
from lpkit.reports import INCIDENTS_HEADER, BatchSizes, ReportBuilder, ReportOptions, write_csv

log = logging.getLogger(__name__)

# The runner writes progress at most this often, so small batches do not flood the database.
PROGRESS_INTERVAL_S = 0.2
RESTART_ERROR = "The report was interrupted by a restart of lpkit; trigger it again."


def report_path(reports_dir, report_id, part="report"):
    """Return the CSV path of a report, or of its incidents with ``part="incidents"``."""
    suffix = "-incidents" if part == "incidents" else ""
    return Path(reports_dir) / f"report-{report_id}{suffix}.csv"


def _process_start(pid):
    """Return when a process started, as "ticks-since-boot@boot-id", or None when it is gone.

    A zombie (killed but not yet reaped) counts as gone. Recording the start
    time with the pid keeps a later, unrelated process that reuses the pid (in
    this boot or after a reboot) from passing for the report's owner.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None
    # The command name in parentheses may contain spaces, so split after its closing bracket.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start_ticks = fields[0], fields[19]
    if state in ("Z", "X"):
        return None
    return f"{start_ticks}@{boot_id[:8]}"


def process_owner(pid=None):
    """Return a process's identity as recorded with the reports it runs: "host:pid:start".

    Without /proc (not Linux) the identity is "host:pid", checked by pid alone.
    """
    pid = os.getpid() if pid is None else pid
    start = _process_start(pid)
    if start is None:
        return f"{socket.gethostname()}:{pid}"
    return f"{socket.gethostname()}:{pid}:{start}"


def owner_is_alive(owner):
    """Return whether the process named by an owner string still runs on this host."""
    host, _, rest = (owner or "").partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if start:
        return _process_start(int(pid)) == start
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_report_files(reports_dir, report_id):
    """Remove the CSV files, complete or partial, that a failed report left behind.

    A folder that cannot be read is logged and skipped, so the report is
    still marked failed.
    """
    for part in ("report", "incidents"):
        path = report_path(reports_dir, report_id, part)
        for leftover in (path.with_name(path.name + ".partial"), path):
            try:
                leftover.unlink(missing_ok=True)
            except OSError as error:
                log.warning("report %s: cannot remove %s: %s", report_id, leftover, error)


def failure_message(error, reports_dir):
    """Return the error recorded with a failed report: what failed, on which path, and what to do."""
    if isinstance(error, OSError):
        where = error.filename or reports_dir
        return (
            f"The report failed: cannot write {where}: {error.strerror or error}; "
            "free disk space or make the reports folder writable, then trigger the report again."
        )
    if isinstance(error, sqlite3.Error):
        return f"The report failed: the database failed ({error}); check the server log, then trigger the report again."
    return f"The report failed: {error}"


def record_report(connection, pivot_us, options, owner):
    """Record a new queued report with a random id; return the id."""
    report_id = str(uuid.uuid4())
    repository.insert_report(connection, report_id, pivot_us, options.to_mapping(), owner)
    return report_id


def run_report(connection, report_id, reports_dir, batch_sizes, progress=None):
    """Compute a recorded report, write its CSV and mark it complete; on failure mark it failed.

    The rows are read on a second connection inside one transaction, so they
    come from one consistent snapshot. Status and progress are written on
    ``connection`` outside that transaction, so progress is visible at once
    and the report holds no write lock that would stall triggers and imports.
    """
    record = repository.get_report(connection, report_id)
    options = ReportOptions.from_mapping(record.options)
    started = time.monotonic()
    snapshot = None
    try:
        snapshot = db.connect(db.database_path(connection))
        stores_total = repository.count_stores(connection)
        repository.mark_report_running(connection, report_id, stores_total)
        log.info("report %s started: pivot %s, %d stores", report_id, format_instant(record.pivot_us), stores_total)

        last_write = 0.0

        def record_progress(done, total):
            nonlocal last_write
            now = time.monotonic()
            if now - last_write >= PROGRESS_INTERVAL_S or done == total:
                repository.update_report_progress(connection, report_id, done)
                last_write = now
            if progress:
                progress(done, total)

        builder = ReportBuilder(snapshot, record.pivot_us, options, batch_sizes)
        rows = builder.rows(record_progress)
        Path(reports_dir).mkdir(parents=True, exist_ok=True)
        write_csv(report_path(reports_dir, report_id, "incidents"), INCIDENTS_HEADER, builder.incidents)
        write_csv(report_path(reports_dir, report_id), options.header, rows)
        repository.mark_report_complete(connection, report_id, len(rows))
        log.info("report %s complete: %d rows in %.2f s", report_id, len(rows), time.monotonic() - started)
        return rows
    except Exception as error:
        log.exception("report %s failed", report_id)
        _remove_report_files(reports_dir, report_id)
        repository.mark_report_failed(connection, report_id, failure_message(error, reports_dir))
        raise
    finally:
        if snapshot is not None:
            snapshot.close()


class ReportRunner:
    """Queues triggered reports on a fixed number of worker threads."""

    def __init__(self, database, reports_dir, workers=1, batch_sizes=BatchSizes()):
        self.database = database
        self.reports_dir = reports_dir
        self.batch_sizes = batch_sizes
        self._owner_pid = None
        self._owner = None
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lpkit-report")

    @property
    def owner(self):
        """Return the owner string of the current process.

        It is worked out again after a fork, because a server that creates
        the app before forking its workers (gunicorn --preload) would
        otherwise record the parent's pid with reports that a worker runs.
        """
        if self._owner_pid != os.getpid():
            self._owner = process_owner()
            self._owner_pid = os.getpid()
        return self._owner

    def trigger(self, connection, pivot_us, options):
        """Record a new report and queue it; return its id."""
        report_id = record_report(connection, pivot_us, options, self.owner)
        self.executor.submit(self._run, report_id)
        log.info("report %s queued: pivot %s, options %s", report_id, format_instant(pivot_us), options.to_mapping())
        return report_id

    def _run(self, report_id):
        try:
            connection = db.connect(self.database)
        except sqlite3.Error:
            # NOTE: the report stays queued until this process restarts, because its status cannot be written.
            log.exception("report %s cannot start: the database %s cannot be opened", report_id, self.database)
            return
        try:
            run_report(connection, report_id, self.reports_dir, self.batch_sizes)
        except Exception:
            pass  # run_report logged it and marked the report failed.
        finally:
            connection.close()

    def fail_interrupted(self, connection):
        """Mark as failed the queued or running reports whose process is gone."""
        for record in repository.unfinished_reports(connection):
            self.fail_if_orphaned(connection, record)

    def fail_if_orphaned(self, connection, record):
        """Mark an unfinished report failed when no live process runs it; return whether it was marked."""
        if record.status not in ("queued", "running"):
            return False
        if record.owner == self.owner or owner_is_alive(record.owner):
            return False
        repository.mark_report_failed(connection, record.report_id, RESTART_ERROR)
        _remove_report_files(self.reports_dir, record.report_id)
        log.warning("report %s was interrupted by a restart of its process %s; marked failed", record.report_id, record.owner)
        return True
