import csv
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta, timezone

import pytest
import pytz

from lpkit.generator import DEFAULT_END, generate_dataset, main

FILE_NAMES = ("store_status.csv", "menu_hours.csv", "timezones.csv")


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as source:
        return list(csv.reader(source))


def parse_export_timestamp(text):
    assert text.endswith(" UTC"), text
    moment = datetime.strptime(text[:-4], "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S")
    return moment.replace(tzinfo=timezone.utc)


def assert_store_id(store_id):
    assert len(store_id) == 19, store_id
    assert store_id.isdigit(), store_id
    assert int(store_id) < 2**63, store_id


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    counts = generate_dataset(folder)
    return folder, counts


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    """A tiny stand-in for the real exports, with the real header names."""
    folder = tmp_path_factory.mktemp("population")
    (folder / "menu_hours.csv").write_text(
        "store_id,day,start_time_local,end_time_local\n"
        "1481966498820158979,4,00:00:00,00:10:00\n"
        "1481966498820158979,5,10:00:00,22:00:00\n"
        "5415949628544298339,0,22:00:00,02:00:00\n"
        "8139926242460185114,1,09:00:00,17:00:00\n",
        encoding="utf-8",
    )
    (folder / "timezones.csv").write_text(
        "store_id,timezone_str\n"
        "8139926242460185114,Asia/Beirut\n"
        "5415949628544298339,America/Boise\n"
        "3408529570017053440,America/Denver\n",
        encoding="utf-8",
    )
    return folder


def test_same_arguments_give_identical_bytes(tmp_path):
    for name in ("first", "second"):
        generate_dataset(tmp_path / name, stores=40, days=2, seed=7)

    for file_name in FILE_NAMES:
        assert (tmp_path / "first" / file_name).read_bytes() == (tmp_path / "second" / file_name).read_bytes()


def test_other_seed_gives_other_stores(tmp_path):
    generate_dataset(tmp_path / "a", stores=20, days=1, seed=1)
    generate_dataset(tmp_path / "b", stores=20, days=1, seed=2)

    ids_a = {row[0] for row in read_rows(tmp_path / "a" / "store_status.csv")[1:]}
    ids_b = {row[0] for row in read_rows(tmp_path / "b" / "store_status.csv")[1:]}
    assert ids_a.isdisjoint(ids_b)


def test_global_random_state_untouched(tmp_path):
    import random

    random.seed(99)
    expected = random.random()
    random.seed(99)
    generate_dataset(tmp_path, stores=10, days=1)
    assert random.random() == expected


def test_sample_headers(sample):
    folder, _ = sample
    assert read_rows(folder / "store_status.csv")[0] == ["store_id", "status", "timestamp_utc"]
    assert read_rows(folder / "menu_hours.csv")[0] == ["store_id", "day", "start_time_local", "end_time_local"]
    assert read_rows(folder / "timezones.csv")[0] == ["store_id", "timezone_str"]


def test_sample_encoding_and_line_ends(sample):
    folder, _ = sample
    for file_name in FILE_NAMES:
        data = (folder / file_name).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf"), file_name
        assert b"\r" not in data, file_name
        assert data.endswith(b"\n"), file_name
        data.decode("utf-8")


def test_sample_counts_match_files(sample):
    folder, counts = sample
    assert counts["stores"] == 300
    assert counts["polls"] == len(read_rows(folder / "store_status.csv")) - 1
    assert counts["menu_hours_rows"] == len(read_rows(folder / "menu_hours.csv")) - 1
    assert counts["timezone_rows"] == len(read_rows(folder / "timezones.csv")) - 1
    assert counts["store_status_path"] == str(folder / "store_status.csv")


def test_sample_size_stays_small(sample):
    _, counts = sample
    assert 20_000 <= counts["polls"] <= 50_000


