"""Deterministic generator of poll, business-hours and timezone exports.

The files match the public Loop store-monitoring exports column for column.
Without a population folder the generator invents a small sample data set.
With one, it takes stores, business hours and time zones from real
`menu_hours.csv` and `timezones.csv` files and invents only the polls. The
benchmark builds its full-scale data that way.

Every random choice comes from one `random.Random(seed)`, so the same
arguments always give byte-identical files.
"""

import argparse
import csv
import logging
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_END = datetime(2023, 1, 25, 18, 0, tzinfo=timezone.utc)
FULL_SCALE_STORES = 14_000

STATUS_HEADER = ("store_id", "status", "timestamp_utc")
HOURS_HEADER = ("store_id", "day", "start_time_local", "end_time_local")
TIMEZONES_HEADER = ("store_id", "timezone_str")

# Share of stores that only appear in polls when a real population is used:
# the full-scale set has about 600 of them among 14,000 stores.
POLL_ONLY_SHARE = 600 / FULL_SCALE_STORES

# The poll model. Each store has its own chance of being polled in a given
# UTC hour, drawn from POLL_RATE_RANGE. Gaps of several hours without a poll
# and outages (runs of inactive polls) start at random hours. With these
# values the mean is about 16 polls per store and day.
POLL_RATE_RANGE = (0.45, 0.95)
GAP_START_CHANCE = 0.01
GAP_HOURS_RANGE = (2, 8)
OUTAGE_START_CHANCE = 0.01
OUTAGE_HOURS_RANGE = (2, 10)
SILENT_STORE_SHARE = 0.01
DUPLICATE_CHANCE = 0.0001

MICROSECONDS_PER_HOUR = 3_600_000_000
SECONDS_PER_HOUR = 3_600
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

SAMPLE_ZONES = (
    ("America/New_York", 40),
    ("America/Chicago", 20),
    ("America/Los_Angeles", 20),
    ("America/Denver", 8),
    ("America/Phoenix", 6),
    ("Asia/Kolkata", 3),
    ("Pacific/Honolulu", 1),
)
NO_TIMEZONE_SHARE = 0.03

FULL_DAY = ("00:00:00", "23:59:59")
SPLIT_SHIFTS = (("11:00:00", "14:00:00"), ("17:00:00", "22:00:00"))
OVERNIGHT_SHIFTS = (("22:00:00", "02:00:00"), ("18:00:00", "01:30:00"), ("20:00:00", "04:00:00"))

# Business-hours profiles of the sample and their weights. The first stores
# of the sample get one profile each so that every case is always present.
SAMPLE_PROFILES = (
    ("regular", 40),
    ("split", 15),
    ("overnight", 8),
    ("full_day_rows", 7),
    ("weekdays", 10),
    ("always_open", 20),
)


@dataclass
class Store:
    """One store of a generated data set: its id, zone name and business hours."""

    store_id: str
    timezone_name: str | None
    hours: list[tuple[str, str, str]] = field(default_factory=list)


def generate_dataset(output_dir, *, stores=300, days=9, seed=2023, end=None, population_dir=None, progress=None):
    """Write store_status.csv, menu_hours.csv and timezones.csv into output_dir.

    Polls cover the `days` days before `end` (an aware datetime, default
    2023-01-25 18:00 UTC). Returns the row counts and the three file paths.
    """
    if stores < 1:
        raise ValueError(f"invalid store count {stores}; pass 1 or more")
    if days < 1:
        raise ValueError(f"invalid day count {days}; pass 1 or more")
    end = DEFAULT_END if end is None else _as_utc(end)

    rng = random.Random(seed)
    if population_dir is None:
        population = _sample_population(rng, stores)
    else:
        population = _real_population(rng, Path(population_dir), stores)

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    status_path = output / "store_status.csv"
    hours_path = output / "menu_hours.csv"
    timezones_path = output / "timezones.csv"

    hours_rows = _write_hours(hours_path, population)
    timezone_rows = _write_timezones(timezones_path, population)
    poll_rows = _write_polls(
        status_path,
        population,
        rng,
        end=end,
        days=days,
        duplicate_chance=0.0 if population_dir is None else DUPLICATE_CHANCE,
        progress=progress,
    )
    log.info("generated %d stores, %d polls and %d business-hours rows in %s", len(population), poll_rows, hours_rows, output)

    return {
        "stores": len(population),
        "polls": poll_rows,
        "menu_hours_rows": hours_rows,
        "timezone_rows": timezone_rows,
        "store_status_path": str(status_path),
        "menu_hours_path": str(hours_path),
        "timezones_path": str(timezones_path),
    }


