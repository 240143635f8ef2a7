"""The HTTP API: trigger a report and fetch its status or CSV."""

import csv
import json
import logging
import sqlite3

from flask import Blueprint, Response, current_app, jsonify, request, send_file, url_for
from werkzeug.exceptions import HTTPException

from lpkit import db, repository
from lpkit.parsing import format_instant, parse_pivot_us, truncated
from lpkit.reports import ReportOptions, default_pivot_us
from lpkit.runner import report_path

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__)

MAX_REPORT_ID_CHARS = 100


class ApiError(Exception):
    """An error returned as JSON {"error": message} with an HTTP status."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


@bp.errorhandler(ApiError)
def _api_error(error):
    return jsonify(error=error.message), error.status


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def json_body():
    """Return the request's JSON object, {} without a JSON body; reject a body that is not an object."""
    if not request.is_json or not request.get_data(cache=True):
        return {}
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, 'the request body is not valid JSON; send an object such as {"pivot": "2023-01-25T18:13:00Z"}')
    if not isinstance(body, dict):
        raise ApiError(
            400, f'the JSON body is {_JSON_TYPES[type(body)]}, not an object; send an object such as {{"pivot": "now"}}'
        )
    return body


def request_value(name):
    """Return a request parameter from the JSON body, the form or the query string; None when absent."""
    value = json_body().get(name)
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ApiError(400, f"{name} is {_JSON_TYPES[type(value)]} in the JSON body; send it as a string or an integer")
        return str(value)
    for source in (request.form, request.args):
        if name in source:
            return source[name]
    return None


def trigger(connection, pivot_text, option_values):
    """Validate a trigger request and queue the report; return (report_id, pivot_us)."""
    try:
        options = ReportOptions.from_mapping(option_values)
    except ValueError as error:
        raise ApiError(400, str(error)) from None
    if pivot_text is None or str(pivot_text).strip().lower() == "latest":
        pivot_us = default_pivot_us(connection)
    else:
        try:
            pivot_us = parse_pivot_us(pivot_text)
        except ValueError as error:
            raise ApiError(400, str(error)) from None

    runner = current_app.extensions["lpkit.runner"]
    return runner.trigger(connection, pivot_us, options), pivot_us


TRIGGER_PARAMETERS = ("pivot", "window", "columns")


def reject_unknown_parameters():
    """Raise a 400 for a trigger parameter lpkit does not know, so a misspelled option is not ignored."""
    names = set(json_body()) | set(request.form) | set(request.args)
    unknown = sorted(names - set(TRIGGER_PARAMETERS))
    if unknown:
        raise ApiError(400, f'parameter "{truncated(unknown[0])}" is unknown; /trigger_report takes {", ".join(TRIGGER_PARAMETERS)}')


@bp.route("/trigger_report", methods=["POST"])
def trigger_report():
    """Queue a report; 202 with its id, status and pivot."""
    connection = db.get_db()
    reject_unknown_parameters()
    option_values = {name: request_value(name) for name in ("window", "columns")}
    report_id, pivot_us = trigger(connection, request_value("pivot"), option_values)
    return (
        jsonify(report_id=report_id, status="Running", pivot=format_instant(pivot_us)),
        202,
        {"Location": url_for("api.get_report", report_id=report_id)},
    )


def load_report(report_id):
    """Return the report record for an id from the request, or raise the API error for it."""
    if report_id is None or not report_id.strip():
        raise ApiError(400, "report_id is missing; pass the id that POST /trigger_report returned, as ?report_id=ID")
    report_id = report_id.strip()
    if len(report_id) > MAX_REPORT_ID_CHARS:
        raise ApiError(404, f"report_id is {len(report_id)} characters long; no report has such an id")
    connection = db.get_db()
    record = repository.get_report(connection, report_id)
    if record is None:
        raise ApiError(404, f'report "{report_id}" was not found; trigger one with POST /trigger_report')
    if current_app.extensions["lpkit.runner"].fail_if_orphaned(connection, record):
        record = repository.get_report(connection, report_id)
    return record


def prefers_json():
    """Return whether the client ranks application/json above text/csv."""
    accept = request.accept_mimetypes
    return accept.quality("application/json") > accept.quality("text/csv")


