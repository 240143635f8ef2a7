"""Local wall-clock times in a time zone, resolved to UTC instants.

A local time inside a spring-forward gap is read with the offset in force
before the change, which places it after the gap (02:30 becomes 03:30
daylight time). A local time that occurs twice is its first occurrence.
These are the rules of PEP 495's fold=0, applied here to pytz zones.
"""

from datetime import datetime, timedelta, timezone

import pytz

from lpkit.parsing import EPOCH, ONE_MICROSECOND

DEFAULT_TIMEZONE = "America/Chicago"

# UTC offsets lie within -12 h and +14 h, so every instant that can show a
# given local time lies within these margins of that local time read as UTC.
_BEFORE_ANY_OFFSET = timedelta(hours=15)
_AFTER_ANY_OFFSET = timedelta(hours=13)


class ZoneClock:
    """Conversions between UTC instants (integer microseconds) and one zone's local clock."""

    def __init__(self, zone_name):
        self.zone_name = zone_name
        self.zone = pytz.timezone(zone_name)
        self._resolved = {}

    def local_time(self, instant_us):
        """Return the naive local datetime that the zone's clocks show at an instant."""
        moment = EPOCH + timedelta(microseconds=instant_us)
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def _offset_at(self, naive_utc):
        return naive_utc.replace(tzinfo=timezone.utc).astimezone(self.zone).utcoffset()

    def resolve(self, local):
        """Return the UTC instant, in microseconds, of a naive local datetime."""
        cached = self._resolved.get(local)
        if cached is not None:
            return cached

        # NOTE: this assumes the zone changes its offset at most once within
        # the 28 hours around the local time. No zone in pytz 2026.6 has two
        # changes that close together since 1970.
        offset_before = self._offset_at(local - _BEFORE_ANY_OFFSET)
        offset_after = self._offset_at(local + _AFTER_ANY_OFFSET)
        matches = [
            local - offset
            for offset in {offset_before, offset_after}
            if self._offset_at(local - offset) == offset
        ]
        # No match means the local time falls in a gap: use the earlier offset.
        naive_utc = min(matches) if matches else local - offset_before

        instant_us = (naive_utc.replace(tzinfo=timezone.utc) - EPOCH) // ONE_MICROSECOND
        self._resolved[local] = instant_us
        return instant_us

    def hour_start(self, instant_us):
        """Return the instant at which the local clock hour showing at an instant began.

        That is the instant less the minutes and seconds on the clock, unless the
        offset changed by part of an hour within this clock hour, as on Lord Howe
        Island, which shifts by 30 minutes. Then the hour began at the change.
        """
        local = self.local_time(instant_us)
        into_hour_us = ((local.minute * 60) + local.second) * 1_000_000 + local.microsecond
        start_us = instant_us - into_hour_us
        if self.local_time(start_us) == local.replace(minute=0, second=0, microsecond=0):
            return start_us

        # The offsets at start_us and instant_us differ. No zone changes its
        # offset twice within an hour, so a binary search finds the change.
        offset = self._offset_us(instant_us)
        before, after = start_us, instant_us
        while after - before > 1:
            middle = (before + after) // 2
            if self._offset_us(middle) == offset:
                after = middle
            else:
                before = middle
        return after

    def _offset_us(self, instant_us):
        return self._offset_at(datetime(1970, 1, 1) + timedelta(microseconds=instant_us)) // ONE_MICROSECOND

    def midnight(self, date):
        """Return the instant at which a local calendar date begins."""
        return self.resolve(datetime(date.year, date.month, date.day))