def test_sample_has_kolkata_store(sample):
    folder, _ = sample
    zones = {row[1] for row in read_rows(folder / "timezones.csv")[1:]}
    assert "Asia/Kolkata" in zones
    assert {"America/New_York", "America/Chicago", "America/Los_Angeles", "America/Denver", "America/Phoenix"} <= zones


def test_sample_has_store_without_timezone(sample):
    folder, _ = sample
    polled = {row[0] for row in read_rows(folder / "store_status.csv")[1:]}
    zoned = {row[0] for row in read_rows(folder / "timezones.csv")[1:]}
    assert polled - zoned


def test_sample_has_overnight_row(sample):
    folder, _ = sample
    rows = read_rows(folder / "menu_hours.csv")[1:]
    assert ["22:00:00", "02:00:00"] in [row[2:] for row in rows]


def test_sample_has_split_shift_and_full_day(sample):
    folder, _ = sample
    shifts = defaultdict(list)
    for store_id, day, start, end in read_rows(folder / "menu_hours.csv")[1:]:
        shifts[store_id, day].append((start, end))

    assert any(len(day_shifts) >= 2 for day_shifts in shifts.values())
    assert any(("00:00:00", "23:59:59") in day_shifts for day_shifts in shifts.values())


def test_sample_has_closed_day(sample):
    folder, _ = sample
    days_by_store = defaultdict(set)
    for store_id, day, _, _ in read_rows(folder / "menu_hours.csv")[1:]:
        days_by_store[store_id].add(day)
    assert any(len(days) < 7 for days in days_by_store.values())


def test_sample_has_always_open_store(sample):
    folder, _ = sample
    polled = {row[0] for row in read_rows(folder / "store_status.csv")[1:]}
    with_hours = {row[0] for row in read_rows(folder / "menu_hours.csv")[1:]}
    assert polled - with_hours


def test_sample_has_outage_run(sample):
    folder, _ = sample
    statuses = defaultdict(list)
    for store_id, status, timestamp in read_rows(folder / "store_status.csv")[1:]:
        statuses[store_id].append((parse_export_timestamp(timestamp), status))

    longest_run = 0
    for polls in statuses.values():
        run = 0
        for _, status in sorted(polls):
            run = run + 1 if status == "inactive" else 0
            longest_run = max(longest_run, run)
    assert longest_run >= 3


def test_sample_polls_have_gaps(sample):
    folder, _ = sample
    hours_by_store = defaultdict(set)
    for store_id, _, timestamp in read_rows(folder / "store_status.csv")[1:]:
        hours_by_store[store_id].add(parse_export_timestamp(timestamp).replace(minute=0, second=0, microsecond=0))

    all_hours = 9 * 24
    assert any(0 < len(hours) < all_hours for hours in hours_by_store.values())


def test_sample_values_in_export_format(sample):
    folder, _ = sample
    start = DEFAULT_END - timedelta(days=9)
    polls = read_rows(folder / "store_status.csv")[1:]
    statuses = Counter()
    for store_id, status, timestamp in polls:
        assert_store_id(store_id)
        statuses[status] += 1
        assert start <= parse_export_timestamp(timestamp) < DEFAULT_END, timestamp
    assert set(statuses) == {"active", "inactive"}

    for store_id, day, start_time, end_time in read_rows(folder / "menu_hours.csv")[1:]:
        assert_store_id(store_id)
        assert day in {"0", "1", "2", "3", "4", "5", "6"}, day
        for text in (start_time, end_time):
            assert len(text) == 8, text
            time.fromisoformat(text)

    for store_id, zone in read_rows(folder / "timezones.csv")[1:]:
        assert_store_id(store_id)
        pytz.timezone(zone)


def test_fraction_drops_trailing_zeros(sample):
    folder, _ = sample
    timestamps = [row[2] for row in read_rows(folder / "store_status.csv")[1:]]
    fractions = [timestamp[20:-4] for timestamp in timestamps if "." in timestamp]
    assert all(not fraction.endswith("0") for fraction in fractions)
    assert any(len(fraction) == 6 for fraction in fractions)


