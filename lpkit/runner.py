"""Runs reports in a thread pool and records their status in the reports table."""

import logging
import os
import socket
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


def process_owner():
    """Return this process's identity as recorded with the reports it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_alive(owner):
    """Return whether the process named "host:pid" is still running on this host."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_report(connection, report_id, reports_dir, batch_sizes, progress=None):
    """Compute a recorded report, write its CSV and mark it complete; on failure mark it failed."""
    record = repository.get_report(connection, report_id)
    options = ReportOptions.from_mapping(record.options)
    started = time.monotonic()
    try:
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

        builder = ReportBuilder(connection, record.pivot_us, options, batch_sizes)
        rows = builder.rows(record_progress)
        Path(reports_dir).mkdir(parents=True, exist_ok=True)
        write_csv(report_path(reports_dir, report_id, "incidents"), INCIDENTS_HEADER, builder.incidents)
        write_csv(report_path(reports_dir, report_id), options.header, rows)
        repository.mark_report_complete(connection, report_id, len(rows))
        log.info("report %s complete: %d rows in %.2f s", report_id, len(rows), time.monotonic() - started)
        return rows
    except Exception as error:
        log.exception("report %s failed", report_id)
        repository.mark_report_failed(connection, report_id, f"The report failed: {error}")
        raise


class ReportRunner:
    """Queues triggered reports on a fixed number of worker threads."""

    def __init__(self, database, reports_dir, workers=1, batch_sizes=BatchSizes()):
        self.database = database
        self.reports_dir = reports_dir
        self.batch_sizes = batch_sizes
        self.owner = process_owner()
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lpkit-report")

    def trigger(self, connection, pivot_us, options):
        """Record a new report and queue it; return its id."""
        report_id = str(uuid.uuid4())
        repository.insert_report(connection, report_id, pivot_us, options.to_mapping(), self.owner)
        self.executor.submit(self._run, report_id)
        log.info("report %s queued: pivot %s, options %s", report_id, format_instant(pivot_us), options.to_mapping())
        return report_id

    def _run(self, report_id):
        connection = db.connect(self.database)
        try:
            run_report(connection, report_id, self.reports_dir, self.batch_sizes)
        except Exception:
            pass  # run_report logged it and marked the report failed.
        finally:
            connection.close()

    def fail_interrupted(self, connection):
        """Mark as failed the queued or running reports whose process is gone."""
        for record in repository.unfinished_reports(connection):
            if record.owner == self.owner or owner_is_alive(record.owner):
                continue
            repository.mark_report_failed(connection, record.report_id, RESTART_ERROR)
            for part in ("report", "incidents"):
                partial = report_path(self.reports_dir, record.report_id, part)
                partial.with_name(partial.name + ".partial").unlink(missing_ok=True)
            log.warning("report %s was interrupted by a restart; marked failed", record.report_id)