def _as_utc(moment):
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"end {moment.isoformat()} has no time zone; pass an aware datetime such as 2023-01-25T18:00:00+00:00")
    return moment.astimezone(timezone.utc)


def _new_store_ids(rng, count, existing_ids):
    """Draw `count` distinct 19-digit decimal ids, adding each to the set `existing_ids`."""
    ids = []
    while len(ids) < count:
        candidate = str(rng.randrange(10**18, 2**63))
        if candidate not in existing_ids:
            existing_ids.add(candidate)
            ids.append(candidate)
    return ids


# -- the sample population ----------------------------------------------------


def _sample_population(rng, count):
    """Invent `count` stores with varied zones and business hours."""
    store_ids = _new_store_ids(rng, count, set())
    zone_names = [name for name, _ in SAMPLE_ZONES]
    zone_weights = [weight for _, weight in SAMPLE_ZONES]
    profile_names = [name for name, _ in SAMPLE_PROFILES]
    profile_weights = [weight for _, weight in SAMPLE_PROFILES]

    # Fixed cases first, so that even a small sample contains each of them.
    fixed = [
        ("Asia/Kolkata", "regular"),
        ("America/New_York", "overnight"),
        ("America/Chicago", "always_open"),
        ("America/Los_Angeles", "split"),
        (None, "regular"),
        ("America/Denver", "full_day_rows"),
        ("America/Phoenix", "weekdays"),
    ]

    population = []
    for index, store_id in enumerate(store_ids):
        if index < len(fixed):
            zone, profile = fixed[index]
        else:
            zone = None if rng.random() < NO_TIMEZONE_SHARE else rng.choices(zone_names, zone_weights)[0]
            profile = rng.choices(profile_names, profile_weights)[0]
        population.append(Store(store_id, zone, _sample_hours(rng, profile)))
    return population


def _sample_hours(rng, profile):
    """Return (day, start, end) rows for one store of the given profile."""
    if profile == "always_open":
        return []

    open_days = list(range(7))
    if profile == "weekdays":
        open_days = list(range(5))
    elif rng.random() < 0.3:
        open_days.remove(rng.randrange(7))

    if profile == "regular":
        opening = f"{rng.randrange(6, 12):02d}:{rng.choice((0, 30)):02d}:00"
        closing = f"{rng.randrange(17, 24):02d}:{rng.choice((0, 30)):02d}:00"
        shifts = [(opening, closing)]
    elif profile == "split":
        shifts = list(SPLIT_SHIFTS)
    elif profile == "overnight":
        shifts = [rng.choice(OVERNIGHT_SHIFTS)]
    elif profile == "full_day_rows":
        shifts = [FULL_DAY]
    else:
        shifts = [("09:00:00", "17:00:00")]

    return [(str(day), start, end) for day in open_days for start, end in shifts]


# -- a real population ----------------------------------------------------------


