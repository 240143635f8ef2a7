"""The report service: reads stores in time-zone batches and computes their rows."""

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lpkit import repository
from lpkit.localtime import ZoneClock
from lpkit.parsing import format_instant, us_to_datetime
from lpkit.uptime import (
    HOUR_US,
    WINDOW_MODES,
    business_intervals,
    report_windows,
    round_half_up,
    window_segments,
)
from lpkit.window_totals import StorePlan, compute_totals

log = logging.getLogger(__name__)

STANDARD_HEADER = [
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
]
EXTENDED_HEADER = STANDARD_HEADER + [
    "business_minutes_last_hour",
    "business_hours_last_day",
    "business_hours_last_week",
    "unknown_minutes_last_hour",
    "unknown_hours_last_day",
    "unknown_hours_last_week",
    "uptime_percent_last_hour",
    "uptime_percent_last_day",
    "uptime_percent_last_week",
]
COLUMN_SETS = ("standard", "extended")
INCIDENTS_HEADER = ["store_id", "start_utc", "end_utc", "start_local", "end_local", "timezone", "duration_minutes"]
# Downtime episodes are listed for the last-week window.
INCIDENTS_WINDOW = 2

# Units of the hour, day and week columns, in half microseconds.
_MINUTE_HALF_US = 2 * 60_000_000
_HOUR_HALF_US = 60 * _MINUTE_HALF_US
_WINDOW_UNITS = (_MINUTE_HALF_US, _HOUR_HALF_US, _HOUR_HALF_US)


@dataclass(frozen=True)
class ReportOptions:
    """Choices that change a report's content; the defaults give the standard report."""

    window: str = "calendar"
    columns: str = "standard"

    @classmethod
    def from_mapping(cls, values):
        """Build options from request or stored values, rejecting unknown choices."""
        window = (values.get("window") or "calendar").strip().lower()
        columns = (values.get("columns") or "standard").strip().lower()
        if window not in WINDOW_MODES:
            raise ValueError(f'window "{window}" is unknown; use calendar (the default) or rolling')
        if columns not in COLUMN_SETS:
            raise ValueError(f'columns "{columns}" is unknown; use standard (the default) or extended')
        return cls(window, columns)

    def to_mapping(self):
        return {"window": self.window, "columns": self.columns}

    @property
    def header(self):
        return EXTENDED_HEADER if self.columns == "extended" else STANDARD_HEADER


def default_pivot_us(connection):
    """Return the default pivot: the newest poll instant, or the current time when there are no polls."""
    latest = repository.latest_poll_us(connection)
    return latest if latest is not None else repository.now_us()


@dataclass(frozen=True)
class BatchSizes:
    """How many stores the report reads at a time, and how many stores' polls one query fetches."""

    stores: int = 1000
    polls: int = 250


