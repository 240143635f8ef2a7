"""Parsers for the values in the exports and for report pivots.

Each parser takes the raw text of one cell and either returns the value or
raises ValueError with a message that names the value and the fix.
"""

import re
import time
from datetime import datetime, timedelta, timezone

import pytz

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)
ONE_MICROSECOND = timedelta(microseconds=1)
MICROSECONDS_PER_SECOND = 1_000_000
END_OF_DAY_US = 86_400 * MICROSECONDS_PER_SECOND

STATUS_VALUES = {"active": 1, "inactive": 0}

_UTC_SUFFIX = re.compile(r"\s*UTC$", re.IGNORECASE)
_FRACTION = re.compile(r"\.(\d+)")
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+$")
# re.ASCII: \d would also match digits of other scripts, such as "٠٩:٠٠", which int() reads.
_LOCAL_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$", re.ASCII)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
SHOWN_CHARS = 60
_CANONICAL_ZONES = {name.lower(): name for name in pytz.all_timezones}

TIMESTAMP_HINT = "use a UTC timestamp such as 2023-01-22 12:09:39.388884 UTC or 2023-01-22T12:09:39Z"


def truncated(value):
    """Return a value cut to SHOWN_CHARS characters for an error message, so a huge cell stays readable."""
    if len(value) <= SHOWN_CHARS:
        return value
    return f"{value[:SHOWN_CHARS]}... ({len(value)} characters)"


def datetime_to_us(moment):
    """Convert an aware datetime to integer microseconds since the epoch."""
    return (moment - EPOCH) // ONE_MICROSECOND


def us_to_datetime(instant_us):
    """Convert microseconds since the epoch to an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=instant_us)


def format_instant(instant_us):
    """Format an instant as ISO 8601 UTC with microseconds, e.g. 2023-01-25T18:13:00.000000Z."""
    return us_to_datetime(instant_us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp_us(text):
    """Parse a poll or onboarding timestamp into microseconds since the epoch (UTC).

    Accepts ISO 8601 with a space or T, with or without fractional seconds, and
    with " UTC", "Z", an offset such as +05:30, or no zone at all (read as UTC).
    """
    value = text.strip()

    # Fast path for the usual export form, 2023-01-22 12:09:39[.388884] UTC,
    # with 0 to 6 fractional digits (exports drop trailing zeros).
    if 23 <= len(value) <= 30 and value.endswith(" UTC") and value[10] == " " and value[19:20] in (".", " "):
        try:
            moment = datetime.fromisoformat(value[:-4])
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                return (moment - _NAIVE_EPOCH) // ONE_MICROSECOND

    bare = _UTC_SUFFIX.sub("", value)
    if "T" not in bare and "t" not in bare and " " not in bare:
        raise ValueError(f'timestamp "{truncated(value)}" has no time of day; {TIMESTAMP_HINT}')

    fraction = _FRACTION.search(bare)
    if fraction and len(fraction.group(1)) > 6 and fraction.group(1)[6:].strip("0"):
        raise ValueError(
            f'timestamp "{truncated(value)}" is more precise than a microsecond; round it to 6 decimal places'
        )

    try:
        moment = datetime.fromisoformat(bare)
    except ValueError:
        raise ValueError(f'timestamp "{truncated(value)}" is not a valid date and time; {TIMESTAMP_HINT}') from None

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return datetime_to_us(moment)


def parse_local_time_us(text, *, column):
    """Parse a wall-clock time such as 9:00, 09:00:00 or 24:00 into microseconds after midnight.

    24:00 is accepted only in the end column, where it means the end of the day.
    """
    value = text.strip()
    match = _LOCAL_TIME.match(value)
    if not match:
        raise ValueError(f'{column} "{truncated(value)}" is not a time of day; use HH:MM or HH:MM:SS, such as 09:00:00')

    hours, minutes = int(match.group(1)), int(match.group(2))
    seconds = int(match.group(3) or 0)
    microseconds = int((match.group(4) or "0").ljust(6, "0"))
    if hours == 24 and minutes == seconds == microseconds == 0:
        if column != "end_time_local":
            raise ValueError(f'{column} "{truncated(value)}" is the end of a day; use 00:00 for the start of a day')
        return END_OF_DAY_US
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f'{column} "{truncated(value)}" is out of range; hours run 00-23 (or 24:00 as an end), minutes and seconds 00-59')

    return ((hours * 60 + minutes) * 60 + seconds) * MICROSECONDS_PER_SECOND + microseconds


def format_local_time(time_us):
    """Format microseconds after local midnight as HH:MM or HH:MM:SS."""
    seconds, microseconds = divmod(time_us, MICROSECONDS_PER_SECOND)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}"
    if seconds or microseconds:
        text += f":{seconds:02d}"
    if microseconds:
        text += f".{microseconds:06d}"
    return text


def parse_status(text):
    """Parse a poll status, ignoring case: 1 for active, 0 for inactive."""
    value = text.strip()
    try:
        return STATUS_VALUES[value.lower()]
    except KeyError:
        raise ValueError(f'status "{truncated(value)}" is unknown; use active or inactive') from None


def parse_store_id(text):
    """Return a store id trimmed of spaces, rejecting empty and spreadsheet-mangled ids."""
    value = text.strip()
    if not value:
        raise ValueError("store_id is empty; every row needs the id of its store")
    control = _CONTROL_CHARACTER.search(value)
    if control:
        raise ValueError(
            f'store_id "{truncated(value)}" contains the control character U+{ord(control.group()):04X}; '
            "remove it from the export and import the file again"
        )
    if _SCIENTIFIC.match(value):
        raise ValueError(
            f'store_id "{truncated(value)}" lost digits in a spreadsheet (scientific notation); '
            "export the column as text and import the file again"
        )
    return value


def parse_day_of_week(text):
    """Parse a day number: 0 is Monday and 6 is Sunday."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f'day of week "{truncated(value)}" is not a day number; use 0 for Monday through 6 for Sunday')
    if int(value) > 6:
        raise ValueError(f'day of week "{truncated(value)}" is outside 0-6; use 0 for Monday through 6 for Sunday')
    return int(value)


