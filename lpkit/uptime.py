"""Uptime and downtime arithmetic: windows, business hours, segments, extrapolation.

Pure functions over integer microseconds since the epoch (UTC); no Flask and
no SQL. The rules, in brief:

* A window's business time is the union of the store's business hours inside
  it, after the store's onboarding, cut at each local midnight into segments.
* Each segment is filled from the polls from one hour before its first
  business instant to one hour after its last (never after the pivot).
* Time between two polls takes the earlier status up to their midpoint and
  the later one after it. Time before the first poll takes its status. After
  the last poll, its status lasts to the midpoint between it and the pivot,
  and later time is unknown. A segment without polls is unknown.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import NamedTuple

from lpkit.parsing import END_OF_DAY_US

HOUR_US = 3_600_000_000
WINDOW_MODES = ("calendar", "rolling")

# Exports write a full day as 00:00-23:59 or 00:00-23:59:59, so these ends
# mean the end of that day, like 24:00.
_END_OF_DAY_MARKERS = {END_OF_DAY_US, END_OF_DAY_US - 60_000_000, END_OF_DAY_US - 1_000_000}


class BusinessHours(NamedTuple):
    """One business-hours row: a weekday (0 = Monday) and local times in microseconds after midnight."""

    day_of_week: int
    start_time_us: int
    end_time_us: int


@dataclass(frozen=True)
class Segment:
    """The business time of one window on one local date.

    ``start_us``/``end_us`` bound the date inside the window; ``first_business_us``
    and ``last_business_us`` bound the business time inside that.
    """

    window: int
    start_us: int
    end_us: int
    first_business_us: int
    last_business_us: int


@dataclass(frozen=True)
class Span:
    """A stretch of one state: "up", "down" or "unknown"."""

    start_us: int
    end_us: int
    state: str


def report_windows(clock, pivot_us, mode="calendar"):
    """Return the (start, end) instants of the last hour, day and week before the pivot.

    Calendar windows are periods of the local clock: the clock hour before the
    current one, yesterday, and the previous Monday-to-Sunday week. Rolling
    windows are the 1, 24 and 168 hours that end at the pivot.
    """
    if mode == "rolling":
        return [(pivot_us - hours * HOUR_US, pivot_us) for hours in (1, 24, 168)]
    if mode != "calendar":
        raise ValueError(f'window "{mode}" is unknown; use calendar or rolling')

    local = clock.local_time(pivot_us)
    hour_end = clock.hour_start(pivot_us)

    today = local.date()
    monday = today - timedelta(days=today.weekday())
    return [
        (hour_end - HOUR_US, hour_end),
        (clock.midnight(today - timedelta(days=1)), clock.midnight(today)),
        (clock.midnight(monday - timedelta(days=7)), clock.midnight(monday)),
    ]


def _local_datetime(date, time_us):
    return datetime.combine(date, time()) + timedelta(microseconds=time_us)


def business_intervals(clock, hours, start_us, end_us, onboarded_at_us=None):
    """Return the sorted, disjoint business intervals inside [start_us, end_us).

    A store with no business-hours rows is open all the time. Rows are placed on
    every local date that can reach the range, including the day before, whose
    overnight hours run into the first date.
    """
    if onboarded_at_us is not None:
        start_us = max(start_us, onboarded_at_us)
    if start_us >= end_us:
        return []
    if not hours:
        return [(start_us, end_us)]

    rows_by_day = {}
    for row in hours:
        rows_by_day.setdefault(row.day_of_week, []).append(row)

    intervals = []
    date = clock.local_time(start_us).date() - timedelta(days=1)
    last_date = clock.local_time(end_us).date()
    while date <= last_date:
        for row in rows_by_day.get(date.weekday(), ()):
            opens = clock.resolve(_local_datetime(date, row.start_time_us))
            closes = clock.resolve(_local_datetime(date, _close_time_us(row)))
            opens, closes = max(opens, start_us), min(closes, end_us)
            if opens < closes:
                intervals.append((opens, closes))
        date += timedelta(days=1)

    return merge_intervals(intervals)


def _close_time_us(row):
    """Return the closing time in microseconds after the opening date's midnight."""
    if row.end_time_us in _END_OF_DAY_MARKERS:
        return END_OF_DAY_US
    if row.end_time_us <= row.start_time_us:
        return END_OF_DAY_US + row.end_time_us
    return row.end_time_us