class ReportBuilder:
    """Computes the rows of one report over a database snapshot.

    Plans (business intervals and segments) are shared by stores with the same
    zone, hours and onboarding time, so each is computed once.
    """

    def __init__(self, connection, pivot_us, options=ReportOptions(), batch_sizes=BatchSizes()):
        self.connection = connection
        self.pivot_us = pivot_us
        self.options = options
        self.batch_sizes = batch_sizes
        self._clocks = {}
        self._windows = {}
        self._plans = {}
        self.incidents = []

    def rows(self, progress=None):
        """Return the report rows sorted by store id; ``progress(done, total)`` is called per batch.

        Afterwards ``incidents`` contains the downtime episodes of the last-week
        window, sorted by store id and start.

        The whole computation reads inside one transaction, so an import that
        commits meanwhile is either wholly visible or not at all.
        """
        connection = self.connection
        connection.execute("BEGIN")
        try:
            total = repository.count_stores(connection)
            if progress:
                progress(0, total)
            rows = []
            done = 0
            for stores in repository.iter_store_batches(connection, self.batch_sizes.stores):
                rows.extend(self._batch_rows(stores))
                done += len(stores)
                if progress:
                    progress(done, total)
        finally:
            connection.execute("COMMIT")
        rows.sort(key=lambda row: row[0])
        self.incidents.sort(key=lambda incident: (incident[0], incident[1]))
        return rows

    def _clock(self, zone_name):
        clock = self._clocks.get(zone_name)
        if clock is None:
            clock = self._clocks[zone_name] = ZoneClock(zone_name)
            self._windows[zone_name] = report_windows(clock, self.pivot_us, self.options.window)
        return clock

    def windows(self, zone_name):
        self._clock(zone_name)
        return self._windows[zone_name]

    def plan(self, store, hours):
        key = (store.timezone, hours, store.onboarded_at_us)
        plan = self._plans.get(key)
        if plan is None:
            clock = self._clock(store.timezone)
            windows = self._windows[store.timezone]
            range_start = min(start for start, _ in windows)
            range_end = max(end for _, end in windows)
            intervals = business_intervals(clock, hours, range_start, range_end, store.onboarded_at_us)
            plan = self._plans[key] = StorePlan(intervals, window_segments(clock, windows, intervals), store.onboarded_at_us)
        return plan

    def _batch_rows(self, stores):
        hours_by_store = repository.business_hours_for(self.connection, [store.store_pk for store in stores])
        plans = [self.plan(store, hours_by_store.get(store.store_pk, ())) for store in stores]
        slots, instants, active = self._batch_polls(stores)
        totals, episodes = compute_totals(plans, slots, instants, active, self.pivot_us, episodes_window=INCIDENTS_WINDOW)
        self._collect_incidents(stores, episodes)
        return [self._format_row(store.store_id, totals, slot) for slot, store in enumerate(stores)]

    def _collect_incidents(self, stores, episodes):
        for slot, start, end in zip(episodes.slots.tolist(), episodes.start_half_us.tolist(), episodes.end_half_us.tolist()):
            store = stores[slot]
            zone = self._clock(store.timezone).zone
            # NOTE: an episode can start or end on a half microsecond; the
            # timestamps drop that half, while the duration keeps it.
            self.incidents.append(
                [
                    store.store_id,
                    format_instant(start // 2),
                    format_instant(end // 2),
                    us_to_datetime(start // 2).astimezone(zone).isoformat(timespec="microseconds"),
                    us_to_datetime(end // 2).astimezone(zone).isoformat(timespec="microseconds"),
                    store.timezone,
                    round_half_up(end - start, _MINUTE_HALF_US),
                ]
            )

    def _batch_polls(self, stores):
        """Fetch the batch's polls in sub-batches of stores that share a time zone."""
        parts = []
        start = 0
        while start < len(stores):
            zone = stores[start].timezone
            end = start
            while end < len(stores) and end - start < self.batch_sizes.polls and stores[end].timezone == zone:
                end += 1
            window_start = min(window_start for window_start, _ in self.windows(zone))
            pks, instants, active = repository.fetch_polls(
                self.connection, [store.store_pk for store in stores[start:end]], window_start - HOUR_US, self.pivot_us
            )
            parts.append((pks, instants, active))
            start = end

        pks = np.concatenate([part[0] for part in parts])
        instants = np.concatenate([part[1] for part in parts])
        active = np.concatenate([part[2] for part in parts])
        batch_pks = np.array([store.store_pk for store in stores], dtype=np.int64)
        by_pk = np.argsort(batch_pks)
        slots = by_pk[np.searchsorted(batch_pks[by_pk], pks)]
        return slots, instants, active

    def _format_row(self, store_id, totals, slot):
        up = totals.up_half_us[slot]
        down = totals.down_half_us[slot]
        row = [store_id]
        row += [round_half_up(int(up[w]), _WINDOW_UNITS[w]) for w in range(3)]
        row += [round_half_up(int(down[w]), _WINDOW_UNITS[w]) for w in range(3)]
        if self.options.columns == "extended":
            business = totals.business_us[slot] * 2
            row += [round_half_up(int(business[w]), _WINDOW_UNITS[w]) for w in range(3)]
            row += [round_half_up(int(business[w] - up[w] - down[w]), _WINDOW_UNITS[w]) for w in range(3)]
            for w in range(3):
                known = int(up[w] + down[w])
                row.append(round_half_up(100 * int(up[w]), known) if known else "")
        return row


def write_csv(path, header, rows):
    """Write rows as CSV (UTF-8, CRLF) to a temporary file and rename it into place when complete."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as output:
        writer = csv.writer(output)
        writer.writerow(header)
        writer.writerows(rows)
        output.flush()
        os.fsync(output.fileno())
    os.replace(partial, path)