def _real_population(rng, folder, count):
    """Pick `count` stores from real exports in `folder`, adding poll-only stores.

    When `count` exceeds the real stores, copies of random real stores with
    new ids (same hours and zone) make up the difference.
    """
    hours_by_store = _read_real_hours(folder / "menu_hours.csv")
    zone_by_store = _read_real_timezones(folder / "timezones.csv")
    real_ids = sorted(set(hours_by_store) | set(zone_by_store))
    if not real_ids:
        raise ValueError(f"{folder} has no stores in menu_hours.csv or timezones.csv; point population_dir at the real exports")

    poll_only_count = round(count * POLL_ONLY_SHARE)
    real_count = count - poll_only_count
    existing_ids = set(real_ids)

    if real_count <= len(real_ids):
        chosen = [(store_id, store_id) for store_id in sorted(rng.sample(real_ids, real_count))]
    else:
        copies = real_count - len(real_ids)
        templates = [rng.choice(real_ids) for _ in range(copies)]
        copy_ids = _new_store_ids(rng, copies, existing_ids)
        chosen = [(store_id, store_id) for store_id in real_ids] + list(zip(copy_ids, templates))

    population = [
        Store(store_id, zone_by_store.get(template), hours_by_store.get(template, []))
        for store_id, template in chosen
    ]
    population.extend(Store(store_id, None) for store_id in _new_store_ids(rng, poll_only_count, existing_ids))
    return population


def _read_real_hours(path):
    hours_by_store = {}
    with open(path, encoding="utf-8-sig", newline="") as source:
        reader = csv.DictReader(source)
        day_column = _day_column(reader.fieldnames or [], path)
        for row in reader:
            hours = (row[day_column].strip(), row["start_time_local"].strip(), row["end_time_local"].strip())
            hours_by_store.setdefault(row["store_id"].strip(), []).append(hours)
    return hours_by_store


def _day_column(fieldnames, path):
    for name in ("day", "dayOfWeek", "day_of_week"):
        if name in fieldnames:
            return name
    raise ValueError(f"{path} has no day column; expected one named day, dayOfWeek or day_of_week")


def _read_real_timezones(path):
    with open(path, encoding="utf-8-sig", newline="") as source:
        return {row["store_id"].strip(): row["timezone_str"].strip() for row in csv.DictReader(source)}


# -- writing ------------------------------------------------------------------


def _write_hours(path, population):
    rows = [HOURS_HEADER]
    for store in population:
        rows.extend((store.store_id, day, start, end) for day, start, end in store.hours)
    _write_rows(path, rows)
    return len(rows) - 1


def _write_timezones(path, population):
    rows = [TIMEZONES_HEADER]
    rows.extend((store.store_id, store.timezone_name) for store in population if store.timezone_name)
    _write_rows(path, rows)
    return len(rows) - 1


