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
    StorePlan,
    business_intervals,
    compute_totals,
    report_windows,
    store_spans,
    window_segments,
)

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
    poll_offsets = draw(st.lists(st.integers(0, 16 * 24 * HOUR_US), max_size=40, unique=True))
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

    expected = span_totals(store_spans(clock, hours, polls, pivot_us, windows, onboarded))

    intervals = business_intervals(clock, hours, min(s for s, _ in windows), max(e for _, e in windows), onboarded)
    plan = StorePlan(intervals, window_segments(clock, windows, intervals), onboarded)
    kept = [poll for poll in polls if onboarded is None or poll[0] >= onboarded]
    totals = compute_totals(
        [plan],
        np.zeros(len(kept), dtype=np.int64),
        np.array([instant for instant, _ in kept], dtype=np.int64),
        np.array([active for _, active in kept], dtype=np.int64),
        pivot_us,
    )

    for window_index, (up, down, business) in enumerate(expected):
        assert Fraction(int(totals.up_half_us[0, window_index]), 2) == up
        assert Fraction(int(totals.down_half_us[0, window_index]), 2) == down
        assert int(totals.business_us[0, window_index]) == business
