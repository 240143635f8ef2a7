"""Measure lpkit's import, report and API latency on generated full-scale data.

Run it as `.venv/bin/python bench/benchmark.py` or `make bench`. Generated
data sets are cached under `.bench/`, and databases and reports go to a
temporary folder. The summary is also written to `.bench/last.json`. Every server this script starts listens on 127.0.0.1 and
is stopped by its process id before the script exits.
"""

import argparse
import csv
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / ".bench"
POPULATION_DIR = REPO.parent / "shared" / "data" / "loop-2023"
DATA_FILES = ("store_status.csv", "menu_hours.csv", "timezones.csv")

FULL_STORES = 14_000
FULL_DAYS = 8
SMOKE_STORES = 200
SMOKE_DAYS = 2
SUBSET_STORES = 500
SCALE_FACTORS = (0.25, 0.5, 1.0, 2.0)

TARGET_IMPORT_SECONDS = 15
TARGET_REPORT_SECONDS = 5
TARGET_PEAK_RSS_MB = 400
TARGET_P95_MS = 100

# Bounds of the API latency loop, so it always stops by itself.
MAX_STATUS_REQUESTS = 2_000
MAX_STATUS_SECONDS = 60
MAX_TRIGGERED_REPORTS = 3
SERVER_START_SECONDS = 30
SERVER_STOP_SECONDS = 10


class CommandFailed(RuntimeError):
    """A measured subprocess exited with a non-zero status."""


@dataclass
class Measurement:
    """Wall time, CPU time and peak resident memory of one finished subprocess."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


@dataclass
class ScalePoint:
    """Import and report cost at one data size."""

    factor: float
    stores: int
    polls: int
    import_seconds: float
    import_cpu_seconds: float
    report_seconds: float
    report_cpu_seconds: float
    report_peak_rss_mb: float


@dataclass
class Results:
    """Every figure the benchmark prints and writes to `.bench/last.json`."""

    date: str
    command: str
    revision: str
    machine: dict
    stores: int
    days: int
    seed: int
    polls: int
    population: str
    import_seconds: float = 0.0
    import_cpu_seconds: float = 0.0
    import_peak_rss_mb: float = 0.0
    report_seconds: float = 0.0
    report_cpu_seconds: float = 0.0
    report_peak_rss_mb: float = 0.0
    polls_per_second: float = 0.0
    batch_check: str = "not run"
    batch_check_detail: str = ""
    batch_one_seconds: float = 0.0
    status_requests: int = 0
    status_p50_ms: float = 0.0
    status_p95_ms: float = 0.0
    status_max_ms: float = 0.0
    api_report_seconds: list = field(default_factory=list)
    benchmark_process_rss_mb: float = 0.0
    scaling: list = field(default_factory=list)


# -- data sets ------------------------------------------------------------------


def ensure_dataset(stores, days, seed):
    """Generate the data set into the cache unless it is there; return its folder and counts."""
    folder = CACHE_DIR / f"data-{stores}-{days}-{seed}"
    counts_path = folder / "counts.json"
    if counts_path.exists():
        return folder, json.loads(counts_path.read_text(encoding="utf-8"))

    population = POPULATION_DIR if (POPULATION_DIR / "menu_hours.csv").exists() else None
    print(f"Generating {stores:,} stores x {days} days into {folder} ...", flush=True)
    started = time.perf_counter()

    # Generate beside the final folder and rename it, so that an interrupted
    # run never leaves a half-written data set that looks complete.
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    counts = generate_in_subprocess(partial, stores, days, seed, population)
    counts["population"] = str(population) if population else "built-in sample"
    (partial / "counts.json").write_text(json.dumps(counts, indent=2), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)

    print(f"  {counts['polls']:,} polls in {time.perf_counter() - started:.1f} s", flush=True)
    return folder, counts


def generate_in_subprocess(folder, stores, days, seed, population):
    """Run the generator in a child process and return its row counts.

    The benchmark process itself stays small this way. That matters because
    Linux carries a process's peak RSS over into the programs its children
    exec, so a large benchmark process would inflate every measured peak.
    """
    command = [sys.executable, "-m", "lpkit.generator", str(folder), "--stores", str(stores), "--days", str(days), "--seed", str(seed)]
    if population is not None:
        command += ["--population", str(population)]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if completed.returncode != 0:
        raise CommandFailed(f"{' '.join(command)} exited with {completed.returncode}:\n{completed.stderr[-2000:]}")

    counts = {}
    for line in completed.stdout.splitlines():
        name, _, value = line.partition(": ")
        if name in ("stores", "polls", "menu_hours_rows", "timezone_rows"):
            counts[name] = int(value)
    return counts


def write_subset(source, target, store_count, seed):
    """Copy the rows of `store_count` stores from the data set in `source` to `target`; return the ids."""
    store_ids = set()
    for name in DATA_FILES:
        with open(source / name, encoding="utf-8", newline="") as data_file:
            reader = csv.reader(data_file)
            next(reader)
            store_ids.update(row[0] for row in reader)

    chosen = set(random.Random(seed).sample(sorted(store_ids), min(store_count, len(store_ids))))
    target.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        with open(source / name, encoding="utf-8", newline="") as data_file, open(
            target / name, "w", encoding="utf-8", newline=""
        ) as subset_file:
            subset_file.write(data_file.readline())
            subset_file.writelines(line for line in data_file if line.split(",", 1)[0] in chosen)
    return chosen


# -- subprocesses -----------------------------------------------------------------


def lpkit_environment(work_dir, **extra):
    """Return the environment for a CLI or server run against the database in `work_dir`."""
    environment = dict(os.environ)
    ignored = ("FLASK_DEBUG", "FLASK_RUN_PORT", "FLASK_RUN_HOST", "LPKIT_STORE_BATCH_SIZE", "LPKIT_POLL_BATCH_SIZE", "LPKIT_API_TOKEN")
    for name in ignored:
        environment.pop(name, None)
    environment["LPKIT_DATABASE"] = str(work_dir / "lpkit.sqlite")
    environment["LPKIT_REPORTS_DIR"] = str(work_dir / "reports")
    environment.update(extra)
    return environment


def flask_command(*arguments):
    return [sys.executable, "-m", "flask", "--app", "lpkit", *arguments]


def run_measured(command, environment, log_dir):
    """Run a command to completion; return its wall seconds, peak RSS and output.

    The peak RSS is the child's ru_maxrss as returned by os.wait4, which Linux
    reports in kilobytes. It is at least this process's own peak RSS at the
    time of the fork, so `benchmark_process_rss_mb` in the results is its floor.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = log_dir / "stdout.txt"
    stderr_path = log_dir / "stderr.txt"
    with open(stdout_path, "wb") as stdout_file, open(stderr_path, "wb") as stderr_file:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=stdout_file, stderr=stderr_file)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)

    stdout = stdout_path.read_text(encoding="utf-8", errors="replace")
    stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0:
        raise CommandFailed(f"{' '.join(command)} exited with {process.returncode}:\n{stderr[-2000:]}")
    return Measurement(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout, stderr)


