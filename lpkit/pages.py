"""Browser pages: the home page with the trigger form, report pages and store pages.

The pages read the same records as the JSON API and render HTML on the server.
The small scripts in static/ only refresh a running report's progress and
dim unused form fields.
"""

import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime

import pytz
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from lpkit import api, db, repository
from lpkit.localtime import DEFAULT_TIMEZONE, ZoneClock
from lpkit.parsing import format_instant, parse_pivot_us, us_to_datetime
from lpkit.report_figures import ReportTable, load_report_data
from lpkit.reports import COLUMN_SETS, ReportOptions, default_pivot_us
from lpkit.runner import report_path
from lpkit.store_timeline import business_hour_lines, timeline_day, timeline_days, window_totals
from lpkit.uptime import HOUR_US, WINDOW_MODES, downtime_episodes, report_windows, store_spans
from lpkit.web_security import validate_csrf

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

PAGE_PATH_PREFIXES = ("/reports/", "/stores/", "/static/")
TIMEZONE_CHOICES = ["UTC"] + [name for name in pytz.common_timezones if name != "UTC"]
STATUS_LABELS = {"queued": "Queued", "running": "Running", "complete": "Complete", "failed": "Failed"}

# Errors ---------------------------------------------------------------------


def render_error(status, title, message):
    """Render the HTML error page with a status code."""
    return render_template("error.html", status=status, title=title, message=message), status


def is_page_path(path):
    """Return whether a URL path belongs to the browser pages, whose errors are HTML rather than JSON."""
    return path in ("/", "/reports") or path.startswith(PAGE_PATH_PREFIXES)


@bp.errorhandler(HTTPException)
def render_http_error(error):
    """Render an HTTP error of a page as the HTML error page."""
    body, status = render_error(error.code, error.name, error.description)
    headers = {}
    if error.code == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    return body, status, headers


@bp.errorhandler(sqlite3.OperationalError)
def _html_database_error(error):
    log.error("database error on %s: %s", request.path, error)
    if "no such table" in str(error):
        message = "The database has no lpkit tables yet. Create them with: flask --app lpkit init-db"
    else:
        message = f"The database failed: {error}. Try again, and check the server log if it persists."
    return render_error(503, "Database unavailable", message)


@bp.before_request
def _check_csrf():
    if request.method == "POST":
        validate_csrf()


# Formatting -----------------------------------------------------------------


def format_utc(instant_us):
    """Format an instant for people, to the second, e.g. 2023-01-25 18:13:00 UTC."""
    if instant_us is None:
        return ""
    return us_to_datetime(instant_us).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(microseconds):
    """Format a duration for people: 0.4 s, 12 s, 3 min 5 s or 2 h 10 min."""
    if microseconds is None:
        return ""
    seconds = microseconds / 1_000_000
    if seconds == 0:
        return "0 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if minutes else f"{rest} s"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min"


@dataclass
class ReportSummaryLine:
    """One report as the pages list it."""

    report_id: str
    status: str
    status_label: str
    pivot_us: int
    pivot: str
    pivot_iso: str
    window: str
    columns: str
    created: str
    started: str
    finished: str
    duration: str
    elapsed_us: int
    rows: int | None
    stores_done: int
    stores_total: int
    error: str | None


def report_line(record, now_us=None):
    """Describe a report record with the texts the pages show."""
    options = ReportOptions.from_mapping(record.options)
    now_us = repository.now_us() if now_us is None else now_us
    elapsed_from = record.started_at_us or record.created_at_us
    elapsed_until = record.finished_at_us or now_us
    elapsed_us = max(elapsed_until - elapsed_from, 0)
    finished = record.finished_at_us is not None
    return ReportSummaryLine(
        report_id=record.report_id,
        status=record.status,
        status_label=STATUS_LABELS.get(record.status, record.status),
        pivot_us=record.pivot_us,
        pivot=format_utc(record.pivot_us),
        pivot_iso=format_instant(record.pivot_us),
        window=options.window,
        columns=options.columns,
        created=format_utc(record.created_at_us),
        started=format_utc(record.started_at_us),
        finished=format_utc(record.finished_at_us),
        duration=format_duration(elapsed_us) if finished or record.started_at_us else "",
        elapsed_us=elapsed_us,
        rows=record.row_count,
        stores_done=record.stores_done,
        stores_total=record.stores_total,
        error=record.error,
    )


# Home and the trigger form --------------------------------------------------


