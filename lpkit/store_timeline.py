"""Layout of the store page: business hours in local time, per-window totals and a day-by-day timeline.

The functions arrange the results of the per-store arithmetic in lpkit.uptime
for display, and use no Flask and no SQL.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from lpkit.parsing import END_OF_DAY_US, format_local_time
from lpkit.uptime import business_intervals, round_half_up

WINDOW_LABELS = ("Last hour", "Last day", "Last week")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Units of the hour, day and week figures in half microseconds, as the report writes them.
_MINUTE_HALF_US = 2 * 60_000_000
_HOUR_HALF_US = 60 * _MINUTE_HALF_US
WINDOW_UNITS = ((_MINUTE_HALF_US, "min"), (_HOUR_HALF_US, "h"), (_HOUR_HALF_US, "h"))

# Business hours that end this close to midnight end at midnight (exports write 23:59 or 23:59:59).
_END_OF_DAY_SLACK_US = 60_000_000


@dataclass
class HoursLine:
    """One business-hours row in local time, as the store page lists it."""

    day: str
    opens: str
    closes: str
    overnight: bool


def business_hour_lines(hours):
    """Describe business-hours rows in local time; an end near midnight reads as 24:00."""
    lines = []
    for row in hours:
        if row.end_time_us >= END_OF_DAY_US - _END_OF_DAY_SLACK_US:
            closes = "24:00"
        else:
            closes = format_local_time(row.end_time_us)
        overnight = closes != "24:00" and row.end_time_us <= row.start_time_us
        lines.append(HoursLine(DAY_NAMES[row.day_of_week], format_local_time(row.start_time_us), closes, overnight))
    return lines


@dataclass
class WindowTotalsLine:
    """A store's business, up, down and unknown time in one window, as the report rounds them."""

    label: str
    start: str
    end: str
    unit: str
    business: str
    uptime: str
    downtime: str
    unknown: str


def window_totals(clock, hours, windows, spans, onboarded_at_us):
    """Sum each window's spans by state, in the report's units and rounding."""
    lines = []
    for index, (start_us, end_us) in enumerate(windows):
        unit_half_us, unit = WINDOW_UNITS[index]
        business_half_us = 2 * sum(end - start for start, end in business_intervals(clock, hours, start_us, end_us, onboarded_at_us))
        by_state = {"up": 0, "down": 0}
        for span in spans[index]:
            if span.state in by_state:
                by_state[span.state] += round(2 * (span.end_us - span.start_us))
        unknown_half_us = business_half_us - by_state["up"] - by_state["down"]
        lines.append(
            WindowTotalsLine(
                label=WINDOW_LABELS[index],
                start=clock.local_time(start_us).strftime("%a %d %b %H:%M"),
                end=clock.local_time(end_us).strftime("%a %d %b %H:%M"),
                unit=unit,
                business=round_half_up(business_half_us, unit_half_us),
                uptime=round_half_up(by_state["up"], unit_half_us),
                downtime=round_half_up(by_state["down"], unit_half_us),
                unknown=round_half_up(max(unknown_half_us, 0), unit_half_us),
            )
        )
    return lines


# The timeline ---------------------------------------------------------------

TIMELINE_WIDTH = 1000
_WINDOW_LANE_NAMES = ("last hour", "last day", "last week")


def timeline_days(clock, windows, pivot_us):
    """Return (date, start_us, end_us) of each local date from the earliest window's start to the pivot."""
    first = clock.local_time(min(start for start, _ in windows)).date()
    last = clock.local_time(pivot_us).date()
    days = []
    date = first
    while date <= last:
        days.append((date, clock.midnight(date), clock.midnight(date + timedelta(days=1))))
        date += timedelta(days=1)
    return days


@dataclass
class Mark:
    """A rectangle on a timeline lane, in the lane's 0..TIMELINE_WIDTH coordinates."""

    x: float
    width: float
    css_class: str


@dataclass
class Lane:
    """One row of a day's timeline: its polls, or one window's up, down and unknown spans."""

    name: str
    title: str
    marks: list
    window: Mark | None = None


@dataclass
class TimelineDay:
    """A local date's business hours, grid lines, pivot line and lanes."""

    label: str
    business: list
    gridlines: list
    pivot_x: float | None
    lanes: list


def timeline_day(clock, hours, polls, spans, windows, pivot_us, onboarded_at_us, day):
    """Lay out one local date of the timeline: business hours, polls, and each window's spans."""
    date, day_start, day_end = day
    length = day_end - day_start

    def position(instant_us):
        return TIMELINE_WIDTH * (instant_us - day_start) / length

    def mark(start_us, end_us, css_class):
        start_us, end_us = max(start_us, day_start), min(end_us, day_end)
        return Mark(round(position(start_us), 2), round(max(position(end_us) - position(start_us), 0.5), 2), css_class)

    label = date.strftime("%a %d %b")
    business = [mark(start, end, "business") for start, end in business_intervals(clock, hours, day_start, day_end, onboarded_at_us)]
    gridlines = [round(position(clock.resolve(datetime(date.year, date.month, date.day, hour))), 2) for hour in (6, 12, 18)]
    pivot_x = round(position(pivot_us), 2) if day_start <= pivot_us <= day_end else None

    day_polls = [poll for poll in polls if day_start <= poll[0] < day_end]
    poll_marks = []
    for instant, active in day_polls:
        ignored = instant > pivot_us or (onboarded_at_us is not None and instant < onboarded_at_us)
        css_class = "poll-active" if active else "poll-inactive"
        if ignored:
            css_class += " poll-ignored"
        poll_marks.append(Mark(round(position(instant), 2), 3, css_class))
    active_count = sum(1 for _, active in day_polls if active)
    lanes = [Lane("polls", f"{label}: {active_count} active and {len(day_polls) - active_count} inactive polls", poll_marks)]

    for index, (window_start, window_end) in enumerate(windows):
        if window_end <= day_start or window_start >= day_end:
            continue
        window_marks = []
        seconds = {"up": 0.0, "down": 0.0, "unknown": 0.0}
        for span in spans[index]:
            if span.end_us > day_start and span.start_us < day_end:
                window_marks.append(mark(span.start_us, span.end_us, f"span-{span.state}"))
                seconds[span.state] += (min(span.end_us, day_end) - max(span.start_us, day_start)) / 1_000_000
        title = f"{label}, {_WINDOW_LANE_NAMES[index]}: " + ", ".join(
            f"{state} {value / 3600:.2f} h" for state, value in seconds.items()
        )
        lanes.append(Lane(_WINDOW_LANE_NAMES[index], title, window_marks, mark(window_start, window_end, "window")))

    return TimelineDay(label, business, gridlines, pivot_x, lanes)
