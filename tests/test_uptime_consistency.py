"""The batch arithmetic agrees with the per-store span arithmetic on random stores."""

from datetime import datetime, timezone
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lpkit.localtime import ZoneClock
from lpkit.parsing import datetime_to_us
from lpkit.uptime import (
    HOUR_US,
    BusinessHours,
    business_intervals,
    downtime_episodes,
    report_windows,
    store_spans,
    window_segments,
)
from lpkit.window_totals import StorePlan, compute_totals

ZONES = ["America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe", "America/Santiago"]
# Pivots next to daylight-saving changes as well as ordinary days.
PIVOTS = [
    datetime(2023, 3, 13, 14, 5, tzinfo=timezone.utc),
    datetime(2023, 11, 6, 3, 30, tzinfo=timezone.utc),
    datetime(2023, 1, 25, 18, 13, 7, 123457, tzinfo=timezone.utc),
    datetime(2023, 4, 3, 0, 45, tzinfo=timezone.utc),
]

minutes = st.integers(min_value=0, max_value=24 * 60)
hours_rows = st.lists(
    st.builds(
        lambda day, start, end: BusinessHours(day, min(start, 1439) * 60_000_000, end * 60_000_000),
        st.integers(0, 6),
        minutes,
        minutes,
    ),
    max_size=6,
)


@st.composite
def stores(draw):
    zone = draw(st.sampled_from(ZONES))
    pivot_us = datetime_to_us(draw(st.sampled_from(PIVOTS)))
    hours = tuple(draw(hours_rows))
    poll_offsets = draw(st.lists(st.integers(0, 16 * 24 * HOUR_US), min_size=0, max_size=120, unique=True))
    polls = sorted((pivot_us - offset, draw(st.integers(0, 1))) for offset in poll_offsets)
    onboarded = draw(st.one_of(st.none(), st.integers(0, 16 * 24 * HOUR_US).map(lambda offset: pivot_us - offset)))
    window = draw(st.sampled_from(["calendar", "rolling"]))
    return zone, pivot_us, hours, polls, onboarded, window


def span_totals(spans_by_window):
    totals = []
    for spans in spans_by_window:
        up = sum(Fraction(span.end_us) - Fraction(span.start_us) for span in spans if span.state == "up")
        down = sum(Fraction(span.end_us) - Fraction(span.start_us) for span in spans if span.state == "down")
        business = sum(Fraction(span.end_us) - Fraction(span.start_us) for span in spans)
        totals.append((up, down, business))
    return totals


@settings(max_examples=300, deadline=None)
@given(stores())
def test_batch_matches_per_store_spans(store):
    zone, pivot_us, hours, polls, onboarded, window = store
    clock = ZoneClock(zone)
    windows = report_windows(clock, pivot_us, window)

    spans = store_spans(clock, hours, polls, pivot_us, windows, onboarded)
    expected = span_totals(spans)

    intervals = business_intervals(clock, hours, min(s for s, _ in windows), max(e for _, e in windows), onboarded)
    plan = StorePlan(intervals, window_segments(clock, windows, intervals), onboarded)
    onboarded_polls = [poll for poll in polls if onboarded is None or poll[0] >= onboarded]
    totals, episodes = compute_totals(
        [plan],
        np.zeros(len(onboarded_polls), dtype=np.int64),
        np.array([instant for instant, _ in onboarded_polls], dtype=np.int64),
        np.array([active for _, active in onboarded_polls], dtype=np.int64),
        pivot_us,
        episodes_window=2,
    )

    for window_index, (up, down, business) in enumerate(expected):
        assert Fraction(int(totals.up_half_us[0, window_index]), 2) == up
        assert Fraction(int(totals.down_half_us[0, window_index]), 2) == down
        assert int(totals.business_us[0, window_index]) == business

    expected_episodes = [(Fraction(start), Fraction(end)) for start, end in downtime_episodes(spans[2])]
    batch_episodes = [
        (Fraction(int(start), 2), Fraction(int(end), 2))
        for start, end in zip(episodes.start_half_us, episodes.end_half_us)
    ]
    assert batch_episodes == expected_episodes


@settings(max_examples=100, deadline=None)
@given(st.lists(stores(), min_size=2, max_size=4))
def test_batch_of_stores_matches_single_stores(batch):
    pivot_us = batch[0][1]
    plans, slots, instants, actives, singles = [], [], [], [], []
    for slot, (zone, _pivot, hours, polls, onboarded, window) in enumerate(batch):
        clock = ZoneClock(zone)
        windows = report_windows(clock, pivot_us, "calendar")
        intervals = business_intervals(clock, hours, min(s for s, _ in windows), max(e for _, e in windows), onboarded)
        plan = StorePlan(intervals, window_segments(clock, windows, intervals), onboarded)
        onboarded_polls = [poll for poll in polls if onboarded is None or poll[0] >= onboarded]
        plans.append(plan)
        slots += [slot] * len(onboarded_polls)
        instants += [instant for instant, _ in onboarded_polls]
        actives += [active for _, active in onboarded_polls]
        singles.append(
            compute_totals(
                [plan],
                np.zeros(len(onboarded_polls), dtype=np.int64),
                np.array([instant for instant, _ in onboarded_polls], dtype=np.int64),
                np.array([active for _, active in onboarded_polls], dtype=np.int64),
                pivot_us,
            )[0]
        )

    totals, _ = compute_totals(
        plans, np.array(slots, dtype=np.int64), np.array(instants, dtype=np.int64), np.array(actives, dtype=np.int64), pivot_us
    )

    for slot, single in enumerate(singles):
        assert totals.up_half_us[slot].tolist() == single.up_half_us[0].tolist()
        assert totals.down_half_us[slot].tolist() == single.down_half_us[0].tolist()
        assert totals.business_us[slot].tolist() == single.business_us[0].tolist()
