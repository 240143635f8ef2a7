"""Uptime and downtime arithmetic: windows, business hours, segments, extrapolation.

Pure functions over integer microseconds since the epoch (UTC); no Flask and
no SQL. The rules, in brief:

* A window's business time is the union of the store's business hours inside
  it, after the store's onboarding, cut at each local midnight into segments.
* Each segment is filled from the polls from one hour before its first
  business instant to one hour after its last (never after the pivot). Time
  between two polls takes the earlier status up to their midpoint and the
  later one after it; time before the first poll takes its status; after the
  last poll its status lasts to the midpoint between it and the pivot, and
  later time is unknown. A segment without polls is unknown.
"""

from dataclasses import dataclass
from typing import NamedTuple
from datetime import datetime, time, timedelta

import numpy as np

from lpkit.parsing import END_OF_DAY_US

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
WINDOW_NAMES = ("hour", "day", "week")
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
            state = "unknown" if active is None else ("up" if active else "down")
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


@dataclass
class StorePlan:
    """The business intervals and segments of one store for one report."""

    intervals: list
    segments: list
    onboarded_at_us: int | None


@dataclass
class WindowTotals:
    """Per store (rows) and window (columns): business, up and down time.

    Up and down time may end on a half microsecond, so they are kept as
    integer half microseconds (``*_half_us``).
    """

    business_us: np.ndarray
    up_half_us: np.ndarray
    down_half_us: np.ndarray


@dataclass
class DowntimeEpisodes:
    """Maximal stretches of down business time: store slot, start and end in half microseconds."""

    slots: np.ndarray
    start_half_us: np.ndarray
    end_half_us: np.ndarray


class _SharedAxis:
    """One time axis for a batch of stores, in half microseconds.

    Store slot i owns the positions [i * stretch, (i + 1) * stretch), so one
    sorted search serves the whole batch, and a midpoint of two positions is
    always an integer.
    """

    def __init__(self, plans, pivot_us):
        earliest = min((segment.start_us for plan in plans for segment in plan.segments), default=pivot_us)
        self.origin_us = min(earliest - 2 * HOUR_US, pivot_us)
        self.pivot_us = pivot_us
        self.stretch = 2 * (pivot_us + 2 * HOUR_US - self.origin_us)
        if self.stretch * len(plans) >= 2**62:
            raise ValueError("the store batch spans too long a time for 64-bit positions; use a smaller batch size")

    def position(self, slots, instants_us):
        return slots * self.stretch + 2 * (instants_us - self.origin_us)

    def instant_half_us(self, slots, positions):
        return positions - slots * self.stretch + 2 * self.origin_us

    def covers(self, instants_us):
        """Return which instants fit on the axis: from its origin up to the pivot."""
        return (instants_us >= self.origin_us) & (instants_us <= self.pivot_us)


class _BusinessTime:
    """The batch's business intervals on the shared axis."""

    def __init__(self, axis, plans):
        slots, starts, ends = _flatten_intervals(plans)
        self.starts = axis.position(slots, starts)
        self.ends = axis.position(slots, ends)
        lengths = self.ends - self.starts
        self.before = np.cumsum(lengths) - lengths

    def until(self, positions):
        """Return the business time on the axis before each position."""
        if len(self.starts) == 0:
            return np.zeros_like(positions)
        index = np.searchsorted(self.starts, positions, side="right") - 1
        safe = np.maximum(index, 0)
        inside = np.minimum(positions, self.ends[safe]) - self.starts[safe]
        return np.where(index >= 0, self.before[safe] + inside, 0)

    def pieces(self, begins, ends):
        """Cut each [begin, end) into its parts inside business intervals.

        Returns the index of the input each piece comes from, and the pieces'
        bounds, in axis order for sorted inputs.
        """
        first = np.searchsorted(self.ends, begins, side="right")
        last = np.searchsorted(self.starts, ends, side="left")
        counts = np.maximum(last - first, 0)
        source = np.repeat(np.arange(len(begins)), counts)
        interval = first[source] + np.arange(int(counts.sum())) - (np.cumsum(counts) - counts)[source]
        piece_begins = np.maximum(begins[source], self.starts[interval])
        piece_ends = np.minimum(ends[source], self.ends[interval])
        nonempty = piece_begins < piece_ends
        return source[nonempty], piece_begins[nonempty], piece_ends[nonempty]