@dataclass
class TriggerForm:
    """The values of the trigger form, as posted or as first shown."""

    pivot_mode: str = "latest"
    pivot_local: str = ""
    pivot_zone: str = "UTC"
    pivot: str = ""
    window: str = "calendar"
    columns: str = "standard"

    @classmethod
    def from_form(cls, form):
        return cls(
            pivot_mode=(form.get("pivot_mode") or "latest").strip().lower(),
            pivot_local=(form.get("pivot_local") or "").strip(),
            pivot_zone=(form.get("pivot_zone") or "UTC").strip(),
            pivot=(form.get("pivot") or "").strip(),
            window=(form.get("window") or "calendar").strip().lower(),
            columns=(form.get("columns") or "standard").strip().lower(),
        )

    def pivot_text(self):
        """Return the pivot to pass to api.trigger: None for the newest poll, or text it parses."""
        if self.pivot_mode == "latest":
            return None
        if self.pivot_mode == "now":
            return "now"
        if self.pivot_mode == "local":
            return local_pivot_text(self.pivot_local, self.pivot_zone)
        if self.pivot_mode == "instant":
            if not self.pivot:
                raise ValueError("the pivot is empty; enter an instant such as 2023-01-25T18:13:00Z")
            return self.pivot
        raise ValueError(f'pivot choice "{self.pivot_mode}" is unknown; choose latest poll, now, or a date and time')

    def option_values(self):
        return {"window": self.window, "columns": self.columns}


def local_pivot_text(local_text, zone_name):
    """Convert a local date-time in a named zone to an ISO 8601 UTC instant.

    A local time inside a daylight-saving gap is read as the time after the
    gap, and a local time that occurs twice as its first occurrence, as the
    report reads local times.
    """
    if not local_text:
        raise ValueError('the date and time are empty; enter them, or choose "latest poll" or "now"')
    if zone_name not in pytz.all_timezones_set:
        raise ValueError(f'time zone "{zone_name}" is unknown; choose one from the list, such as UTC')
    try:
        local = datetime.fromisoformat(local_text)
    except ValueError:
        raise ValueError(f'"{local_text}" is not a valid date and time; use the form 2023-01-25T18:13') from None
    if local.tzinfo is not None:
        raise ValueError(f'"{local_text}" has a UTC offset; enter the local time without one and pick its time zone')
    return format_instant(ZoneClock(zone_name).resolve(local))


# The data summary of each database, with the data version it was read at.
# Counting the polls scans the whole table, so the count is kept until an
# import or a reset changes the data.
_summary_cache = {}
_summary_lock = threading.Lock()


def cached_data_summary(connection):
    """Return the home page's data summary, read again only when the data has changed."""
    database = current_app.config["DATABASE"]
    version = repository.data_version(connection)
    with _summary_lock:
        cached = _summary_cache.get(database)
    if cached is not None and cached[0] == version:
        return cached[1]

    summary = repository.data_summary(connection)
    with _summary_lock:
        _summary_cache[database] = (version, summary)
    return summary


def render_home(form=None, error=None, status=200):
    """Render the home page: what is loaded, the trigger form and the recent reports."""
    connection = db.get_db()
    summary = cached_data_summary(connection)
    last_import = repository.last_import(connection)
    now_us = repository.now_us()
    reports = [report_line(record, now_us) for record in repository.recent_reports(connection)]
    return (
        render_template(
            "home.html",
            summary=summary,
            first_poll=format_utc(summary["first_poll_us"]),
            last_poll=format_utc(summary["last_poll_us"]),
            last_import=last_import,
            last_import_time=format_utc(last_import[0]) if last_import else "",
            reports=reports,
            form=form or TriggerForm(),
            error=error,
            zones=TIMEZONE_CHOICES,
            window_modes=WINDOW_MODES,
            column_sets=COLUMN_SETS,
            default_timezone=DEFAULT_TIMEZONE,
        ),
        status,
    )


@bp.get("/")
def home():
    """Show what is loaded, the trigger form and the recent reports."""
    return render_home()


@bp.get("/reports")
def reports():
    """Send visitors of /reports to the list of recent reports on the home page."""
    return redirect(url_for("pages.home", _anchor="recent-reports"))


@bp.post("/reports")
def create_report():
    """Trigger a report from the page form and show its page; errors show the form again."""
    form = TriggerForm.from_form(request.form)
    try:
        report_id, _pivot_us = api.trigger(db.get_db(), form.pivot_text(), form.option_values())
    except ValueError as error:
        return render_home(form, _sentence(str(error)), 400)
    except api.ApiError as error:
        return render_home(form, _sentence(error.message), error.status)
    return redirect(url_for("pages.report", report_id=report_id), code=303)