def merge_intervals(intervals):
    """Sort intervals and merge the ones that overlap or touch."""
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intersect(intervals, start_us, end_us):
    """Return the parts of sorted disjoint intervals that lie inside [start_us, end_us)."""
    parts = []
    for begin, end in intervals:
        begin, end = max(begin, start_us), min(end, end_us)
        if begin < end:
            parts.append((begin, end))
    return parts


def window_segments(clock, windows, intervals):
    """Cut each window's business time at local midnights into segments."""
    segments = []
    for window, (window_start, window_end) in enumerate(windows):
        date = clock.local_time(window_start).date()
        while True:
            day_start = max(window_start, clock.midnight(date))
            day_end = min(window_end, clock.midnight(date + timedelta(days=1)))
            business = intersect(intervals, day_start, day_end)
            if business:
                segments.append(Segment(window, day_start, day_end, business[0][0], business[-1][1]))
            if day_end >= window_end:
                break
            date += timedelta(days=1)
    return segments


def segment_poll_range(segment, pivot_us):
    """Return the [start, end) instants of the polls that fill a segment."""
    return segment.first_business_us - HOUR_US, min(segment.last_business_us + HOUR_US, pivot_us + 1)


def extrapolate(polls, start_us, end_us, pivot_us):
    """Return the up/down/unknown spans that polls give to [start_us, end_us).

    ``polls`` are (instant_us, is_active) pairs sorted by instant, all of them
    the polls of one segment. Midpoints may fall on half microseconds, so span
    bounds are floats only where a midpoint lands between two microseconds.
    """
    if not polls:
        return [Span(start_us, end_us, "unknown")]

    spans = []
    begin = start_us
    for (instant, active), (next_instant, _) in zip(polls, polls[1:]):
        midpoint = (instant + next_instant) / 2
        spans.append((begin, midpoint, active))
        begin = midpoint
    last_instant, last_active = polls[-1]
    known_until = (last_instant + pivot_us) / 2
    spans.append((begin, known_until, last_active))
    spans.append((known_until, end_us, None))

    clipped = []
    for begin, end, active in spans:
        begin, end = max(begin, start_us), min(end, end_us)
        if begin < end:
            if active is None:
                state = "unknown"
            else:
                state = "up" if active else "down"
            clipped.append(Span(begin, end, state))
    return clipped


def store_spans(clock, hours, polls, pivot_us, windows, onboarded_at_us=None):
    """Return, per window, the spans of a store's business time, state by state.

    This is the per-store form of the report arithmetic, used to explain one
    store's numbers and to list incidents. ``polls`` are sorted (instant_us,
    is_active) pairs.
    """
    range_start = min(start for start, _ in windows)
    range_end = max(end for _, end in windows)
    intervals = business_intervals(clock, hours, range_start, range_end, onboarded_at_us)
    if onboarded_at_us is not None:
        polls = [poll for poll in polls if poll[0] >= onboarded_at_us]
    polls = [poll for poll in polls if poll[0] <= pivot_us]

    spans_by_window = [[] for _ in windows]
    for segment in window_segments(clock, windows, intervals):
        poll_start, poll_end = segment_poll_range(segment, pivot_us)
        segment_polls = [poll for poll in polls if poll_start <= poll[0] < poll_end]
        for span in extrapolate(segment_polls, segment.start_us, segment.end_us, pivot_us):
            for begin, end in intersect(intervals, span.start_us, span.end_us):
                spans_by_window[segment.window].append(Span(begin, end, span.state))
    return spans_by_window


def downtime_episodes(spans):
    """Join a window's touching down spans into episodes, as (start, end) pairs."""
    episodes = []
    for span in sorted(spans, key=lambda span: span.start_us):
        if span.state != "down":
            continue
        if episodes and episodes[-1][1] == span.start_us:
            episodes[-1] = (episodes[-1][0], span.end_us)
        else:
            episodes.append((span.start_us, span.end_us))
    return episodes


def round_half_up(value, unit):
    """Return value/unit rounded half up to two decimals, as text with exactly two decimals.

    ``value`` and ``unit`` are non-negative integers, so the result is exact.
    """
    hundredths = (2 * 100 * value + unit) // (2 * unit)
    return f"{hundredths // 100}.{hundredths % 100:02d}"