def import_data(data_dir, work_dir):
    """Import a data set into a fresh database in `work_dir`; return the measurement."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return run_measured(flask_command("import-data", str(data_dir)), lpkit_environment(work_dir), work_dir / "import-log")


def run_report(work_dir, output, pivot=None, **environment):
    """Compute a report with the CLI into `output`; return the measurement."""
    arguments = ["report", "--output", str(output)]
    if pivot:
        arguments += ["--pivot", pivot]
    log_dir = work_dir / f"log-{output.stem}"
    return run_measured(flask_command(*arguments), lpkit_environment(work_dir, **environment), log_dir)


def report_pivot(measurement):
    """Return the pivot the report command printed, e.g. 2023-01-25T17:59:59.880411Z."""
    match = re.search(r" as of (\S+)", measurement.stderr)
    if match is None:
        raise CommandFailed(f"the report command printed no pivot:\n{measurement.stderr[-2000:]}")
    return match.group(1)


# -- the checks ---------------------------------------------------------------------


def read_report_rows(path):
    with open(path, encoding="utf-8", newline="") as report_file:
        return {row[0]: row for row in csv.reader(report_file)}


def check_batch_sizes(data_dir, work_dir, full_report, pivot, seed):
    """Compare subset reports with batch sizes 1 and default, and with the full report's rows.

    Returns (PASS or FAIL, detail, seconds of the batch-size-1 run).
    """
    subset_dir = work_dir / "data"
    chosen = write_subset(data_dir, subset_dir, SUBSET_STORES, seed)
    import_data(subset_dir, work_dir)

    default_report = work_dir / "default.csv"
    single_report = work_dir / "batch-one.csv"
    run_report(work_dir, default_report, pivot)
    single = run_report(work_dir, single_report, pivot, LPKIT_STORE_BATCH_SIZE="1", LPKIT_POLL_BATCH_SIZE="1")

    problems = []
    if default_report.read_bytes() != single_report.read_bytes():
        problems.append("batch sizes 1 and default give different reports")

    default_rows = read_report_rows(default_report)
    full_rows = read_report_rows(full_report)
    subset_ids = set(default_rows) - {"store_id"}
    if subset_ids != chosen:
        problems.append(f"the subset report has {len(subset_ids)} stores, expected {len(chosen)}")
    differing = sorted(store_id for store_id in subset_ids if default_rows[store_id] != full_rows.get(store_id))
    if differing:
        problems.append(f"{len(differing)} stores differ from the full report, e.g. {differing[0]}")

    verdict = "FAIL" if problems else "PASS"
    detail = "; ".join(problems) or f"{len(subset_ids)} stores identical with batch sizes 1, default and in the full report"
    return verdict, detail, single.seconds


# -- the API ----------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The server gets a token of its own, as a deployment would, so the timed
# requests include the token check.
API_TOKEN = secrets.token_urlsafe(24)


def http_request(url, method="GET", accept="application/json"):
    """Send one request; return (status code, headers, body bytes) for any HTTP response."""
    headers = {"Accept": accept, "Authorization": f"Bearer {API_TOKEN}"}
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def start_server(work_dir):
    """Start `flask run` on a free 127.0.0.1 port; return the process and the base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_file = open(work_dir / "server-log.txt", "wb")
    process = subprocess.Popen(
        flask_command("run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"),
        cwd=REPO,
        env=lpkit_environment(work_dir, LPKIT_API_TOKEN=API_TOKEN),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()

    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandFailed(f"the server exited with {process.returncode}; see {work_dir / 'server-log.txt'}")
        try:
            http_request(f"{base_url}/get_report")
            return process, base_url
        except (ConnectionError, urllib.error.URLError):
            time.sleep(0.2)
    stop_server(process)
    raise CommandFailed(f"the server did not respond within {SERVER_START_SECONDS} s; see {work_dir / 'server-log.txt'}")


def stop_server(process):
    """Stop the server this script started, by its process id."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def poll_status(base_url, report_id, deadline, latencies_ms, budget):
    """Request the report's status until it is complete or a bound is reached.

    Only requests made while the report is still running are timed, because
    those compete with the report for the server process.
    """
    url = f"{base_url}/get_report?report_id={report_id}"
    while budget["requests"] > 0 and time.monotonic() < deadline:
        started = time.perf_counter()
        status, _, body = http_request(url)
        elapsed_ms = (time.perf_counter() - started) * 1000
        budget["requests"] -= 1
        if status != 200:
            raise CommandFailed(f"GET /get_report returned {status}: {body[:300]!r}")
        state = json.loads(body)["status"]
        if state != "Running":
            return state
        latencies_ms.append(elapsed_ms)
    return "Running"


def measure_api_latency(work_dir):
    """Trigger reports on a live server and time status requests made while they run.

    Returns the latencies in milliseconds and each report's seconds from trigger to complete.
    """
    process, base_url = start_server(work_dir)
    latencies_ms = []
    report_seconds = []
    budget = {"requests": MAX_STATUS_REQUESTS}
    deadline = time.monotonic() + MAX_STATUS_SECONDS
    try:
        for _ in range(MAX_TRIGGERED_REPORTS):
            started = time.perf_counter()
            status, _, body = http_request(f"{base_url}/trigger_report", method="POST")
            if status != 202:
                raise CommandFailed(f"POST /trigger_report returned {status}: {body[:300]!r}")
            report_id = json.loads(body)["report_id"]

            outcome = {}
            poller = threading.Thread(
                target=lambda: outcome.update(state=poll_status(base_url, report_id, deadline, latencies_ms, budget))
            )
            poller.start()
            poller.join()
            state = outcome.get("state")
            if state == "Running":
                print(f"  stopped polling report {report_id} at the request or time bound; it was still running", flush=True)
                break
            if state != "Complete":
                raise CommandFailed(f"report {report_id} ended as {state}; see {work_dir / 'server-log.txt'}")
            report_seconds.append(time.perf_counter() - started)

            status, headers, _ = http_request(f"{base_url}/get_report?report_id={report_id}", accept="text/csv")
            if status != 200 or headers.get("X-Report-Status") != "Complete":
                raise CommandFailed(f"the complete report {report_id} was not served as CSV (HTTP {status})")
            if budget["requests"] <= 0 or time.monotonic() >= deadline:
                break
    finally:
        stop_server(process)
    return latencies_ms, report_seconds


def percentile(values, fraction):
    """Return the nearest-rank percentile of `values` (0 when there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# -- scaling ------------------------------------------------------------------------


def measure_scaling(base_stores, days, seed, work_root, full_point):
    """Import and report at each scale factor, reusing the 1x figures already measured."""
    points = []
    for factor in SCALE_FACTORS:
        if factor == 1.0:
            points.append(full_point)
            continue
        stores = max(1, round(base_stores * factor))
        data_dir, counts = ensure_dataset(stores, days, seed)
        work_dir = work_root / f"scale-{factor}"
        imported = import_data(data_dir, work_dir)
        report = run_report(work_dir, work_dir / "report.csv")
        point = ScalePoint(
            factor, counts["stores"], counts["polls"], imported.seconds, imported.cpu_seconds,
            report.seconds, report.cpu_seconds, report.peak_rss_mb,
        )
        points.append(point)
        print(f"  {factor:g}x: {counts['polls']:,} polls, import {imported.seconds:.1f} s, report {report.seconds:.1f} s", flush=True)
    return points


# -- output -------------------------------------------------------------------------


def machine_description():
    cpu_model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }


def source_revision():
    """Return `git describe --always --dirty` for the measured tree, or "unknown" outside git."""
    try:
        completed = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return completed.stdout.strip() or "unknown"


def verdict(value, target, strict=False):
    met = value < target if strict else value <= target
    return "ok" if met else "MISSED"


def print_summary(results):
    """Print the figures beside their targets, the machine, and the scaling table."""
    peak_rss = max(results.import_peak_rss_mb, results.report_peak_rss_mb)

    # CPU time (user + system) is shown beside wall time because it moves
    # much less than wall time when other processes share the CPUs.
    rows = [
        ("import", f"{results.import_seconds:.2f} s (CPU {results.import_cpu_seconds:.2f})", f"<= {TARGET_IMPORT_SECONDS} s", verdict(results.import_seconds, TARGET_IMPORT_SECONDS)),
        ("report", f"{results.report_seconds:.2f} s (CPU {results.report_cpu_seconds:.2f})", f"<= {TARGET_REPORT_SECONDS} s", verdict(results.report_seconds, TARGET_REPORT_SECONDS)),
        ("peak RSS, import", f"{results.import_peak_rss_mb:.0f} MB", f"<= {TARGET_PEAK_RSS_MB} MB", verdict(results.import_peak_rss_mb, TARGET_PEAK_RSS_MB)),
        ("peak RSS, report", f"{results.report_peak_rss_mb:.0f} MB", f"<= {TARGET_PEAK_RSS_MB} MB", verdict(results.report_peak_rss_mb, TARGET_PEAK_RSS_MB)),
        ("report throughput", f"{results.polls_per_second:,.0f} polls/s", "", ""),
        ("batch sizes 1 vs default", results.batch_check, "PASS", "ok" if results.batch_check == "PASS" else "MISSED"),
        ("GET /get_report p50", f"{results.status_p50_ms:.1f} ms", "", ""),
        ("GET /get_report p95", f"{results.status_p95_ms:.1f} ms", f"< {TARGET_P95_MS} ms", verdict(results.status_p95_ms, TARGET_P95_MS, strict=True)),
    ]

    print()
    print(f"lpkit benchmark, {results.stores:,} stores x {results.days} days, {results.polls:,} polls ({results.date})")
    machine = results.machine
    print(f"source revision {results.revision}")
    print(
        f"{machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gb']} GB, Python {machine['python']}, "
        f"load average at start {' '.join(str(load) for load in machine['load_average_at_start'])}"
    )

    print(f"{'measure':<26} {'value':>26}  {'target':<10} {'':6}")
    for name, value, target, mark in rows:
        print(f"{name:<26} {value:>26}  {target:<10} {mark}")

    print(f"peak RSS overall: {peak_rss:.0f} MB (this script's own: {results.benchmark_process_rss_mb:.0f} MB)")
    print(f"batch check: {results.batch_check_detail} (batch sizes 1 took {results.batch_one_seconds:.2f} s)")
    print(f"status requests timed while a report ran: {results.status_requests} (max {results.status_max_ms:.1f} ms)")
    if results.api_report_seconds:
        print("reports through the API, trigger to complete: " + ", ".join(f"{seconds:.2f} s" for seconds in results.api_report_seconds))

    print()
    print(f"{'scale':>6} {'stores':>8} {'polls':>11} {'import s':>9} {'CPU s':>7} {'report s':>9} {'CPU s':>7} {'report RSS MB':>14}")
    for point in results.scaling:
        print(
            f"{point['factor']:>5g}x {point['stores']:>8,} {point['polls']:>11,} "
            f"{point['import_seconds']:>9.2f} {point['import_cpu_seconds']:>7.2f} "
            f"{point['report_seconds']:>9.2f} {point['report_cpu_seconds']:>7.2f} {point['report_peak_rss_mb']:>14.0f}"
        )


# -- main ---------------------------------------------------------------------------


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="Benchmark lpkit's import, report and API on generated data.")
    parser.add_argument("--stores", type=int, help=f"stores in the data set (default: {FULL_STORES:,}, or {SMOKE_STORES} with --smoke)")
    parser.add_argument("--days", type=int, help=f"days of polls (default: {FULL_DAYS}, or {SMOKE_DAYS} with --smoke)")
    parser.add_argument("--seed", type=int, default=2023, help="generator seed (default: 2023)")
    parser.add_argument("--smoke", action="store_true", help="run every step at a tiny size, in well under a minute")
    parser.add_argument("--keep", action="store_true", help="keep the temporary databases and reports and print their folder")
    arguments = parser.parse_args(argv)
    if arguments.stores is None:
        arguments.stores = SMOKE_STORES if arguments.smoke else FULL_STORES
    if arguments.days is None:
        arguments.days = SMOKE_DAYS if arguments.smoke else FULL_DAYS
    return arguments


