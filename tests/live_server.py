"""Helpers for tests that run lpkit as a real server process on 127.0.0.1.

Servers listen on ports 5300-5399 and are stopped by their own process id.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lpkit import db, importer
from lpkit.generator import generate_dataset

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PORTS = range(5300, 5400)
START_TIMEOUT_S = 30


def free_port():
    """Return a port in 5300-5399 that nothing listens on now."""
    for port in random.sample(PORTS, len(PORTS)):
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 5300-5399")


def server_env(database, reports_dir, **settings):
    """Return the environment of a server process on its own database and reports folder."""
    env = dict(os.environ)
    for name in ("LPKIT_API_TOKEN", "FLASK_DEBUG", "LPKIT_REPORT_WORKERS", "LPKIT_STORE_BATCH_SIZE", "LPKIT_POLL_BATCH_SIZE"):
        env.pop(name, None)
    env.update(
        LPKIT_DATABASE=str(database),
        LPKIT_REPORTS_DIR=str(reports_dir),
        LPKIT_SECRET_KEY="live-server-test-key",
        PYTHONUNBUFFERED="1",
    )
    env.update({name: str(value) for name, value in settings.items()})
    return env


@dataclass
class Server:
    """A server process and the address it listens on."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def base_url(self):
        return f"http://{HOST}:{self.port}"

    def request(self, method, path, body=None, headers=None, timeout=30):
        """Send one request; return (status, headers, body bytes)."""
        data = None
        headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def json(self, method, path, body=None, headers=None):
        status, _headers, content = self.request(method, path, body, headers)
        return status, json.loads(content)

    def trigger(self, body=None):
        status, payload = self.json("POST", "/trigger_report", body or {})
        assert status == 202, payload
        return payload["report_id"]

    def status(self, report_id):
        """Return the JSON status of a report (Complete for a finished one)."""
        status, payload = self.json("GET", f"/get_report?report_id={report_id}", headers={"Accept": "application/json"})
        assert status == 200, payload
        return payload

    def wait_for(self, report_id, timeout_s=60):
        deadline = time.monotonic() + timeout_s
        while True:
            payload = self.status(report_id)
            if payload["status"] != "Running":
                return payload
            if time.monotonic() > deadline:
                raise AssertionError(f"report {report_id} still running after {timeout_s} s: {payload}")
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM):
        """Send a signal to the server process and wait for it to exit."""
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)

    def log_text(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_until_listening(server):
    """Wait until the server responds to HTTP; raise with its log when it exits or times out."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited with {server.process.returncode}:\n{server.log_text()}")
        try:
            server.request("GET", "/get_report", timeout=2)
            return server
        except OSError:
            time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"server did not listen within {START_TIMEOUT_S} s:\n{server.log_text()}")


def start_flask(env, log_path, port=None):
    """Start `flask --app lpkit run` on 127.0.0.1 and wait until it responds."""
    port = port or free_port()
    command = [sys.executable, "-m", "flask", "--app", "lpkit", "run", "--host", HOST, "--port", str(port)]
    return _start(command, env, log_path, port)


# Logs lpkit's INFO lines and every request with the pid of the worker that served it.
GUNICORN_CONFIG = """
accesslog = "-"
access_log_format = "access pid=%(p)s %(m)s %(U)s %(s)s"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "lpkit": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}
"""


def start_gunicorn(env, log_path, workers=3, port=None, extra_args=()):
    """Start gunicorn with several worker processes on 127.0.0.1 and wait until it responds."""
    port = port or free_port()
    config = Path(log_path).with_suffix(".conf.py")
    config.write_text(GUNICORN_CONFIG, encoding="utf-8")
    command = [
        sys.executable, "-m", "gunicorn", "--config", str(config), "--workers", str(workers),
        "--bind", f"{HOST}:{port}", "--graceful-timeout", "5", *extra_args, "lpkit:create_app()",
    ]
    return _start(command, env, log_path, port)


def child_pids(pid):
    """Return the ids of a process's child processes (Linux)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


def _start(command, env, log_path, port):
    log_file = open(log_path, "ab")
    try:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    finally:
        log_file.close()
    return wait_until_listening(Server(process, port, Path(log_path)))


def load_dataset(folder, database, stores, days=2, seed=7):
    """Generate a data set of `stores` stores and import it into a new database."""
    generate_dataset(folder, stores=stores, days=days, seed=seed)
    connection = db.connect(str(database))
    try:
        db.create_schema(connection)
        importer.import_paths(connection, [str(folder)], rejects_dir=folder.parent / "rejects")
    finally:
        connection.close()


def slow_report_setup(tmp_path, stores):
    """Load `stores` generated stores and return (database, reports folder, server environment).

    Batch sizes of 1 make a report slow enough to act on while it runs.
    """
    database, reports = tmp_path / "lpkit.sqlite", tmp_path / "reports"
    load_dataset(tmp_path / "data", database, stores)
    env = server_env(database, reports, LPKIT_STORE_BATCH_SIZE=1, LPKIT_POLL_BATCH_SIZE=1)
    return database, reports, env
