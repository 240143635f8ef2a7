"""SQLite connections and the schema commands."""

import logging
import sqlite3
from importlib import resources
from pathlib import Path

import click
from flask import current_app, g
from flask.cli import with_appcontext

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
TABLES = ("stores", "business_hours", "polls", "reports", "imports")


def connect(path):
    """Open a connection in WAL mode that waits for locks instead of failing.

    Each thread opens its own connection; none is shared across threads.
    """
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def database_path(connection):
    """Return the file path of a connection's main database."""
    for _seq, name, path in connection.execute("PRAGMA database_list"):
        if name == "main":
            return path
    raise ValueError("the connection has no main database")


def get_db():
    """Return the request's connection, opening it on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_db(_error=None):
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()


def existing_tables(connection):
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows}


def create_schema(connection):
    """Create the tables and indexes that are missing; return the new table names."""
    before = existing_tables(connection)
    script = resources.files("lpkit").joinpath("schema.sql").read_text(encoding="utf-8")
    connection.executescript(script)
    return [table for table in TABLES if table not in before]


def remove_report_files(reports_dir):
    """Delete the report CSV files (complete or partial) in a folder; return how many."""
    removed = 0
    for pattern in ("report-*.csv", "report-*.csv.partial"):
        for path in Path(reports_dir).glob(pattern):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def drop_schema(connection):
    for table in reversed(TABLES):
        connection.execute(f"DROP TABLE IF EXISTS {table}")


@click.command("init-db")
@with_appcontext
@click.option("--reset", is_flag=True, help="Drop every table and its data, then create the schema again.")
@click.option("--yes", is_flag=True, help="With --reset: do not ask for confirmation.")
def init_db_command(reset, yes):
    """Create the database schema; existing data is kept unless --reset is given."""
    path = current_app.config["DATABASE"]
    try:
        connection = connect(path)
    except sqlite3.Error as error:
        raise click.ClickException(
            f"cannot open the database {path}: {error}; check that its folder exists and is writable, or set LPKIT_DATABASE"
        ) from None
    try:
        if reset:
            reports_dir = Path(current_app.config["REPORTS_DIR"])
            if not yes:
                click.confirm(f"Delete all stores, polls and reports in {path} and the report files in {reports_dir}?", abort=True)
            drop_schema(connection)
            removed = remove_report_files(reports_dir)
            log.warning("dropped all tables in %s and removed %d report files", path, removed)

        created = create_schema(connection)
        if not created:
            click.echo(f"Database {path} already has every table; nothing was changed.")
        else:
            click.echo(f"Created {', '.join(created)} in {path}.")
    finally:
        connection.close()


def init_app(app):
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