def run_benchmark(arguments, work_root):
    """Run every step and return the results."""
    data_dir, counts = ensure_dataset(arguments.stores, arguments.days, arguments.seed)
    results = Results(
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command=" ".join([Path(sys.executable).name, "bench/benchmark.py", *sys.argv[1:]]),
        revision=source_revision(),
        machine=machine_description(),
        stores=counts["stores"],
        days=arguments.days,
        seed=arguments.seed,
        polls=counts["polls"],
        population=counts["population"],
    )

    print("Importing ...", flush=True)
    full_dir = work_root / "full"
    imported = import_data(data_dir, full_dir)
    print(imported.stdout.rstrip(), flush=True)
    results.import_seconds = imported.seconds
    results.import_cpu_seconds = imported.cpu_seconds
    results.import_peak_rss_mb = imported.peak_rss_mb

    print("Computing the full report ...", flush=True)
    full_report = full_dir / "report.csv"
    report = run_report(full_dir, full_report)
    results.report_seconds = report.seconds
    results.report_cpu_seconds = report.cpu_seconds
    results.report_peak_rss_mb = report.peak_rss_mb
    results.polls_per_second = counts["polls"] / report.seconds

    print(f"Checking batch sizes on a {min(SUBSET_STORES, results.stores)}-store subset ...", flush=True)
    verdict_text, detail, single_seconds = check_batch_sizes(
        data_dir, work_root / "subset", full_report, report_pivot(report), arguments.seed
    )
    results.batch_check, results.batch_check_detail, results.batch_one_seconds = verdict_text, detail, single_seconds
    print(f"  {verdict_text}: {detail}", flush=True)

    print("Timing GET /get_report while reports run on a live server ...", flush=True)
    latencies_ms, api_seconds = measure_api_latency(full_dir)
    results.status_requests = len(latencies_ms)
    results.status_p50_ms = percentile(latencies_ms, 0.50)
    results.status_p95_ms = percentile(latencies_ms, 0.95)
    results.status_max_ms = max(latencies_ms, default=0.0)
    results.api_report_seconds = api_seconds

    print("Measuring how report time grows with the data ...", flush=True)
    full_point = ScalePoint(
        1.0, counts["stores"], counts["polls"], imported.seconds, imported.cpu_seconds,
        report.seconds, report.cpu_seconds, report.peak_rss_mb,
    )
    results.scaling = [asdict(point) for point in measure_scaling(arguments.stores, arguments.days, arguments.seed, work_root, full_point)]
    results.benchmark_process_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def main(argv=None):
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    CACHE_DIR.mkdir(exist_ok=True)
    work_root = Path(tempfile.mkdtemp(prefix="lpkit-bench-"))
    try:
        results = run_benchmark(arguments, work_root)
    except CommandFailed as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        if arguments.keep:
            print(f"Databases and reports kept in {work_root}")
        else:
            shutil.rmtree(work_root, ignore_errors=True)

    print_summary(results)
    (CACHE_DIR / "last.json").write_text(json.dumps(asdict(results), indent=2) + "\n", encoding="utf-8")
    print(f"\nWritten to {CACHE_DIR / 'last.json'}")
    return 0 if results.batch_check == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
