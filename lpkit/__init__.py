"""lpkit: store-uptime reports from poll, business-hours and timezone exports."""

import logging
import os
import secrets
import sqlite3
from pathlib import Path

from flask import Flask

from lpkit import db
from lpkit.reports import BatchSizes
from lpkit.runner import ReportRunner

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_REQUEST_BYTES = 1024 * 1024


def _int_setting(name, default):
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        number = int(value)
    except ValueError:
        raise RuntimeError(f'{name}="{value}" is not a whole number; set it to a positive integer such as {default}') from None
    if number < 1:
        raise RuntimeError(f"{name}={number} must be at least 1")
    return number


def _secret_key(instance_path):
    """Return the secret key from LPKIT_SECRET_KEY, or one generated once and kept under instance/.

    The key file is written under a temporary name and linked into place, so
    processes that start together (server workers) all read the same
    complete key, and it is never readable by other users.
    """
    from_environment = os.environ.get("LPKIT_SECRET_KEY")
    if from_environment:
        return from_environment
    key_file = Path(instance_path) / "secret_key"
    if not key_file.exists():
        candidate = key_file.with_name(f"secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as output:
            output.write(secrets.token_hex(32))
        try:
            os.link(candidate, key_file)
        except FileExistsError:
            pass  # Another process created it first; everyone uses that one.
        finally:
            candidate.unlink()
    return key_file.read_text(encoding="ascii").strip()


def _make_folder(path, purpose, parent=False):
    """Create a folder lpkit writes to; log, instead of failing start-up, when that is impossible.

    The server still starts, so the API can return the error for each
    request, and the commands can print it.
    """
    folder = Path(path).parent if parent else Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.error("cannot create the %s folder %s: %s; create it or set the path to a writable folder", purpose, folder, error.strerror)


def _recover_interrupted_reports(database, runner):
    """Mark failed the reports whose process died; log, instead of failing start-up, when the database cannot be read."""
    try:
        connection = db.connect(database)
    except sqlite3.Error as error:
        log.error("cannot open the database %s (%s); interrupted reports were not checked", database, error)
        return
    try:
        if "reports" in db.existing_tables(connection):
            runner.fail_interrupted(connection)
    except sqlite3.Error as error:
        log.error("cannot check the database %s for interrupted reports: %s", database, error)
    finally:
        connection.close()


def create_app(test_config=None):
    """Create the lpkit Flask application."""
    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"), instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(
        DATABASE=os.environ.get("LPKIT_DATABASE") or str(Path(app.instance_path) / "lpkit.sqlite"),
        REPORTS_DIR=os.environ.get("LPKIT_REPORTS_DIR") or str(PROJECT_ROOT / "reportcsvs"),
        REPORT_WORKERS=_int_setting("LPKIT_REPORT_WORKERS", 1),
        STORE_TZS_DBFETCH_BATCH_SIZE=_int_setting("LPKIT_STORE_BATCH_SIZE", 1000),
        POLL_STAT_DBFETCH_BATCH_SIZE=_int_setting("LPKIT_POLL_BATCH_SIZE", 250),
        # Requests carry only report options and form fields; a larger body is rejected with 413.
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)

    _make_folder(app.config["DATABASE"], "database", parent=True)
    _make_folder(app.config["REPORTS_DIR"], "reports")
    db.init_app(app)

    runner = ReportRunner(
        app.config["DATABASE"],
        app.config["REPORTS_DIR"],
        workers=app.config["REPORT_WORKERS"],
        batch_sizes=BatchSizes(app.config["STORE_TZS_DBFETCH_BATCH_SIZE"], app.config["POLL_STAT_DBFETCH_BATCH_SIZE"]),
    )
    app.extensions["lpkit.runner"] = runner

    _recover_interrupted_reports(app.config["DATABASE"], runner)

    from lpkit import api, auth, cli, pages, web_security

    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    auth.init_app(app)
    web_security.init_app(app)
    cli.init_app(app)
    return app