def test_end_and_days_bound_polls(tmp_path):
    end = datetime(2024, 3, 10, 12, 30, tzinfo=timezone(timedelta(hours=-5)))
    generate_dataset(tmp_path, stores=30, days=2, end=end)

    timestamps = [parse_export_timestamp(row[2]) for row in read_rows(tmp_path / "store_status.csv")[1:]]
    assert min(timestamps) >= end - timedelta(days=2)
    assert max(timestamps) < end
    assert max(timestamps) > end - timedelta(hours=1)


def test_naive_end_rejected(tmp_path):
    with pytest.raises(ValueError, match="no time zone"):
        generate_dataset(tmp_path, stores=5, days=1, end=datetime(2023, 1, 25))


def test_progress_reports_every_hour(tmp_path):
    calls = []
    generate_dataset(tmp_path, stores=5, days=2, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (1, 48)
    assert calls[-1] == (48, 48)
    assert len(calls) == 48


def test_population_keeps_real_hours_and_zones(tmp_path, population):
    counts = generate_dataset(tmp_path, stores=4, days=1, population_dir=population)

    hours = read_rows(tmp_path / "menu_hours.csv")
    assert hours[0] == ["store_id", "day", "start_time_local", "end_time_local"]
    real_rows = read_rows(population / "menu_hours.csv")[1:]
    assert all(row in real_rows for row in hours[1:])
    zones = read_rows(tmp_path / "timezones.csv")[1:]
    assert all(row in read_rows(population / "timezones.csv")[1:] for row in zones)
    assert counts["stores"] == 4


def test_population_adds_poll_only_stores(tmp_path, population):
    generate_dataset(tmp_path, stores=100, days=1, population_dir=population)

    polled = {row[0] for row in read_rows(tmp_path / "store_status.csv")[1:]}
    real = {"1481966498820158979", "5415949628544298339", "8139926242460185114", "3408529570017053440"}
    assert polled - real
    assert len(polled) > 50


def test_population_copies_fill_larger_counts(tmp_path, population):
    counts = generate_dataset(tmp_path, stores=50, days=1, population_dir=population)

    assert counts["stores"] == 50
    hours_stores = {row[0] for row in read_rows(tmp_path / "menu_hours.csv")[1:]}
    assert len(hours_stores) > 3
    assert counts["timezone_rows"] > 3


def test_population_poll_rate_near_sixteen_a_day(tmp_path, population):
    counts = generate_dataset(tmp_path, stores=500, days=2, population_dir=population)
    polls_per_store_day = counts["polls"] / (500 * 2)
    assert 14 <= polls_per_store_day <= 18


def test_population_has_duplicate_rows(tmp_path, population):
    generate_dataset(tmp_path, stores=2_000, days=3, population_dir=population)

    counts = Counter(tuple(row) for row in read_rows(tmp_path / "store_status.csv")[1:])
    assert any(count > 1 for count in counts.values())


def test_population_without_day_column_rejected(tmp_path):
    (tmp_path / "menu_hours.csv").write_text("store_id,weekday,start_time_local,end_time_local\n", encoding="utf-8")
    (tmp_path / "timezones.csv").write_text("store_id,timezone_str\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no day column"):
        generate_dataset(tmp_path / "out", stores=5, days=1, population_dir=tmp_path)


def test_command_line_writes_files(tmp_path, capsys):
    assert main([str(tmp_path), "--stores", "12", "--days", "1", "--seed", "5"]) == 0

    output = capsys.readouterr().out
    assert "stores: 12" in output
    for file_name in FILE_NAMES:
        assert (tmp_path / file_name).exists()


@pytest.mark.parametrize("arguments", [{"stores": 0}, {"days": 0}])
def test_zero_counts_rejected(tmp_path, arguments):
    with pytest.raises(ValueError, match="pass 1 or more"):
        generate_dataset(tmp_path, **arguments)
