"""A bounded load test of a real lpkit server on 127.0.0.1.

It generates a data set, imports it into a temporary database and starts
lpkit (gunicorn with several workers, or the Flask development server). It
then measures requests per second and latency percentiles of /get_report
and the pages, first with the server idle and then while reports run one
after another. Every scenario stops after a fixed number of requests or seconds,
whichever comes first, and the server is stopped by its process id.

    .venv/bin/python bench/load_test.py --server gunicorn --workers 3

The figures are printed and written as JSON to .bench/load-test.json.
"""

import argparse
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lpkit import db, importer  # noqa: E402
from lpkit.generator import generate_dataset  # noqa: E402

log = logging.getLogger("load_test")

HOST = "127.0.0.1"
PORTS = range(5300, 5400)
SERVER_START_SECONDS = 30
REPORT_WAIT_SECONDS = 300
# Reports the background thread triggers during one scenario, at most.
MAX_BACKGROUND_REPORTS = 100


def machine_description():
    """Return the core count, CPU model and Python version of this machine."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu_model": model, "python": platform.python_version(), "system": platform.platform()}


def free_port():
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 5300-5399; stop another lpkit server and run again")


def fetch(url, headers=None, method="GET", timeout=30):
    """Send one request; return (status, body)."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Server:
    """An lpkit server process on 127.0.0.1, stopped by its process id."""

    def __init__(self, kind, workers, env, log_path):
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        if kind == "gunicorn":
            command = [
                sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"{HOST}:{self.port}",
                "lpkit:create_app()",
            ]
        else:
            command = [sys.executable, "-m", "flask", "--app", "lpkit", "run", "--host", HOST, "--port", str(self.port)]
        self.log_path = log_path
        with open(log_path, "wb") as log_file:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)

    def wait_until_listening(self):
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log_path}")
            try:
                fetch(self.base_url + "/get_report", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not listen within {SERVER_START_SECONDS} s; see {self.log_path}")

    def trigger(self):
        status, body = fetch(self.base_url + "/trigger_report", method="POST")
        if status != 202:
            raise RuntimeError(f"POST /trigger_report returned {status}: {body[:200]!r}")
        return json.loads(body)["report_id"]

    def wait_for(self, report_id):
        deadline = time.monotonic() + REPORT_WAIT_SECONDS
        while time.monotonic() < deadline:
            status, body = fetch(f"{self.base_url}/get_report?report_id={report_id}", {"Accept": "application/json"})
            payload = json.loads(body)
            if payload.get("status") != "Running":
                return payload
            time.sleep(0.1)
        raise RuntimeError(f"report {report_id} did not finish within {REPORT_WAIT_SECONDS} s")

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def measure(url, headers, requests, seconds, concurrency):
    """Send up to `requests` GETs from `concurrency` threads for at most `seconds`; return the figures."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    remaining = [requests]
    latencies = []
    errors = []

    def client():
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            started = time.perf_counter()
            try:
                status, _body = fetch(url, headers)
            except OSError as error:
                status = str(error)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors.append(status)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(client)
    wall = time.perf_counter() - started

    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(wall, 2),
        "requests_per_second": round(len(latencies) / wall, 1) if wall else None,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1) if latencies else None,
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
    }


class BackgroundReports:
    """Triggers reports one after another, so one is always running, until stopped."""

    def __init__(self, server):
        self.server = server
        self.stop_event = threading.Event()
        self.completed = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for _ in range(MAX_BACKGROUND_REPORTS):
            if self.stop_event.is_set():
                return
            self.server.wait_for(self.server.trigger())
            self.completed += 1

    def __enter__(self):
        self.thread.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *_exc):
        self.stop_event.set()
        self.thread.join(timeout=REPORT_WAIT_SECONDS)


def targets(server, report_id):
    """Return (name, url, headers) of each endpoint to measure, leaving out pages this build lacks."""
    base = server.base_url
    candidates = [
        ("get_report CSV", f"{base}/get_report?report_id={report_id}", {}),
        ("get_report JSON", f"{base}/get_report?report_id={report_id}", {"Accept": "application/json"}),
        ("page /", f"{base}/", {}),
        ("page /reports/<id>", f"{base}/reports/{report_id}", {}),
    ]
    found = []
    for name, url, headers in candidates:
        status, _body = fetch(url, headers)
        if status == 404 and name.startswith("page"):
            log.warning("skipping %s: the server returned 404", name)
            continue
        found.append((name, url, headers))
    return found


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=4000, help="Stores in the generated data set (default 4000).")
    parser.add_argument("--days", type=int, default=7, help="Days of polls per store (default 7).")
    parser.add_argument("--server", choices=("gunicorn", "flask"), default="gunicorn", help="WSGI server (default gunicorn).")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes (default 3).")
    parser.add_argument("--requests", type=int, default=600, help="Requests per endpoint and scenario, at most (default 600).")
    parser.add_argument("--seconds", type=float, default=20, help="Seconds per endpoint and scenario, at most (default 20).")
    parser.add_argument("--concurrency", type=int, default=8, help="Client threads (default 8).")
    parser.add_argument("--warmup", type=int, default=30, help="Unmeasured requests per endpoint before the first scenario (default 30).")
    parser.add_argument("--output", type=Path, default=REPO / ".bench" / "load-test.json", help="JSON output file.")
    return parser.parse_args(argv)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lpkit-load-") as folder:
        folder = Path(folder)
        log.info("generating %d stores x %d days and importing them", args.stores, args.days)
        generate_dataset(folder / "data", stores=args.stores, days=args.days, seed=2023)
        connection = db.connect(str(folder / "lpkit.sqlite"))
        db.create_schema(connection)
        importer.import_paths(connection, [str(folder / "data")], rejects_dir=folder)
        connection.close()

        env = dict(os.environ, LPKIT_DATABASE=str(folder / "lpkit.sqlite"), LPKIT_REPORTS_DIR=str(folder / "reports"))
        env.pop("LPKIT_API_TOKEN", None)
        env.setdefault("LPKIT_SECRET_KEY", "load-test")
        server = Server(args.server, args.workers, env, folder / "server.log")
        try:
            server.wait_until_listening()
            report_started = time.perf_counter()
            report_id = server.trigger()
            server.wait_for(report_id)
            report_seconds = time.perf_counter() - report_started
            log.info("one report of %d stores took %.2f s end to end", args.stores, report_seconds)

            results = {}
            endpoints = targets(server, report_id)
            # Unmeasured requests first, so every worker has opened its database and cached the report.
            for _name, url, headers in endpoints:
                measure(url, headers, args.warmup, args.seconds, args.concurrency)
            for name, url, headers in endpoints:
                results[(name, "idle")] = measure(url, headers, args.requests, args.seconds, args.concurrency)
            with BackgroundReports(server) as background:
                for name, url, headers in endpoints:
                    results[(name, "report running")] = measure(url, headers, args.requests, args.seconds, args.concurrency)
            background_reports = background.completed
        finally:
            server.stop()

    summary = {
        "machine": machine_description(),
        "command": " ".join([Path(sys.executable).name, "bench/load_test.py", *(argv or sys.argv[1:])]),
        "settings": {key: str(value) for key, value in vars(args).items()},
        "report_seconds": round(report_seconds, 2),
        "background_reports_completed": background_reports,
        "results": [{"endpoint": name, "scenario": scenario, **figures} for (name, scenario), figures in results.items()],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

    header = f"{'endpoint':22} {'scenario':15} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}"
    lines = [header]
    for row in summary["results"]:
        lines.append(
            f"{row['endpoint']:22} {row['scenario']:15} {row['requests']:>8} {row['errors']:>6} "
            f"{row['requests_per_second']:>7} {row['p50_ms']:>7} {row['p95_ms']:>7} {row['max_ms']:>7}"
        )
    log.info("%s", "\n".join(lines))
    log.info("written to %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
