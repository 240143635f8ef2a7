"""Flask CLI commands: import-data, report and sample-data."""

import logging
import sqlite3
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from lpkit import db, importer, repository
from lpkit.parsing import format_instant, parse_pivot_us
from lpkit.reports import COLUMN_SETS, BatchSizes, ReportOptions, default_pivot_us
from lpkit.runner import process_owner, record_report, report_path, run_report
from lpkit.uptime import WINDOW_MODES

log = logging.getLogger(__name__)


def _connect_with_schema():
    """Open the database, creating missing tables; a failure becomes a message naming the path."""
    database = current_app.config["DATABASE"]
    try:
        connection = db.connect(database)
        created = db.create_schema(connection)
    except sqlite3.Error as error:
        raise click.ClickException(
            f"cannot open the database {database}: {error}; check that its folder exists and is writable, "
            "or set LPKIT_DATABASE to another path"
        ) from None
    if created:
        click.echo(f"Created {', '.join(created)} in {database}.")
    return connection


def _print_summary(summary):
    click.echo(
        f"{summary.path} ({summary.kind}): {summary.rows_read} read, {summary.rows_inserted} inserted, "
        f"{summary.rows_duplicate} duplicate, {summary.rows_rejected} rejected"
    )
    for reason in summary.first_reasons:
        click.echo(f"  rejected {reason}")
    if summary.rows_rejected > len(summary.first_reasons):
        click.echo(f"  ... and {summary.rows_rejected - len(summary.first_reasons)} more rejected rows")
    for warning in summary.warnings:
        click.echo(f"  warning: {warning}")


def _database_failure(database, error):
    return (
        f"cannot write the database {database}: {error}; check that its folder is writable and has free space, "
        "or set LPKIT_DATABASE to another path; the file being imported was rolled back"
    )


def run_import(paths, strict=False):
    """Import files with a progress bar and printed summaries; return the summaries."""
    database = current_app.config["DATABASE"]
    connection = _connect_with_schema()
    rejects_dir = Path(database).parent
    bars = {}

    def progress(path, done, total):
        bar = bars.get(path)
        if bar is None:
            if total < 5_000_000:
                return
            bar = bars[path] = click.progressbar(length=total, label=f"Importing {Path(path).name}", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    try:
        result = importer.import_paths(connection, paths, rejects_dir=rejects_dir, strict=strict, progress=progress)
    except importer.StrictImportAborted as error:
        raise click.ClickException(f"{error}\n--strict: the import stopped at the first rejected row; nothing was imported.")
    except importer.ImportFailed as error:
        raise click.ClickException(str(error))
    except OSError as error:
        where = error.filename or rejects_dir
        raise click.ClickException(
            f"cannot import: {error.strerror or error} ({where}); check the path, its permissions and the free disk space"
        ) from None
    except sqlite3.Error as error:
        raise click.ClickException(_database_failure(database, error)) from None
    except KeyboardInterrupt:
        raise click.ClickException(
            "the import was interrupted: the file being imported was rolled back and the files before it are kept; "
            "run the same command again to finish (rows imported already count as duplicates)"
        ) from None
    finally:
        for bar in bars.values():
            if not bar.finished:
                bar.__exit__(None, None, None)
        connection.close()

    for message in result.skipped:
        click.echo(message)
    for summary in result.summaries:
        _print_summary(summary)
    if result.rejects_path:
        click.echo(f"Every rejected row and its reason: {result.rejects_path}")
    return result.summaries


@click.command("import-data")
@with_appcontext
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--strict", is_flag=True, help="Stop at the first rejected row and leave the database unchanged.")
def import_data_command(paths, strict):
    """Import store-status, business-hours and timezone CSV exports (files or folders)."""
    run_import(paths, strict)


@click.command("report")
@with_appcontext
@click.option("--pivot", help="Compute as of this instant: ISO 8601 (UTC unless an offset is given), epoch milliseconds, or now. Default: the newest poll.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the CSV here as well as to the reports folder.")
@click.option("--window", type=click.Choice(WINDOW_MODES), default="calendar", show_default=True, help="calendar: last clock hour, yesterday, last Monday-Sunday week; rolling: the 1, 24 and 168 hours before the pivot.")
@click.option("--columns", type=click.Choice(COLUMN_SETS), default="standard", show_default=True, help="extended adds business time, unknown time and uptime percent per window.")
def report_command(pivot, output, window, columns):
    """Compute a report now, with a progress bar, and write its CSV."""
    connection = _connect_with_schema()
    try:
        if pivot is None:
            pivot_us = default_pivot_us(connection)
        else:
            try:
                pivot_us = parse_pivot_us(pivot)
            except ValueError as error:
                raise click.BadParameter(str(error), param_hint="--pivot") from None

        options = ReportOptions(window, columns)
        report_id = record_report(connection, pivot_us, options, process_owner())
        click.echo(f"Report {report_id} as of {format_instant(pivot_us)}", err=True)

        config = current_app.config
        batch_sizes = BatchSizes(config["STORE_TZS_DBFETCH_BATCH_SIZE"], config["POLL_STAT_DBFETCH_BATCH_SIZE"])
        with click.progressbar(length=1, label="Stores", file=sys.stderr) as bar:

            def progress(done, total):
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

            try:
                rows = run_report(connection, report_id, config["REPORTS_DIR"], batch_sizes, progress)
            except Exception as error:
                raise click.ClickException(f"report {report_id} failed: {error}") from None

        path = report_path(config["REPORTS_DIR"], report_id)
        if output:
            try:
                Path(output).write_bytes(path.read_bytes())
            except OSError as error:
                raise click.ClickException(
                    f"cannot write {output}: {error.strerror}; the report is still in {path}"
                ) from None
            path = Path(output)
        click.echo(f"{len(rows)} {'row' if len(rows) == 1 else 'rows'} written to {path}", err=True)
    finally:
        connection.close()


@click.command("sample-data")
@with_appcontext
@click.option("--output", type=click.Path(file_okay=False), help="Folder for the generated CSV files. Default: instance/sample-data.")
@click.option("--stores", default=300, show_default=True, help="Number of stores.")
@click.option("--days", default=9, show_default=True, help="Days of polls before the newest one.")
@click.option("--seed", default=2023, show_default=True, help="Random seed; the same seed gives the same files.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has stores.")
@click.option("--no-import", is_flag=True, help="Only write the CSV files.")
def sample_data_command(output, stores, days, seed, if_empty, no_import):
    """Generate the deterministic sample data set and import it."""
    from lpkit.generator import generate_dataset

    if if_empty:
        connection = _connect_with_schema()
        try:
            existing = repository.count_stores(connection)
        finally:
            connection.close()
        if existing:
            click.echo(f"The database already has {existing} stores; the sample was not loaded.")
            return

    folder = Path(output or Path(current_app.instance_path) / "sample-data")
    try:
        generate_dataset(folder, stores=stores, days=days, seed=seed)
    except OSError as error:
        raise click.ClickException(
            f"cannot write the sample data to {error.filename or folder}: {error.strerror}; choose a writable folder with --output"
        ) from None
    click.echo(f"Sample data written to {folder}")
    if not no_import:
        run_import([str(folder)])


def init_app(app):
    for command in (import_data_command, report_command, sample_data_command):
        app.cli.add_command(command)