def _write_rows(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as target:
        target.write("".join(",".join(row) + "\n" for row in rows))


@dataclass
class _PollState:
    """The per-store state of the poll model while hours are generated in order."""

    poll_rate: float
    silent: bool
    gap_hours_left: int = 0
    outage_hours_left: int = 0


def _write_polls(path, population, rng, *, end, days, duplicate_chance, progress):
    """Write roughly hourly polls for every store, oldest hour first.

    Within one UTC hour the rows follow the store order while their
    timestamps are jittered, so the file is only roughly in time order, as
    real exports are. Returns the number of rows written.
    """
    states = [
        _PollState(poll_rate=rng.uniform(*POLL_RATE_RANGE), silent=rng.random() < SILENT_STORE_SHARE)
        for _ in population
    ]
    store_ids = [store.store_id for store in population]
    hour_count = days * 24
    first_hour_us = _epoch_us(end) - hour_count * MICROSECONDS_PER_HOUR
    prefixes = _HourPrefixes()
    written = 0

    with open(path, "w", encoding="utf-8", newline="") as target:
        target.write(",".join(STATUS_HEADER) + "\n")
        for hour in range(hour_count):
            hour_start_us = first_hour_us + hour * MICROSECONDS_PER_HOUR
            lines = []
            for store_id, state in zip(store_ids, states):
                status = _next_status(rng, state)
                if status is None:
                    continue
                offset_us = int(rng.random() * MICROSECONDS_PER_HOUR)
                line = f"{store_id},{status},{prefixes.format(hour_start_us + offset_us)}\n"
                lines.append(line)
                if duplicate_chance and rng.random() < duplicate_chance:
                    lines.append(line)
            target.write("".join(lines))
            written += len(lines)
            if progress is not None:
                progress(hour + 1, hour_count)
    return written


def _next_status(rng, state):
    """Advance one store by one hour; return its poll status, or None for no poll."""
    if state.silent:
        return None

    in_outage = state.outage_hours_left > 0
    if in_outage:
        state.outage_hours_left -= 1
    elif rng.random() < OUTAGE_START_CHANCE:
        state.outage_hours_left = rng.randint(*OUTAGE_HOURS_RANGE) - 1
        in_outage = True

    if state.gap_hours_left > 0:
        state.gap_hours_left -= 1
        return None
    if rng.random() < GAP_START_CHANCE:
        state.gap_hours_left = rng.randint(*GAP_HOURS_RANGE) - 1
        return None
    if rng.random() >= state.poll_rate:
        return None
    return "inactive" if in_outage else "active"


def _epoch_us(moment):
    return (moment - EPOCH) // timedelta(microseconds=1)


class _HourPrefixes:
    """Formats epoch microseconds as export timestamps, caching each hour's date part."""

    def __init__(self):
        self._prefixes = {}

    def format(self, instant_us):
        """Return e.g. `2023-01-22 12:09:39.388884 UTC` for an instant in microseconds.

        Trailing zeros of the fraction are dropped (`.32016`, or no fraction
        at all for a whole second), as in the real exports.
        """
        seconds, micros = divmod(instant_us, 1_000_000)
        hour_index, second_of_hour = divmod(seconds, SECONDS_PER_HOUR)
        prefix = self._prefixes.get(hour_index)
        if prefix is None:
            prefix = (EPOCH + timedelta(hours=hour_index)).strftime("%Y-%m-%d %H:")
            self._prefixes[hour_index] = prefix
        minute, second = divmod(second_of_hour, 60)
        fraction = f"{micros:06d}".rstrip("0")
        if fraction:
            return f"{prefix}{minute:02d}:{second:02d}.{fraction} UTC"
        return f"{prefix}{minute:02d}:{second:02d} UTC"


# -- command line ---------------------------------------------------------------


def _parse_end(text):
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def main(argv=None):
    """Run the generator from the command line and print the counts."""
    parser = argparse.ArgumentParser(
        prog="python -m lpkit.generator",
        description="Write deterministic store_status.csv, menu_hours.csv and timezones.csv files.",
    )
    parser.add_argument("output_dir", help="folder for the three CSV files (created if missing)")
    parser.add_argument(
        "--stores",
        type=int,
        help=f"number of stores (default: 300, or {FULL_SCALE_STORES:,} with --population)",
    )
    parser.add_argument("--days", type=int, default=9, help="days of polls before the end instant (default: 9)")
    parser.add_argument("--seed", type=int, default=2023, help="random seed (default: 2023)")
    parser.add_argument(
        "--end",
        type=_parse_end,
        help="newest poll instant as ISO 8601, UTC when no offset is given (default: 2023-01-25T18:00:00Z)",
    )
    parser.add_argument(
        "--population",
        metavar="DIR",
        help="folder with real menu_hours.csv and timezones.csv to take stores, hours and zones from",
    )
    arguments = parser.parse_args(argv)

    stores = arguments.stores
    if stores is None:
        stores = FULL_SCALE_STORES if arguments.population else 300
    try:
        counts = generate_dataset(
            arguments.output_dir,
            stores=stores,
            days=arguments.days,
            seed=arguments.seed,
            end=arguments.end,
            population_dir=arguments.population,
        )
    except (OSError, ValueError) as error:
        parser.exit(1, f"error: {error}\n")

    for name, value in counts.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
