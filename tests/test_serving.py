"""lpkit under gunicorn with several worker processes on one database."""

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from live_server import child_pids, load_dataset, server_env, slow_report_setup, start_flask, start_gunicorn

from lpkit import db, repository
from lpkit.runner import RESTART_ERROR

pytest.importorskip("gunicorn")

WORKERS = 3
# Reporting this many stores one at a time takes a few seconds, long enough to act while it runs.
SLOW_STORES = 3000


def served_by(log_text, path_start):
    """Return the worker pids that served requests whose path starts with path_start."""
    return {int(pid) for pid, path in re.findall(r"access pid=<(\d+)> \w+ (\S+)", log_text) if path.startswith(path_start)}


def report_owner_pid(database, report_id):
    connection = db.connect(str(database))
    try:
        owner = repository.get_report(connection, report_id).owner
    finally:
        connection.close()
    return int(owner.split(":")[1])


def wait_for_progress(server, report_id, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while True:
        payload = server.status(report_id)
        if payload["status"] != "Running" or payload["stores_done"] > 0:
            return payload
        assert time.monotonic() < deadline, f"report {report_id} made no progress in {timeout_s} s"
        time.sleep(0.05)


def wait_for_new_worker(master_pid, old_workers, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while True:
        workers = child_pids(master_pid)
        if len(workers) == WORKERS and workers != old_workers:
            return workers
        assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
        time.sleep(0.1)


def test_trigger_runs_once_and_workers_agree(tmp_path):
    database, reports = tmp_path / "lpkit.sqlite", tmp_path / "reports"
    load_dataset(tmp_path / "data", database, 300, days=1)
    server = start_gunicorn(server_env(database, reports), tmp_path / "gunicorn.log", workers=WORKERS)
    try:
        report_id = server.trigger()
        server.wait_for(report_id)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: server.request("GET", f"/get_report?report_id={report_id}"), range(60)))
        log_text = server.log_text()
    finally:
        server.stop()

    assert len(log_text.split(f"report {report_id} started")) == 2, log_text
    assert len(log_text.split(f"report {report_id} complete")) == 2, log_text
    assert {status for status, _, _ in answers} == {200}
    assert {headers["X-Report-Status"] for _, headers, _ in answers} == {"Complete"}
    assert len({body for _, _, body in answers}) == 1
    assert len(served_by(log_text, "/get_report")) >= 2, "one worker served every request; the test shows nothing"


def test_new_worker_keeps_live_workers_report(tmp_path):
    database, reports, env = slow_report_setup(tmp_path, SLOW_STORES)
    server = start_gunicorn(env, tmp_path / "gunicorn.log", workers=WORKERS)
    try:
        report_id = server.trigger()
        assert wait_for_progress(server, report_id)["status"] == "Running"
        owner = report_owner_pid(database, report_id)
        workers = child_pids(server.process.pid)
        assert owner in workers
        bystander = min(workers - {owner})

        os.kill(bystander, signal.SIGKILL)
        wait_for_new_worker(server.process.pid, workers)
        final = server.wait_for(report_id, timeout_s=120)
    finally:
        server.stop()

    assert final["status"] == "Complete"
    assert final["rows"] == SLOW_STORES


def test_killed_worker_report_fails(tmp_path):
    database, reports, env = slow_report_setup(tmp_path, SLOW_STORES)
    server = start_gunicorn(env, tmp_path / "gunicorn.log", workers=WORKERS)
    try:
        report_id = server.trigger()
        assert wait_for_progress(server, report_id)["status"] == "Running"
        owner = report_owner_pid(database, report_id)
        workers = child_pids(server.process.pid)

        os.kill(owner, signal.SIGKILL)
        wait_for_new_worker(server.process.pid, workers)
        answers = [server.status(report_id) for _ in range(10)]
    finally:
        server.stop()

    assert {answer["status"] for answer in answers} == {"Failed"}
    assert {answer["error"] for answer in answers} == {RESTART_ERROR}
    assert list(reports.glob(f"report-{report_id}*")) == []


def test_second_server_keeps_first_servers_report(tmp_path):
    database, reports, env = slow_report_setup(tmp_path, SLOW_STORES)
    first = start_flask(env, tmp_path / "first.log")
    try:
        report_id = first.trigger()
        assert wait_for_progress(first, report_id)["status"] == "Running"
        second = start_flask(env, tmp_path / "second.log")
        try:
            seen_by_second = second.status(report_id)
            final = second.wait_for(report_id, timeout_s=120)
        finally:
            second.stop()
    finally:
        first.stop()

    assert seen_by_second["status"] == "Running"
    assert final["status"] == "Complete"


def test_preloaded_app_records_worker_as_owner(tmp_path):
    database, reports = tmp_path / "lpkit.sqlite", tmp_path / "reports"
    load_dataset(tmp_path / "data", database, 100, days=1)
    server = start_gunicorn(server_env(database, reports), tmp_path / "gunicorn.log", workers=2, extra_args=["--preload"])
    try:
        report_id = server.trigger()
        final = server.wait_for(report_id)
        workers = child_pids(server.process.pid)
    finally:
        server.stop()

    assert final["status"] == "Complete"
    assert report_owner_pid(database, report_id) in workers