def _sentence(message):
    """Capitalise a message that starts in lower case, as the API's errors do, for a page."""
    return message[:1].upper() + message[1:] if message else message


# Report pages ---------------------------------------------------------------


@bp.get("/reports/<report_id>")
def report(report_id):
    """Show a report: its progress while running, its error when failed, its rows when complete."""
    record = None
    if len(report_id) <= api.MAX_REPORT_ID_CHARS:
        record = repository.get_report(db.get_db(), report_id)
    if record is None:
        return render_error(
            404,
            "Report not found",
            f'No report has the id "{report_id}". Reports are listed on the home page, where you can also trigger a new one.',
        )

    runner = current_app.extensions["lpkit.runner"]
    if runner.fail_if_orphaned(db.get_db(), record):
        record = repository.get_report(db.get_db(), report_id)

    line = report_line(record)
    if record.status in ("queued", "running"):
        return render_template("report_running.html", report=line)
    if record.status == "failed":
        return render_template("report_failed.html", report=line)
    return render_complete_report(line)


def render_complete_report(line):
    """Render a complete report: download, summary figures, histogram and the table of rows."""
    path = report_path(current_app.config["REPORTS_DIR"], line.report_id)
    if not path.exists():
        return render_error(
            410,
            "Report file missing",
            f'The CSV of report "{line.report_id}" is no longer in the reports folder. Trigger the report again.',
        )
    stat = path.stat()
    data = load_report_data(str(path), stat.st_mtime_ns, stat.st_size)

    table = ReportTable.from_args(data, request.args)
    return render_template(
        "report_complete.html",
        report=line,
        figures=data.figures,
        histogram=data.histogram,
        table=table,
        download_url=url_for("api.get_report", report_id=line.report_id, format="csv"),
        incidents_url=url_for("api.get_report", report_id=line.report_id, part="incidents", format="csv"),
    )


# Store pages ----------------------------------------------------------------


@bp.get("/stores/<path:store_id>")
def store(store_id):
    """Show a store's zone, business hours, numbers as of a pivot, and a timeline of its polls."""
    connection = db.get_db()
    found = repository.find_store(connection, store_id)
    if found is None:
        return render_error(404, "Store not found", f'No store has the id "{store_id}". Store ids are case-sensitive text.')

    pivot_text = request.args.get("pivot", "").strip()
    mode = request.args.get("window", "calendar").strip().lower() or "calendar"
    try:
        pivot_us = parse_pivot_us(pivot_text) if pivot_text else default_pivot_us(connection)
    except ValueError as error:
        return render_error(400, "Invalid pivot", _sentence(str(error)) + ".")
    if mode not in WINDOW_MODES:
        return render_error(400, "Invalid window", f'Window "{mode}" is unknown; use calendar or rolling.')

    timezone_name, matched_timezone, onboarded_at_us = repository.store_timezone_names(connection, [found.store_pk])[found.store_pk]
    hours = repository.business_hours_for(connection, [found.store_pk]).get(found.store_pk, ())
    clock = ZoneClock(found.timezone)
    windows = report_windows(clock, pivot_us, mode)
    days = timeline_days(clock, windows, pivot_us)
    polls = repository.store_polls(connection, found.store_pk, days[0][1] - HOUR_US, days[-1][2])
    spans = store_spans(clock, hours, polls, pivot_us, windows, onboarded_at_us)

    return render_template(
        "store.html",
        store=found,
        timezone_name=timezone_name,
        timezone_matched=matched_timezone is not None,
        default_timezone=DEFAULT_TIMEZONE,
        onboarded=_format_local(clock, onboarded_at_us) if onboarded_at_us is not None else "",
        onboarded_utc=format_utc(onboarded_at_us),
        hours=business_hour_lines(hours),
        pivot=format_utc(pivot_us),
        pivot_iso=format_instant(pivot_us),
        pivot_local=_format_local(clock, pivot_us),
        pivot_given=pivot_text,
        mode=mode,
        window_modes=WINDOW_MODES,
        totals=window_totals(clock, hours, windows, spans, onboarded_at_us),
        episodes=[(_format_local(clock, start), _format_local(clock, end), format_duration(end - start)) for start, end in downtime_episodes(spans[2])],
        timeline=[timeline_day(clock, hours, polls, spans, windows, pivot_us, onboarded_at_us, day) for day in days],
        poll_count=len(polls),
    )


def _format_local(clock, instant_us):
    return clock.local_time(int(instant_us)).strftime("%a %d %b %Y %H:%M:%S")