def compute_totals(plans, poll_slots, poll_instants_us, poll_active, pivot_us, window_count=3, episodes_window=None):
    """Sum up and down business time per store and window over a batch of stores.

    ``plans[i]`` is the plan of the store in slot i. The poll arrays hold the
    batch's polls: the slot of their store, the instant, and 1 for active.
    With ``episodes_window`` set, also returns the downtime episodes of that
    window; otherwise the episodes are None.
    """
    store_count = len(plans)
    totals = WindowTotals(
        business_us=np.zeros((store_count, window_count), dtype=np.int64),
        up_half_us=np.zeros((store_count, window_count), dtype=np.int64),
        down_half_us=np.zeros((store_count, window_count), dtype=np.int64),
    )
    empty = np.zeros(0, dtype=np.int64)
    episodes = DowntimeEpisodes(empty, empty, empty) if episodes_window is not None else None
    segment_slot, segment_window, (start_us, end_us, first_us, last_us) = _flatten_segments(plans)
    if len(segment_slot) == 0:
        return totals, episodes

    axis = _SharedAxis(plans, pivot_us)
    business = _BusinessTime(axis, plans)
    seg_start = axis.position(segment_slot, start_us)
    seg_end = axis.position(segment_slot, end_us)
    seg_business = business.until(seg_end) - business.until(seg_start)
    np.add.at(totals.business_us, (segment_slot, segment_window), seg_business // 2)

    # The polls of each segment are one run of the sorted poll axis.
    kept = axis.covers(poll_instants_us)
    order = np.lexsort((poll_instants_us[kept], poll_slots[kept]))
    polls = axis.position(poll_slots[kept][order], poll_instants_us[kept][order])
    active = poll_active[kept][order].astype(np.int64)
    poll_from = np.searchsorted(polls, axis.position(segment_slot, first_us - HOUR_US), side="left")
    poll_to = np.searchsorted(
        polls, axis.position(segment_slot, np.minimum(last_us + HOUR_US, pivot_us + 1)), side="left"
    )
    counts = np.maximum(poll_to - poll_from, 0)
    pair_count = int(counts.sum())
    if pair_count == 0:
        return totals, episodes

    # One entry per (segment, poll) pair: the stretch of the segment the poll decides.
    pair_segment = np.repeat(np.arange(len(counts)), counts)
    offset_in_run = np.arange(pair_count) - (np.cumsum(counts) - counts)[pair_segment]
    pair_poll = poll_from[pair_segment] + offset_in_run
    is_first = offset_in_run == 0
    is_last = offset_in_run == counts[pair_segment] - 1

    instant = polls[pair_poll]
    previous = polls[np.maximum(pair_poll - 1, 0)]
    following = polls[np.minimum(pair_poll + 1, len(polls) - 1)]
    pivot_position = axis.position(segment_slot[pair_segment], pivot_us)
    low = seg_start[pair_segment]
    high = seg_end[pair_segment]
    begins = np.clip(np.where(is_first, low, (previous + instant) // 2), low, high)
    ends = np.clip(np.where(is_last, (instant + pivot_position) // 2, (instant + following) // 2), low, high)

    covered = business.until(ends) - business.until(begins)
    pair_active = active[pair_poll]
    up = covered * pair_active
    targets = (segment_slot[pair_segment], segment_window[pair_segment])
    np.add.at(totals.up_half_us, targets, up)
    np.add.at(totals.down_half_us, targets, covered - up)

    if episodes_window is not None:
        down = (pair_active == 0) & (segment_window[pair_segment] == episodes_window) & (ends > begins)
        episodes = _merge_episodes(axis, business, segment_slot[pair_segment][down], begins[down], ends[down])
    return totals, episodes


def _merge_episodes(axis, business, slots, begins, ends):
    """Join down business time that touches, across polls and midnights, into episodes."""
    source, piece_begins, piece_ends = business.pieces(begins, ends)
    order = np.argsort(piece_begins, kind="stable")
    source, piece_begins, piece_ends = source[order], piece_begins[order], piece_ends[order]
    if len(piece_begins) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return DowntimeEpisodes(empty, empty, empty)

    starts_episode = np.ones(len(piece_begins), dtype=bool)
    starts_episode[1:] = piece_begins[1:] > piece_ends[:-1]
    first_piece = np.flatnonzero(starts_episode)
    episode_slots = slots[source[first_piece]]
    return DowntimeEpisodes(
        slots=episode_slots,
        start_half_us=axis.instant_half_us(episode_slots, piece_begins[first_piece]),
        end_half_us=axis.instant_half_us(episode_slots, np.maximum.reduceat(piece_ends, first_piece)),
    )


def _flatten_intervals(plans):
    slots, starts, ends = [], [], []
    for slot, plan in enumerate(plans):
        for start, end in plan.intervals:
            slots.append(slot)
            starts.append(start)
            ends.append(end)
    return (np.array(slots, dtype=np.int64), np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))


def _flatten_segments(plans):
    slots, windows, fields = [], [], []
    for slot, plan in enumerate(plans):
        for segment in plan.segments:
            slots.append(slot)
            windows.append(segment.window)
            fields.append((segment.start_us, segment.end_us, segment.first_business_us, segment.last_business_us))
    field_array = np.array(fields, dtype=np.int64).reshape(-1, 4)
    return np.array(slots, dtype=np.int64), np.array(windows, dtype=np.int64), tuple(field_array.T)


def round_half_up(value, unit):
    """Return value/unit rounded half up to two decimals, as text with exactly two decimals.

    ``value`` and ``unit`` are non-negative integers, so the result is exact.
    """
    hundredths = (2 * 100 * value + unit) // (2 * unit)
    return f"{hundredths // 100}.{hundredths % 100:02d}"
