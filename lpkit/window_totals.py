"""Uptime and downtime totals for a batch of stores, as array operations.

The rules are those of lpkit.uptime. The sums run over every (segment,
poll) pair of the batch at once with numpy. Each store gets its own stretch
of one shared time axis, so one sorted search serves all of them. Every
interval overlap is exact integer arithmetic in half microseconds.
"""

from dataclasses import dataclass

import numpy as np

from lpkit.uptime import HOUR_US


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

    ``plans[i]`` is the plan of the store in slot i. The poll arrays contain
    the batch's polls: the slot of their store, the instant, and 1 for active.
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

    # Polls before a store's onboarding do not count. The polls of each
    # segment are one run of the sorted poll axis.
    onboarded_us = np.array(
        [plan.onboarded_at_us if plan.onboarded_at_us is not None else np.iinfo(np.int64).min for plan in plans],
        dtype=np.int64,
    )
    used = axis.covers(poll_instants_us) & (poll_instants_us >= onboarded_us[poll_slots])
    order = np.lexsort((poll_instants_us[used], poll_slots[used]))
    polls = axis.position(poll_slots[used][order], poll_instants_us[used][order])
    active = poll_active[used][order].astype(np.int64)
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
