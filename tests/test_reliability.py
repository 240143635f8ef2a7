"""Reliability under restarts, concurrency and faults, mostly with real server and CLI processes."""

import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from live_server import REPO, load_dataset, server_env, slow_report_setup, start_flask

from lpkit import create_app, db, importer, repository
from lpkit.generator import generate_dataset
from lpkit.reports import BatchSizes, ReportBuilder
from lpkit.runner import RESTART_ERROR, owner_is_alive, process_owner, report_path, run_report

# A data set this size takes a few seconds to report with one store per batch,
# long enough to act on a report while it runs.
SLOW_STORES = 3000
POLLED_STORES = 1000


def unfinished_report(connection, owner, status="running", pivot_us=1_674_670_380_000_000):
    report_id = str(uuid.uuid4())
    repository.insert_report(connection, report_id, pivot_us, {}, owner)
    if status == "running":
        repository.mark_report_running(connection, report_id, 10)
    return report_id


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def sleeper():
    """A live process unrelated to lpkit."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def mount_tmpfs(tmp_path):
    """Mount small tmpfs folders (a full disk or a read-only folder); skip where mounting is not allowed."""
    mounted = []

    def mount(name, size_kb, read_only=False):
        folder = tmp_path / name
        folder.mkdir()
        options = f"size={size_kb}k" + (",ro" if read_only else "")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


# Restarts -------------------------------------------------------------------


def test_owner_includes_process_start():
    host, pid, start = process_owner().split(":")

    assert host == socket.gethostname()
    assert pid == str(os.getpid())
    assert "@" in start
    assert owner_is_alive(process_owner())


def test_owner_with_reused_pid_is_dead(sleeper):
    host = socket.gethostname()

    assert owner_is_alive(process_owner(sleeper.pid))
    assert not owner_is_alive(f"{host}:{sleeper.pid}:1@00000000")
    assert not owner_is_alive(f"{host}:{dead_pid()}")
    assert not owner_is_alive(f"other-host:{sleeper.pid}")
    assert not owner_is_alive(None)


def test_owner_of_zombie_is_dead():
    process = subprocess.Popen(["sleep", "60"])
    owner = process_owner(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    time.sleep(0.2)
    try:
        assert not owner_is_alive(owner)
    finally:
        process.wait()


def test_startup_fails_only_orphaned_reports(app, connection, sleeper):
    host = socket.gethostname()
    dead = unfinished_report(connection, f"{host}:{dead_pid()}:1@00000000")
    reused = unfinished_report(connection, f"{host}:{sleeper.pid}:1@00000000", status="queued")
    live = unfinished_report(connection, process_owner(sleeper.pid))
    partial = Path(app.config["REPORTS_DIR"]) / f"report-{dead}.csv.partial"
    partial.write_text("store_id,uptime_last_hour\r\n1,", encoding="utf-8")

    create_app({"DATABASE": app.config["DATABASE"], "REPORTS_DIR": app.config["REPORTS_DIR"], "SECRET_KEY": "x"})

    assert repository.get_report(connection, dead).status == "failed"
    assert repository.get_report(connection, dead).error == RESTART_ERROR
    assert repository.get_report(connection, reused).status == "failed"
    assert repository.get_report(connection, live).status == "running"
    assert not partial.exists()


def test_get_report_fails_orphaned_report(client, connection):
    report_id = unfinished_report(connection, f"{socket.gethostname()}:{dead_pid()}")

    payload = client.get(f"/get_report?report_id={report_id}").get_json()

    assert payload["status"] == "Failed"
    assert "restart" in payload["error"]


def test_sigkill_mid_report_fails_on_restart(tmp_path):
    database, reports, env = slow_report_setup(tmp_path, SLOW_STORES)
    server = start_flask(env, tmp_path / "server1.log")
    try:
        report_id = server.trigger()
        deadline = time.monotonic() + 30
        while server.status(report_id)["stores_done"] == 0:
            assert time.monotonic() < deadline, "the report made no progress in 30 s"
            time.sleep(0.02)
        progress = server.status(report_id)
    finally:
        server.stop(signal.SIGKILL)

    assert progress["status"] == "Running", "the report finished before the kill; use more stores"
    assert progress["stores_done"] < progress["stores_total"]
    assert not report_path(reports, report_id).exists()

    server = start_flask(env, tmp_path / "server2.log")
    try:
        status, headers, body = server.request("GET", f"/get_report?report_id={report_id}")
        after = server.status(report_id)
    finally:
        server.stop()

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert b"store_id" not in body
    assert after["status"] == "Failed"
    assert after["error"] == RESTART_ERROR
    assert list(reports.glob("*.partial")) == []
    assert list(reports.glob(f"report-{report_id}*")) == []


def test_full_reports_disk_fails_report(tmp_path, mount_tmpfs):
    reports = mount_tmpfs("reports", 64)
    connection = db.connect(str(tmp_path / "lpkit.sqlite"))
    load_dataset(tmp_path / "data", tmp_path / "lpkit.sqlite", 2000, days=1)
    report_id = unfinished_report(connection, process_owner(), status="queued")

    with pytest.raises(OSError):
        run_report(connection, report_id, str(reports), BatchSizes())
    record = repository.get_report(connection, report_id)

    assert record.status == "failed"
    assert str(reports) in record.error
    assert "No space left on device" in record.error
    assert list(reports.iterdir()) == []


def test_read_only_reports_folder_fails_report(tmp_path, mount_tmpfs):
    reports = mount_tmpfs("reports", 64, read_only=True)
    app = create_app({"DATABASE": str(tmp_path / "lpkit.sqlite"), "REPORTS_DIR": str(reports / "sub"), "SECRET_KEY": "x"})
    connection = db.connect(app.config["DATABASE"])
    db.create_schema(connection)
    client = app.test_client()

    report_id = client.post("/trigger_report").get_json()["report_id"]
    app.extensions["lpkit.runner"].executor.shutdown(wait=True)
    payload = client.get(f"/get_report?report_id={report_id}").get_json()

    assert payload["status"] == "Failed"
    assert str(reports / "sub") in payload["error"]
    assert "trigger the report again" in payload["error"]


def test_api_names_read_only_database(tmp_path, mount_tmpfs):
    folder = mount_tmpfs("db", 64, read_only=True)
    app = create_app({"DATABASE": str(folder / "lpkit.sqlite"), "REPORTS_DIR": str(tmp_path / "r"), "SECRET_KEY": "x"})

    response = app.test_client().post("/trigger_report")

    assert response.status_code == 503
    assert str(folder / "lpkit.sqlite") in response.get_json()["error"]


# Concurrency ----------------------------------------------------------------


def test_connections_use_wal_and_busy_timeout(app):
    connections = []

    def open_in_thread():
        with app.app_context():
            connection = db.get_db()
            connections.append((threading.get_ident(), id(connection), connection))
            journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
            busy_ms = connection.execute("PRAGMA busy_timeout").fetchone()[0]
            assert journal == "wal"
            assert busy_ms >= 5000

    threads = [threading.Thread(target=open_in_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({connection_id for _, connection_id, _ in connections}) == 3


def test_twenty_triggers_all_complete(tmp_path):
    database, reports = tmp_path / "lpkit.sqlite", tmp_path / "reports"
    load_dataset(tmp_path / "data", database, 100, days=1)
    server = start_flask(server_env(database, reports), tmp_path / "server.log")
    start = threading.Barrier(20)

    def trigger():
        start.wait()
        return server.trigger()

    try:
        with ThreadPoolExecutor(20) as pool:
            report_ids = list(pool.map(lambda _: trigger(), range(20)))
        finals = [server.wait_for(report_id) for report_id in report_ids]
        bodies = {server.request("GET", f"/get_report?report_id={report_id}")[2] for report_id in report_ids}
    finally:
        server.stop()

    assert len(set(report_ids)) == 20
    assert [final["status"] for final in finals] == ["Complete"] * 20
    assert [final["rows"] for final in finals] == [100] * 20
    assert len(bodies) == 1


def test_fifty_clients_polling_during_report(tmp_path):
    database, reports, env = slow_report_setup(tmp_path, POLLED_STORES)
    server = start_flask(env, tmp_path / "server.log")
    try:
        report_id = server.trigger()

        def poll_until_complete():
            answers = []
            for _ in range(400):
                status, headers, body = server.request("GET", f"/get_report?report_id={report_id}")
                answers.append((status, headers["Content-Type"], body))
                if headers["Content-Type"].startswith("text/csv"):
                    break
                time.sleep(0.1)
            return answers

        with ThreadPoolExecutor(50) as pool:
            per_client = list(pool.map(lambda _: poll_until_complete(), range(50)))
        final_csv = server.request("GET", f"/get_report?report_id={report_id}")[2]
    finally:
        server.stop()

    import json

    running_seen = 0
    for answers in per_client:
        assert all(status == 200 for status, _, _ in answers)
        done_counts = []
        for _, content_type, body in answers[:-1]:
            payload = json.loads(body)
            assert payload["status"] == "Running"
            assert 0 <= payload["stores_done"] <= payload["stores_total"]
            done_counts.append(payload["stores_done"])
        assert done_counts == sorted(done_counts)
        running_seen += len(done_counts)
        assert answers[-1][1].startswith("text/csv")
        assert answers[-1][2] == final_csv
    assert running_seen > 0
    assert final_csv.count(b"\r\n") == POLLED_STORES + 1


def _import_other_data(database, folder):
    connection = db.connect(str(database))
    try:
        importer.import_paths(connection, [str(folder)], rejects_dir=folder.parent / "rejects-b")
    finally:
        connection.close()


def test_report_during_import_sees_one_snapshot(tmp_path):
    database = tmp_path / "lpkit.sqlite"
    load_dataset(tmp_path / "a", database, 1500, days=1, seed=1)
    generate_dataset(tmp_path / "b", stores=1500, days=1, seed=2)
    connection = db.connect(str(database))
    pivot_us = repository.latest_poll_us(connection)
    before = ReportBuilder(connection, pivot_us, batch_sizes=BatchSizes(100, 100)).rows()
    imported = []

    def import_after_first_batch(done, total):
        if done > 0 and not imported:
            importer_thread = threading.Thread(target=_import_other_data, args=(database, tmp_path / "b"))
            importer_thread.start()
            importer_thread.join(timeout=60)
            imported.append(not importer_thread.is_alive())

    reader = db.connect(str(database))
    during = ReportBuilder(reader, pivot_us, batch_sizes=BatchSizes(100, 100)).rows(import_after_first_batch)
    after = ReportBuilder(connection, pivot_us, batch_sizes=BatchSizes(100, 100)).rows()

    assert imported == [True]
    assert len(after) > len(before)
    assert during == before


def test_runner_does_not_block_imports(tmp_path):
    database = tmp_path / "lpkit.sqlite"
    load_dataset(tmp_path / "a", database, 1500, days=1, seed=1)
    generate_dataset(tmp_path / "b", stores=1500, days=1, seed=2)
    connection = db.connect(str(database))
    pivot_us = repository.latest_poll_us(connection)
    before = ReportBuilder(connection, pivot_us).rows()
    report_id = unfinished_report(connection, process_owner(), status="queued", pivot_us=pivot_us)
    import_seconds = []
    progress_seen = []

    def import_after_first_batch(done, total):
        if done > 0 and not import_seconds:
            started = time.monotonic()
            importer_thread = threading.Thread(target=_import_other_data, args=(database, tmp_path / "b"))
            importer_thread.start()
            importer_thread.join(timeout=20)
            import_seconds.append(time.monotonic() - started)
            assert not importer_thread.is_alive(), "the import waited for the report to finish"
        elif done >= total // 2 and not progress_seen:
            observer = db.connect(str(database))
            progress_seen.append(repository.get_report(observer, report_id).stores_done)
            observer.close()

    rows = run_report(connection, report_id, str(tmp_path / "reports"), BatchSizes(100, 100), import_after_first_batch)

    assert rows == before
    assert import_seconds[0] < 20
    assert progress_seen[0] > 0
    assert repository.get_report(connection, report_id).status == "complete"


# Imports under faults -------------------------------------------------------


def database_fingerprint(database):
    """Return a hash of the stores, business hours and polls, independent of row ids."""
    connection = sqlite3.connect(str(database))
    digest = hashlib.sha256()
    queries = (
        "SELECT store_id, timezone_name, timezone, onboarded_at_us FROM stores ORDER BY store_id",
        """SELECT s.store_id, h.day_of_week, h.start_time_us, h.end_time_us FROM business_hours AS h
           JOIN stores AS s USING (store_pk) ORDER BY 1, 2, 3, 4""",
        """SELECT s.store_id, p.polled_at_us, p.is_active FROM polls AS p
           JOIN stores AS s USING (store_pk) ORDER BY 1, 2""",
    )
    for query in queries:
        for row in connection.execute(query):
            digest.update(repr(row).encode())
    connection.close()
    return digest.hexdigest()


def table_counts(database):
    connection = sqlite3.connect(str(database))
    counts = {
        "hours": connection.execute("SELECT count(*) FROM business_hours").fetchone()[0],
        "polls": connection.execute("SELECT count(*) FROM polls").fetchone()[0],
        "zones": connection.execute("SELECT count(*) FROM stores WHERE timezone_name IS NOT NULL").fetchone()[0],
    }
    connection.close()
    return counts


def start_import(database, folder, log_path):
    env = server_env(database, database.parent / "reports")
    command = [sys.executable, "-m", "flask", "--app", "lpkit", "import-data", str(folder)]
    log_file = open(log_path, "wb")
    try:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    finally:
        log_file.close()


@pytest.fixture(scope="module")
def import_reference(tmp_path_factory):
    """A data set, the database a complete import of it gives, and how long that import took."""
    folder = tmp_path_factory.mktemp("import-reference")
    generate_dataset(folder / "data", stores=SLOW_STORES, days=3, seed=11)
    database = folder / "lpkit.sqlite"
    started = time.monotonic()
    process = start_import(database, folder / "data", folder / "import.log")
    assert process.wait(timeout=120) == 0, (folder / "import.log").read_text()
    return folder / "data", database, time.monotonic() - started


@pytest.mark.parametrize(("sig", "fraction"), [(signal.SIGKILL, 0.55), (signal.SIGKILL, 0.8), (signal.SIGINT, 0.7)])
def test_interrupted_import_reruns_to_same_result(tmp_path, import_reference, sig, fraction):
    data, reference, full_seconds = import_reference
    database = tmp_path / "lpkit.sqlite"
    full = table_counts(reference)

    process = start_import(database, data, tmp_path / "first.log")
    time.sleep(full_seconds * fraction)
    if process.poll() is None:
        os.kill(process.pid, sig)
    process.wait(timeout=60)
    output = (tmp_path / "first.log").read_text()
    print(f"first import: exit {process.returncode}, {table_counts(database) if database.exists() else 'no database'}")
    print(output)

    assert "Traceback" not in output
    # A signal that lands after the last file's summary, while Python shuts
    # down, interrupts no import, so there is nothing to explain.
    finished_every_file = output.count(" read, ") == len(full)
    if sig == signal.SIGINT and process.returncode != 0 and not finished_every_file:
        assert "the import was interrupted" in output
    if database.exists():
        partial = table_counts(database)
        for name, count in partial.items():
            assert count in (0, full[name]), f"{name}: {count} of {full[name]} rows applied"

    rerun = start_import(database, data, tmp_path / "rerun.log")
    assert rerun.wait(timeout=120) == 0, (tmp_path / "rerun.log").read_text()
    assert database_fingerprint(database) == database_fingerprint(reference)


def run_cli_import(database, folder):
    env = server_env(database, database.parent / "reports")
    command = [sys.executable, "-m", "flask", "--app", "lpkit", "import-data", str(folder)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_import_on_full_disk_names_database(tmp_path, mount_tmpfs):
    generate_dataset(tmp_path / "data", stores=500, days=2, seed=3)
    folder = mount_tmpfs("db", 256)

    result = run_cli_import(folder / "lpkit.sqlite", tmp_path / "data")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(folder / "lpkit.sqlite") in result.stderr
    assert "full" in result.stderr


def test_import_into_read_only_folder_names_database(tmp_path, mount_tmpfs):
    generate_dataset(tmp_path / "data", stores=10, days=1, seed=3)
    folder = mount_tmpfs("db", 64, read_only=True)

    result = run_cli_import(folder / "lpkit.sqlite", tmp_path / "data")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(folder / "lpkit.sqlite") in result.stderr


def test_read_only_rejects_folder_rolls_back(tmp_path, mount_tmpfs, connection):
    rejects = mount_tmpfs("rejects", 64, read_only=True)
    polls = tmp_path / "store_status.csv"
    polls.write_text("store_id,status,timestamp_utc\n1,active,2023-01-22 12:09:39 UTC\n2,unknown,2023-01-22 12:09:39 UTC\n")

    with pytest.raises(OSError) as raised:
        importer.import_paths(connection, [polls], rejects_dir=rejects / "sub")

    assert str(rejects / "sub") in str(raised.value)
    assert repository.count_stores(connection) == 0


def test_init_db_in_read_only_folder_names_path(tmp_path, mount_tmpfs):
    folder = mount_tmpfs("db", 64, read_only=True)
    env = server_env(folder / "lpkit.sqlite", tmp_path / "reports")

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "lpkit", "init-db"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(folder / "lpkit.sqlite") in result.stderr


def test_report_fails_when_reports_path_is_a_file(tmp_path):
    """A reports "folder" that is a file marks the report failed instead of leaving it running."""
    not_a_folder = tmp_path / "reports"
    not_a_folder.write_text("a file, not a folder", encoding="utf-8")
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "lpkit.sqlite"), "REPORTS_DIR": str(not_a_folder), "SECRET_KEY": "test"})
    connection = db.connect(app.config["DATABASE"])
    db.create_schema(connection)
    repository.insert_report(connection, "r1", 1_674_670_380_000_000, {}, "test")

    with pytest.raises(OSError):
        run_report(connection, "r1", str(not_a_folder), BatchSizes())

    record = repository.get_report(connection, "r1")
    assert record.status == "failed"
    assert str(not_a_folder) in record.error
    connection.close()