def canonical_timezone(name):
    """Return the IANA zone whose name matches without regard to case, or None."""
    return _CANONICAL_ZONES.get(name.strip().lower())


PIVOT_HINT = (
    "use ISO 8601 such as 2023-01-25T18:13:00Z, epoch milliseconds such as 1674670380000, "
    "now, or latest (the newest poll)"
)

# Instants outside this range cannot be a poll time and overflow datetime arithmetic.
_EARLIEST_PIVOT_US = datetime_to_us(datetime(1970, 1, 2, tzinfo=timezone.utc))
_LATEST_PIVOT_US = datetime_to_us(datetime(9999, 12, 1, tzinfo=timezone.utc))


# Epoch milliseconds below this (1973-03-03) are far more likely epoch seconds
# sent by mistake than a pivot in the early 1970s.
_SMALLEST_LIKELY_EPOCH_MS = 100_000_000_000


def parse_pivot_us(text, now_us=None):
    """Parse a report pivot: ISO 8601 (no offset means UTC), epoch milliseconds, or "now"."""
    value = str(text).strip()
    if not value:
        raise ValueError(f"pivot is empty; {PIVOT_HINT}")
    if value.lower() == "now":
        return now_us if now_us is not None else time.time_ns() // 1000

    if re.fullmatch(r"-?[0-9]+[.,][0-9]*", value):
        raise ValueError(f'pivot "{truncated(value)}" has a fraction; epoch milliseconds are a whole number such as 1674670380000')
    if re.fullmatch(r"-?[0-9]+", value):
        if 0 < int(value) < _SMALLEST_LIKELY_EPOCH_MS:
            raise ValueError(
                f'pivot "{value}" looks like epoch seconds; epoch milliseconds have 13 digits, such as {value}000'
            )
        pivot_us = int(value) * 1000
        if len(value) > 16:
            pivot_us = None
    else:
        try:
            moment = datetime.fromisoformat(_UTC_SUFFIX.sub("", value))
        except ValueError:
            raise ValueError(f'pivot "{truncated(value)}" is not a valid date; {PIVOT_HINT}') from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        try:
            pivot_us = datetime_to_us(moment)
        except OverflowError:
            pivot_us = None

    if pivot_us is None or not _EARLIEST_PIVOT_US <= pivot_us <= _LATEST_PIVOT_US:
        raise ValueError(f'pivot "{truncated(value)}" is out of range; use a date between 1970-01-02 and 9999-11-30')
    return pivot_us