def status_payload(record):
    """Return the JSON status of a report that is not complete."""
    if record.status == "failed":
        return {"status": "Failed", "error": record.error, "report_id": record.report_id}
    return {
        "status": "Running",
        "state": record.status,
        "stores_done": record.stores_done,
        "stores_total": record.stores_total,
        "report_id": record.report_id,
        "pivot": format_instant(record.pivot_us),
    }


@bp.route("/get_report", methods=["GET"])
def get_report():
    """Return a report: its JSON status while running or failed, its CSV (or JSON) when complete.

    ``part=incidents`` selects the downtime episodes instead of the store rows,
    and ``format=csv`` or ``format=json`` overrides the Accept header.
    """
    record = load_report(request.args.get("report_id"))
    if record.status != "complete":
        return jsonify(status_payload(record))

    part = (request.args.get("part") or "rows").strip().lower()
    if part not in ("rows", "incidents"):
        raise ApiError(400, f'part "{truncated(part)}" is unknown; use rows (the default) or incidents')
    response_format = (request.args.get("format") or "").strip().lower()
    if response_format not in ("", "csv", "json"):
        raise ApiError(400, f'format "{truncated(response_format)}" is unknown; use csv or json')

    path = report_path(current_app.config["REPORTS_DIR"], record.report_id, "incidents" if part == "incidents" else "report")
    if not path.exists():
        raise ApiError(410, f'the CSV of report "{record.report_id}" is missing from the reports folder; trigger the report again')

    if response_format == "json":
        return _rows_as_json(record, path)
    if response_format == "" and prefers_json():
        return jsonify(
            status="Complete",
            report_id=record.report_id,
            rows=record.row_count,
            pivot=format_instant(record.pivot_us),
            options=record.options,
            download_url=url_for("api.get_report", report_id=record.report_id, format="csv", _external=True),
            incidents_url=url_for(
                "api.get_report", report_id=record.report_id, part="incidents", format="csv", _external=True
            ),
        )

    response = send_file(path, mimetype="text/csv", as_attachment=True, download_name=path.name)
    response.headers["X-Report-Status"] = "Complete"
    return response


def _rows_as_json(record, path):
    """Return a complete report's CSV rows as JSON objects keyed by column name."""
    with open(path, encoding="utf-8", newline="") as report_file:
        rows = list(csv.DictReader(report_file))
    payload = {
        "status": "Complete",
        "report_id": record.report_id,
        "pivot": format_instant(record.pivot_us),
        "options": record.options,
        "rows": rows,
    }
    return Response(json.dumps(payload), mimetype="application/json", headers={"X-Report-Status": "Complete"})


@bp.app_errorhandler(HTTPException)
def _http_error(error):
    """Return HTTP errors as JSON that names the problem and the fix, or as HTML on browser page paths."""
    from lpkit import pages  # Imported here because pages imports this module.

    if pages.is_page_path(request.path):
        return pages.render_http_error(error)
    if error.code == 405 and request.path == "/trigger_report":
        message = f"GET is not allowed on /trigger_report; use POST, e.g. curl -X POST {request.host_url}trigger_report"
    elif error.code == 405:
        allowed = ", ".join(sorted(error.valid_methods or []))
        message = f"{request.method} is not allowed on {request.path}; use {allowed}"
    elif error.code == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        message = f"the request body is larger than {limit} bytes; send only the report options, such as {{\"pivot\": \"now\"}}"
    elif error.code == 404:
        message = f"{request.path} was not found; the API has POST /trigger_report and GET /get_report?report_id=ID"
    else:
        message = error.description
    response = jsonify(error=message)
    response.status_code = error.code
    if error.code == 405 and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


@bp.app_errorhandler(sqlite3.OperationalError)
def _database_error(error):
    log.error("database error on %s: %s", request.path, error)
    text = str(error)
    if "no such table" in text:
        message = "the database has no lpkit tables yet; run: flask --app lpkit init-db"
    elif any(problem in text for problem in ("disk is full", "readonly", "unable to open")):
        database = current_app.config["DATABASE"]
        message = f"the database {database} cannot be written ({text}); free disk space or make its folder writable"
    else:
        message = f"the database failed: {error}; try again, and check the server log if it persists"
    return jsonify(error=message), 503
