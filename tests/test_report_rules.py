"""Each report rule, checked through the real import and report with numbers worked out by hand.

Dates used below: Mon 2023-01-23, Wed 2023-01-25 and Thu 2023-01-26.
Unless a test states otherwise, the store is in UTC and open 24x7, and the
pivot is Thu 26 Jan 10:18 UTC. So the last hour is Thu 09:00-10:00, the last
day is Wed 25 Jan, and the last week (Mon 16 Jan - Mon 23 Jan) has no polls.
A row is [store_id, up hour (min), up day (h), up week (h), down hour (min),
down day (h), down week (h)].
"""

from datetime import datetime, timedelta

import pytest

from conftest import LOOP_DATA, import_files, report_rows, wait_for_report, write_csv
from lpkit.reports import BatchSizes

PIVOT = "2023-01-26T10:18:00Z"
STATUS_HEADER = "store_id,status,timestamp_utc"
HOURS_HEADER = "store_id,dayOfWeek,start_time_local,end_time_local"
ZONES_HEADER = "store_id,timezone_str"
ZONES_WITH_ONBOARDING_HEADER = "store_id,timezone_str,onboarded_at"


def load(connection, tmp_path, polls=(), hours=(), zones=(), zones_header=ZONES_HEADER, name="a"):
    """Write the given data lines under their headers as export files and import them."""
    paths = []
    for kind, header, lines in (("status", STATUS_HEADER, polls), ("hours", HOURS_HEADER, hours), ("zones", zones_header, zones)):
        if lines:
            text = "\n".join([header, *lines]) + "\n"
            paths.append(write_csv(tmp_path / f"{name}-{kind}.csv", text))
    return import_files(connection, tmp_path, *paths)


def poll(status, when, store_id="s"):
    """Return a store-status line for a poll at a UTC time written as "2023-01-25 09:10"."""
    return f"{store_id},{status},{when}:00 UTC" if when.count(":") == 1 else f"{store_id},{status},{when} UTC"


def row(connection, pivot=PIVOT, store_id="s", **options):
    """Return the report row of one store."""
    rows = report_rows(connection, pivot, **options)
    return next(found for found in rows if found[0] == store_id)


def edge_polls(local_midnight_utc, store_id="s"):
    """Return polls that make a 24x7 day starting at the given UTC instant exactly up.

    An inactive poll 15 minutes before the day and an active one 15 minutes
    into it meet at the day's start. An active poll 15 minutes before the next
    midnight and an inactive one 15 minutes after it meet at its end. A day
    window placed anywhere else has downtime.
    """
    start = datetime.fromisoformat(local_midnight_utc)
    end = start + timedelta(days=1)
    quarter = timedelta(minutes=15)
    moments = [("inactive", start - quarter), ("active", start + quarter), ("active", end - quarter), ("inactive", end + quarter)]
    return [poll(status, moment.strftime("%Y-%m-%d %H:%M"), store_id) for status, moment in moments]


# Daylight saving in America/New_York: 2023-03-12 (spring forward at 07:00 UTC)
# and 2023-11-05 (fall back at 06:00 UTC) are Sundays.

SPRING_PIVOT = "2023-03-13T14:18:00Z"  # Mon 13 Mar 10:18 EDT
FALL_PIVOT = "2023-11-06T15:18:00Z"  # Mon 6 Nov 10:18 EST
NEW_YORK = ["s,America/New_York"]


def test_spring_forward_day_has_23_hours(connection, tmp_path):
    # Sun 12 Mar 00:00 EST (05:00 UTC) to Mon 13 Mar 00:00 EDT (04:00 UTC).
    # Polls at 03:00 EDT and 23:30 EDT are both active. The first lies more
    # than an hour after Saturday's end. The second lasts to Monday 04:54 UTC.
    polls = [poll("active", "2023-03-12 07:00"), poll("active", "2023-03-13 03:30")]
    load(connection, tmp_path, polls=polls, zones=NEW_YORK)

    assert row(connection, SPRING_PIVOT) == [
        "s",
        "0.00",  # Mon 09:00-10:00 EDT (13:00-14:00 UTC): no poll from 12:00 UTC on
        "23.00",  # 05:00-04:00 UTC
        "23.00",  # the week's Sunday; Saturday has no poll within an hour
        "0.00",
        "0.00",
        "0.00",
    ]


def test_fall_back_day_has_25_hours(connection, tmp_path):
    # Sun 5 Nov 00:00 EDT (04:00 UTC) to Mon 6 Nov 00:00 EST (05:00 UTC).
    polls = [poll("active", "2023-11-05 05:00"), poll("active", "2023-11-06 04:30")]
    load(connection, tmp_path, polls=polls, zones=NEW_YORK)

    assert row(connection, FALL_PIVOT) == ["s", "0.00", "25.00", "25.00", "0.00", "0.00", "0.00"]


def test_spring_forward_hours_one_to_three(connection, tmp_path):
    # Sunday 01:00 EST (06:00 UTC) to 03:00 EDT (07:00 UTC) is one hour.
    load(connection, tmp_path, polls=[poll("active", "2023-03-12 06:10")], hours=["s,6,01:00,03:00"], zones=NEW_YORK)

    assert row(connection, SPRING_PIVOT) == ["s", "0.00", "1.00", "1.00", "0.00", "0.00", "0.00"]


def test_fall_back_hours_one_to_three(connection, tmp_path):
    # Sunday 01:00 EDT, its first occurrence (05:00 UTC), to 03:00 EST (08:00 UTC) is three hours.
    load(connection, tmp_path, polls=[poll("active", "2023-11-05 05:10")], hours=["s,6,01:00,03:00"], zones=NEW_YORK)

    assert row(connection, FALL_PIVOT) == ["s", "0.00", "3.00", "3.00", "0.00", "0.00", "0.00"]


def test_gap_time_read_after_gap(connection, tmp_path):
    # 02:30 does not exist on 12 Mar; read with EST it is 03:30 EDT (07:30 UTC).
    # Open 07:30-08:00 UTC: 0.50 h (1.50 h if 02:30 were read as 01:30 EST).
    load(connection, tmp_path, polls=[poll("active", "2023-03-12 07:40")], hours=["s,6,02:30,04:00"], zones=NEW_YORK)

    assert row(connection, SPRING_PIVOT) == ["s", "0.00", "0.50", "0.50", "0.00", "0.00", "0.00"]


def test_repeated_hour_counts_once(connection, tmp_path):
    # 01:15-01:45 on 5 Nov is its first occurrence only, 05:15-05:45 UTC.
    # Active 05:20 and inactive 06:20 UTC meet at 05:50, after closing, so
    # the second 01:15-01:45 (06:15-06:45 UTC, EST) would show as downtime.
    polls = [poll("active", "2023-11-05 05:20"), poll("inactive", "2023-11-05 06:20")]
    load(connection, tmp_path, polls=polls, hours=["s,6,01:15,01:45"], zones=NEW_YORK)

    assert row(connection, FALL_PIVOT) == ["s", "0.00", "0.50", "0.50", "0.00", "0.00", "0.00"]


@pytest.mark.parametrize(
    "pivot, day_hours, week_hours",
    [
        (SPRING_PIVOT, "23.00", "167.00"),  # Mon 6 - Mon 13 Mar: 6 * 24 h + 23 h
        (FALL_PIVOT, "25.00", "169.00"),  # Mon 30 Oct - Mon 6 Nov: 6 * 24 h + 25 h
    ],
)
def test_change_week_business_hours(pivot, day_hours, week_hours, connection, tmp_path):
    load(connection, tmp_path, zones=NEW_YORK)

    business = row(connection, pivot, columns="extended")[7:10]

    assert business == ["60.00", day_hours, week_hours]


def test_rolling_day_across_change_is_24_hours(connection, tmp_path):
    # Pivot Sun 12 Mar 14:18 UTC: the 24 hours before it contain the 07:00 UTC change.
    load(connection, tmp_path, zones=NEW_YORK)

    business = row(connection, "2023-03-12T14:18:00Z", window="rolling", columns="extended")[7:10]

    assert business == ["60.00", "24.00", "168.00"]


SANTIAGO = ["s,America/Santiago"]


def test_midnight_in_gap_starts_day_late(connection, tmp_path):
    # Santiago moves Sun 3 Sep 2023 00:00 -04 (04:00 UTC) to 01:00 -03, so
    # midnight does not exist. Read with -04 it is 04:00 UTC, and the day runs
    # to Mon 4 Sep 00:00 -03 (03:00 UTC): 23 h. Pivot Mon 10:18 -03.
    # The first poll is more than an hour after Saturday's end (04:00 UTC).
    polls = [poll("active", "2023-09-03 05:30"), poll("active", "2023-09-04 02:30")]
    load(connection, tmp_path, polls=polls, zones=SANTIAGO)

    assert row(connection, "2023-09-04T13:18:00Z") == ["s", "0.00", "23.00", "23.00", "0.00", "0.00", "0.00"]


def test_midnight_fall_back_day_has_25_hours(connection, tmp_path):
    # Santiago moves Sun 2 Apr 2023 00:00 -03 (03:00 UTC) back to Sat 23:00 -04.
    # Sat 1 Apr runs from 00:00 -03 (03:00 UTC) to Sun 00:00 -04 (04:00 UTC): 25 h.
    # Pivot Sun 10:18 -04; the week (20-27 Mar) has no polls.
    polls = [poll("active", "2023-04-01 04:00"), poll("active", "2023-04-02 03:30")]
    load(connection, tmp_path, polls=polls, zones=SANTIAGO)

    assert row(connection, "2023-04-02T14:18:00Z") == ["s", "0.00", "25.00", "0.00", "0.00", "0.00", "0.00"]


def test_repeated_midnight_is_first(connection, tmp_path):
    # Havana moves Sun 5 Nov 2023 01:00 -04 (05:00 UTC) back to 00:00 -05, so
    # midnight occurs twice. Its first occurrence (04:00 UTC) starts Sunday,
    # which runs to Mon 00:00 -05 (05:00 UTC): 25 h. The week is 7 * 24 h + 1 h.
    load(connection, tmp_path, zones=["s,America/Havana"])

    business = row(connection, "2023-11-06T15:18:00Z", columns="extended")[7:10]

    assert business == ["60.00", "25.00", "169.00"]


# Overnight and split shifts --------------------------------------------------


def test_overnight_shift_runs_into_next_day(connection, tmp_path):
    # Saturday 22:00-02:00 only; pivot Mon 23 Jan, so the last day is Sunday,
    # which has no row of its own but gets Saturday's 00:00-02:00.
    # Saturday's segment (22:00-24:00) uses polls in [21:00, 01:00): active 21:30.
    # Sunday's segment (00:00-02:00) uses polls in [Sat 23:00, 03:00): inactive 01:10.
    polls = [poll("active", "2023-01-21 21:30"), poll("inactive", "2023-01-22 01:10")]
    load(connection, tmp_path, polls=polls, hours=["s,5,22:00,02:00"], zones=["s,UTC"])

    assert row(connection, "2023-01-23T10:18:00Z") == [
        "s",
        "0.00",  # Monday is closed
        "0.00",
        "2.00",  # Saturday 22:00-24:00
        "0.00",
        "2.00",  # Sunday 00:00-02:00
        "2.00",
    ]


def test_midnight_to_midnight_is_full_day(connection, tmp_path):
    # Wednesday 00:00-00:00 ends at Thursday 00:00: 24 h, and Thursday stays
    # closed, so the active poll at Thu 09:30 gives no last-hour uptime.
    polls = [poll("active", "2023-01-25 23:30"), poll("active", "2023-01-26 09:30")]
    load(connection, tmp_path, polls=polls, hours=["s,2,00:00,00:00"], zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "24.00", "0.00", "0.00", "0.00", "0.00"]


def test_sunday_overnight_runs_into_monday(connection, tmp_path):
    # Sunday 22:00-02:00; pivot Tue 24 Jan, so the last day is Mon 23 Jan.
    # Day: Mon 23 Jan 00:00-02:00, active 01:00: 2 h.
    # Week (16-22 Jan): Mon 16 Jan 00:00-02:00 comes from Sun 15 Jan, active
    # 01:00: 2 h. Sun 22 Jan 22:00-24:00 has no poll before Mon 01:00: unknown.
    polls = [poll("active", "2023-01-16 01:00"), poll("active", "2023-01-23 01:00")]
    load(connection, tmp_path, polls=polls, hours=["s,6,22:00,02:00"], zones=["s,UTC"])

    assert row(connection, "2023-01-24T10:18:00Z") == ["s", "0.00", "2.00", "2.00", "0.00", "0.00", "0.00"]


def test_overlapping_rows_count_once(connection, tmp_path):
    # 09:00-12:00 and 11:00-13:00 make 09:00-13:00: 4 h, active from 10:00
    # until its midpoint with the pivot (Wed 22:09).
    load(connection, tmp_path, polls=[poll("active", "2023-01-25 10:00")], hours=["s,2,09:00,12:00", "s,2,11:00,13:00"], zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "4.00", "0.00", "0.00", "0.00", "0.00"]


SPLIT_SHIFT = ["s,2,09:00,12:00", "s,2,17:00,22:00"]


def test_split_shift_is_one_segment(connection, tmp_path):
    # One segment: the 10:00 poll lasts to its midpoint with the pivot,
    # Wed 22:09, so it covers 09:00-12:00 and 17:00-22:00 (3 h + 5 h).
    load(connection, tmp_path, polls=[poll("active", "2023-01-25 10:00")], hours=SPLIT_SHIFT, zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "8.00", "0.00", "0.00", "0.00", "0.00"]


def test_split_shift_ignores_poll_at_0759(connection, tmp_path):
    # Polls count from 08:00. Were 07:59 used, 09:00 to its midpoint with 12:30
    # (10:14:30) would be down.
    polls = [poll("inactive", "2023-01-25 07:59"), poll("active", "2023-01-25 12:30")]
    load(connection, tmp_path, polls=polls, hours=SPLIT_SHIFT, zones=["s,UTC"])

    # Active from 09:00 to the midpoint of 12:30 and the pivot (23:24): 3 h + 5 h.
    assert row(connection) == ["s", "0.00", "8.00", "0.00", "0.00", "0.00", "0.00"]


def test_split_shift_uses_poll_at_2259(connection, tmp_path):
    # Polls count until 23:00. Active 10:00 and inactive 22:59 meet at 16:29:30,
    # in the closed gap: 09:00-12:00 up (3 h), 17:00-22:00 down (5 h).
    polls = [poll("active", "2023-01-25 10:00"), poll("inactive", "2023-01-25 22:59")]
    load(connection, tmp_path, polls=polls, hours=SPLIT_SHIFT, zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "3.00", "0.00", "0.00", "5.00", "0.00"]


@pytest.mark.parametrize("end", ["23:59", "23:59:59", "24:00", "24:00:00"])
def test_end_of_day_marker_closes_at_midnight(end, connection, tmp_path):
    # Pivot Thu 00:18, so the last hour is Wed 23:00-24:00 and the last day Wed.
    # Active polls 23:10 and Thu 00:10 cover the hour fully: 60 min, where an
    # end at 23:59:59 read literally gives 59.98 and 23:59 gives 59.00.
    polls = [poll("active", "2023-01-25 23:10"), poll("active", "2023-01-26 00:10")]
    load(connection, tmp_path, polls=polls, hours=[f"s,2,12:00,{end}"], zones=["s,UTC"])

    # Day: open 12:00-24:00, active throughout: 12 h.
    assert row(connection, "2023-01-26T00:18:00Z") == ["s", "60.00", "12.00", "0.00", "0.00", "0.00", "0.00"]


@pytest.mark.parametrize("start", ["9:00", "09:00", "9:00:00", "09:00:00"])
def test_time_with_one_digit_hour(start, connection, tmp_path):
    # Open 09:00-10:00, active at 09:30: 1 h.
    load(connection, tmp_path, polls=[poll("active", "2023-01-25 09:30")], hours=[f"s,2,{start},10:00"], zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "1.00", "0.00", "0.00", "0.00", "0.00"]


def test_day_without_rows_is_closed(connection, tmp_path):
    # Open Mondays 09:00-17:00; pivot Wed 25 Jan 10:18, so the last day is
    # Tuesday and the last hour Wednesday 09:00-10:00, both closed.
    polls = [
        poll("active", "2023-01-16 12:00"),
        poll("active", "2023-01-24 10:00"),
        poll("inactive", "2023-01-24 12:00"),
        poll("active", "2023-01-25 09:30"),
    ]
    load(connection, tmp_path, polls=polls, hours=["s,0,09:00,17:00"], zones=["s,UTC"])

    # Week: Mon 16 Jan 09:00-17:00, active at 12:00: 8 h.
    assert row(connection, "2023-01-25T10:18:00Z") == ["s", "0.00", "0.00", "8.00", "0.00", "0.00", "0.00"]


# Onboarding -------------------------------------------------------------------

ONBOARDING_POLLS = [poll("inactive", "2023-01-25 11:30"), poll("active", "2023-01-25 13:00"), poll("active", "2023-01-25 23:30")]


def test_onboarding_cuts_time_and_polls(connection, tmp_path):
    # Onboarded Wed 12:00: business 12:00-24:00. The 11:30 poll is ignored, so
    # 13:00 takes the time back to 12:00 and 23:30 lasts past midnight: 12 h.
    zones = ["s,UTC,2023-01-25 12:00:00 UTC"]
    load(connection, tmp_path, polls=ONBOARDING_POLLS, zones=zones, zones_header=ZONES_WITH_ONBOARDING_HEADER)

    assert row(connection) == ["s", "0.00", "12.00", "0.00", "0.00", "0.00", "0.00"]


def test_empty_onboarding_cell_leaves_unset(connection, tmp_path):
    # No onboarding: 11:30 inactive and 13:00 active meet at 12:15.
    # Down 00:00-12:15 = 12.25 h, up 12:15-24:00 = 11.75 h.
    load(connection, tmp_path, polls=ONBOARDING_POLLS, zones=["s,UTC,"], zones_header=ZONES_WITH_ONBOARDING_HEADER)

    assert row(connection) == ["s", "0.00", "11.75", "0.00", "0.00", "12.25", "0.00"]


def test_zones_without_onboarding_keep_it(connection, tmp_path):
    zones = ["s,UTC,2023-01-25 12:00:00 UTC"]
    load(connection, tmp_path, polls=ONBOARDING_POLLS, zones=zones, zones_header=ZONES_WITH_ONBOARDING_HEADER)
    load(connection, tmp_path, zones=["s,UTC"], name="b")

    # Still onboarded at 12:00, as in test_onboarding_cuts_time_and_polls.
    assert row(connection) == ["s", "0.00", "12.00", "0.00", "0.00", "0.00", "0.00"]


def test_empty_onboarding_cell_clears_it(connection, tmp_path):
    zones = ["s,UTC,2023-01-25 12:00:00 UTC"]
    load(connection, tmp_path, polls=ONBOARDING_POLLS, zones=zones, zones_header=ZONES_WITH_ONBOARDING_HEADER)
    load(connection, tmp_path, zones=["s,UTC,"], zones_header=ZONES_WITH_ONBOARDING_HEADER, name="b")

    # As in test_empty_onboarding_cell_leaves_unset.
    assert row(connection) == ["s", "0.00", "11.75", "0.00", "0.00", "12.25", "0.00"]


# The pivot --------------------------------------------------------------------


def test_polls_after_pivot_ignored(connection, tmp_path):
    # Last hour 09:00-10:00: active 09:30 lasts to its midpoint with the pivot,
    # 09:54, so up 54 min and the rest unknown. Were the inactive poll at
    # 10:30 used, up would run to 10:00 (60 min).
    load(connection, tmp_path, polls=[poll("active", "2023-01-26 09:30"), poll("inactive", "2023-01-26 10:30")], zones=["s,UTC"])

    assert row(connection) == ["s", "54.00", "0.00", "0.00", "0.00", "0.00", "0.00"]


def test_default_pivot_is_newest_poll(client, connection, tmp_path):
    polls = [poll("active", "2023-01-26 09:30"), poll("inactive", "2023-01-26 10:18:07.123456")]
    load(connection, tmp_path, polls=polls, zones=["s,UTC"])

    triggered = client.post("/trigger_report")

    assert triggered.get_json()["pivot"] == "2023-01-26T10:18:07.123456Z"

    # 09:30:00 and 10:18:07.123456 meet at 09:54:03.561728.
    # Up 09:00-09:54:03.561728 = 3243.561728 s = 54.0594 min.
    # Down to 10:00 = 356.438272 s = 5.9406 min: the newest poll is used.
    body = wait_for_report(client, triggered.get_json()["report_id"]).data.decode("utf-8")
    assert body.splitlines()[1] == "s,54.06,0.00,0.00,5.94,0.00,0.00"


def test_pivot_on_hour_boundary(connection, tmp_path):
    # Pivot 10:00:00 starts the 10:00 hour, so the last hour is 09:00-10:00.
    # Active 09:30 lasts to its midpoint with the pivot, 09:45: 45 min.
    load(connection, tmp_path, polls=[poll("active", "2023-01-26 09:30")], zones=["s,UTC"])

    assert row(connection, "2023-01-26T10:00:00Z") == ["s", "45.00", "0.00", "0.00", "0.00", "0.00", "0.00"]


def test_pivot_at_midnight(connection, tmp_path):
    # Pivot Thu 00:00: the last day is Wed, the last hour Wed 23:00-24:00.
    # Active 12:00 lasts to its midpoint with the pivot, 18:00: 18 h, and
    # no poll lies within an hour of the last hour.
    load(connection, tmp_path, polls=[poll("active", "2023-01-25 12:00")], zones=["s,UTC"])

    assert row(connection, "2023-01-26T00:00:00Z") == ["s", "0.00", "18.00", "0.00", "0.00", "0.00", "0.00"]


@pytest.mark.parametrize(
    "pivot",
    [
        "1674728280000",  # (19358 days to 2023 + 25 days) * 86400 s + 10:18 (37080 s), in ms
        "2023-01-26T05:18:00-05:00",
        "2023-01-26T15:48:00+05:30",
        "2023-01-26 10:18:00",  # no offset: UTC
    ],
)
def test_pivot_forms_name_same_instant(pivot, connection, tmp_path):
    # Each is Thu 10:18 UTC: active 09:30 lasts to 09:54, up 54 min.
    load(connection, tmp_path, polls=[poll("active", "2023-01-26 09:30")], zones=["s,UTC"])

    assert row(connection, pivot) == ["s", "54.00", "0.00", "0.00", "0.00", "0.00", "0.00"]


# Duplicate polls ---------------------------------------------------------------


def test_duplicate_poll_is_one_poll(connection, tmp_path):
    polls = [poll("active", "2023-01-25 12:00"), poll("active", "2023-01-25 12:00")]
    (summary,) = load(connection, tmp_path, polls=polls)

    assert summary.rows_inserted == 1
    assert summary.rows_duplicate == 1


def test_conflicting_poll_rejected_first_wins(connection, tmp_path):
    polls = [poll("active", "2023-01-25 12:00"), poll("inactive", "2023-01-25 12:00")]
    summaries = load(connection, tmp_path, polls=polls, zones=["s,UTC"])

    assert summaries[0].rows_rejected == 1
    assert summaries[0].first_reasons[0].startswith("line 3: ")
    assert "conflicts" in summaries[0].first_reasons[0]
    # Only the active poll counts: up 00:00-23:09 = 23.15 h.
    assert row(connection) == ["s", "0.00", "23.15", "0.00", "0.00", "0.00", "0.00"]


# Asia/Kolkata, UTC+05:30 -------------------------------------------------------


def test_kolkata_windows_on_half_hours(connection, tmp_path):
    # Pivot Thu 04:48 UTC = 10:18 IST. Last day Wed 00:00-24:00 IST = Tue
    # 18:30 - Wed 18:30 UTC; last hour 09:00-10:00 IST = 03:30-04:30 UTC.
    # Poll pairs meet exactly on those bounds, so a window off by 30 minutes
    # would show downtime.
    polls = edge_polls("2023-01-24 18:30") + [
        poll("inactive", "2023-01-26 03:15"),
        poll("active", "2023-01-26 03:45"),
        poll("active", "2023-01-26 04:15"),
        poll("inactive", "2023-01-26 04:45"),
    ]
    load(connection, tmp_path, polls=polls, zones=["s,Asia/Kolkata"])

    assert row(connection, "2023-01-26T04:48:00Z") == ["s", "60.00", "24.00", "0.00", "0.00", "0.00", "0.00"]


# Store ids --------------------------------------------------------------------


def test_store_ids_kept_and_sorted_as_text(connection, tmp_path):
    ids = ["c0a8012e-7d1f-4b6a-9e3c-5f2d8a1b4c6e", "2", "10", "0A1B2C3D-0000-4000-8000-000000000001", "007"]
    load(connection, tmp_path, zones=[f"{store_id},UTC" for store_id in ids])

    # Sorted by code point: digits before capitals before lower case.
    assert [found[0] for found in report_rows(connection, PIVOT)] == [
        "007",
        "0A1B2C3D-0000-4000-8000-000000000001",
        "10",
        "2",
        "c0a8012e-7d1f-4b6a-9e3c-5f2d8a1b4c6e",
    ]


# Time zones and defaults ------------------------------------------------------

CHICAGO_PIVOT = "2023-01-26T16:18:00Z"  # Thu 10:18 CST
CHICAGO_DAY_POLLS = edge_polls("2023-01-25 06:00")  # Wed 00:00 CST


def test_unknown_zone_uses_chicago(connection, tmp_path):
    summaries = load(connection, tmp_path, polls=CHICAGO_DAY_POLLS, zones=["s,Mars/Olympus_Mons"])

    assert any("Mars/Olympus_Mons" in warning for warning in summaries[1].warnings)
    # The edge polls fit Wed 06:00 - Thu 06:00 UTC exactly: up 24 h.
    assert row(connection, CHICAGO_PIVOT) == ["s", "0.00", "24.00", "0.00", "0.00", "0.00", "0.00"]


def test_zone_name_ignores_case(connection, tmp_path):
    # Wed 00:00 EST is 05:00 UTC; Chicago would leave 05:00-06:00 UTC Thu down.
    load(connection, tmp_path, polls=edge_polls("2023-01-25 05:00"), zones=["s,america/new_york"])

    assert row(connection, "2023-01-26T15:18:00Z") == ["s", "0.00", "24.00", "0.00", "0.00", "0.00", "0.00"]


def test_empty_zone_uses_chicago(connection, tmp_path):
    load(connection, tmp_path, polls=CHICAGO_DAY_POLLS, zones=["s,"])

    assert row(connection, CHICAGO_PIVOT) == ["s", "0.00", "24.00", "0.00", "0.00", "0.00", "0.00"]


def test_store_from_polls_only_uses_chicago(connection, tmp_path):
    load(connection, tmp_path, polls=CHICAGO_DAY_POLLS)

    assert row(connection, CHICAGO_PIVOT) == ["s", "0.00", "24.00", "0.00", "0.00", "0.00", "0.00"]


def test_store_without_hours_is_open_always(connection, tmp_path):
    # Only store "h" has hours (Mondays); store "s" has none and is open all Wednesday.
    polls = [poll("active", "2023-01-25 00:30"), poll("active", "2023-01-25 23:30")]
    load(connection, tmp_path, polls=polls, hours=["h,0,09:00,17:00"], zones=["s,UTC", "h,UTC"])

    assert row(connection) == ["s", "0.00", "24.00", "0.00", "0.00", "0.00", "0.00"]


def test_store_from_hours_only_listed(connection, tmp_path):
    load(connection, tmp_path, hours=["h,0,09:00,17:00"])

    assert report_rows(connection, PIVOT) == [["h", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"]]


# Extrapolation ----------------------------------------------------------------


def test_first_poll_status_reaches_back(connection, tmp_path):
    # Inactive 20:00 covers 00:00 and lasts to its midpoint with the pivot (Thu 03:09).
    load(connection, tmp_path, polls=[poll("inactive", "2023-01-25 20:00")], zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "0.00", "0.00", "0.00", "24.00", "0.00"]


def test_midpoint_splits_gap(connection, tmp_path):
    # Inactive 06:00 and active 06:45 meet at 06:22:30.
    # Down 00:00-06:22:30 = 6.375 h -> 6.38; up to 24:00 = 17.625 h -> 17.63
    # (23:30 active lasts to Thu 04:54).
    polls = [poll("inactive", "2023-01-25 06:00"), poll("active", "2023-01-25 06:45"), poll("active", "2023-01-25 23:30")]
    load(connection, tmp_path, polls=polls, zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "17.63", "0.00", "0.00", "6.38", "0.00"]


def test_last_poll_lasts_to_pivot_midpoint(connection, tmp_path):
    # Active 09:10 lasts to its midpoint with 10:18, 09:44: up 44 min, 16 min unknown.
    load(connection, tmp_path, polls=[poll("active", "2023-01-26 09:10")], zones=["s,UTC"])

    assert row(connection) == ["s", "44.00", "0.00", "0.00", "0.00", "0.00", "0.00"]


def test_segment_without_polls_unknown(connection, tmp_path):
    # The only poll (Mon 23 Jan) is far from every window: all business time unknown.
    load(connection, tmp_path, polls=[poll("active", "2023-01-23 12:00")], zones=["s,UTC"])

    assert row(connection, columns="extended") == [
        "s",
        *["0.00"] * 6,
        "60.00",  # business minutes last hour
        "24.00",  # business hours last day
        "168.00",  # business hours last week
        "60.00",  # unknown minutes
        "24.00",
        "168.00",
        "",  # uptime percent of no known time
        "",
        "",
    ]


def test_segment_uses_only_own_polls(connection, tmp_path):
    # Wednesday's polls are those in [Tue 23:00, Thu 01:00): only active 12:00,
    # which lasts to its midpoint with the pivot, 23:09: 23.15 h up. Inactive
    # polls at Tue 22:59 and Thu 01:00 are outside.
    polls = [poll("inactive", "2023-01-24 22:59"), poll("active", "2023-01-25 12:00"), poll("inactive", "2023-01-26 01:00")]
    load(connection, tmp_path, polls=polls, zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "23.15", "0.00", "0.00", "0.00", "0.00"]


def test_poll_one_hour_before_counts(connection, tmp_path):
    # Wednesday's polls start at Tue 23:00 inclusive. Inactive then and active
    # at 03:00 meet at 01:00: down 1 h, up 01:00-24:00 = 23 h.
    polls = [poll("inactive", "2023-01-24 23:00"), poll("active", "2023-01-25 03:00"), poll("active", "2023-01-25 23:30")]
    load(connection, tmp_path, polls=polls, zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "23.00", "0.00", "0.00", "1.00", "0.00"]


def test_midpoint_keeps_half_microsecond(connection, tmp_path):
    # Inactive 23:50:00 and active 23:55:00.000001 meet at 23:52:30.0000005.
    # Up to midnight is 0.125 h - 0.5 us -> 0.12 (a midpoint cut to whole
    # microseconds gives 0.125 h -> 0.13). Down from 00:00 is 23.875 h + 0.5 us -> 23.88.
    polls = [poll("inactive", "2023-01-25 23:50:00"), poll("active", "2023-01-25 23:55:00.000001")]
    load(connection, tmp_path, polls=polls, zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "0.12", "0.00", "0.00", "23.88", "0.00"]


# Last hour, rounding and output ------------------------------------------------


def test_last_hour_is_previous_clock_hour(connection, tmp_path):
    # Pivot Thu 15:18 UTC = 10:18 EST: last hour 09:00-10:00 EST = 14:00-15:00 UTC.
    # The polls meet at 14:00, 14:30 and 15:00, so only that hour is up; the
    # 60 minutes before the pivot would include 15:00-15:18 down.
    polls = [
        poll("inactive", "2023-01-26 13:45"),
        poll("active", "2023-01-26 14:15"),
        poll("active", "2023-01-26 14:45"),
        poll("inactive", "2023-01-26 15:15"),
    ]
    load(connection, tmp_path, polls=polls, zones=NEW_YORK)

    assert row(connection, "2023-01-26T15:18:00Z") == ["s", "60.00", "0.00", "0.00", "0.00", "0.00", "0.00"]


def test_last_hour_partly_open(connection, tmp_path):
    # Open Thursdays from 09:30: the last hour has business 09:30-10:00.
    # Active 09:45 covers it back to 09:30 and lasts to 10:01:30: 30 min.
    load(connection, tmp_path, polls=[poll("active", "2023-01-26 09:45")], hours=["s,3,09:30,17:00"], zones=["s,UTC"])

    assert row(connection) == ["s", "30.00", "0.00", "0.00", "0.00", "0.00", "0.00"]


def test_rolling_day_cut_at_midnight(connection, tmp_path):
    # Rolling windows end at the pivot: hour Thu 09:18-10:18, day Wed 10:18 -
    # Thu 10:18, week Thu 19 Jan 10:18 - Thu 26 Jan 10:18.
    # Wednesday's segment uses active 12:00 only, which lasts to 23:09.
    # Thursday's segment uses inactive 09:00 only, from 00:00 to 09:39.
    polls = [poll("active", "2023-01-25 12:00"), poll("inactive", "2023-01-26 09:00")]
    load(connection, tmp_path, polls=polls, zones=["s,UTC"])

    assert row(connection, window="rolling") == [
        "s",
        "0.00",
        "12.85",  # Wed 10:18-23:09
        "23.15",  # Wed 00:00-23:09
        "21.00",  # Thu 09:18-09:39
        "9.65",  # Thu 00:00-09:39
        "9.65",
    ]


LORD_HOWE = ["s,Australia/Lord_Howe"]


def test_last_hour_after_half_hour_fall_back(connection, tmp_path):
    # Lord Howe Island moves 2 Apr 2023 02:00 +11 (15:00 UTC) back to 01:30 +10:30.
    # Pivot 01:40 +10:30 (15:10 UTC): its clock hour was entered at 15:00 UTC,
    # so the last hour is 14:00-15:00 UTC (01:00-02:00 +11). The polls meet
    # at 14:00, 14:32:30 and 15:00, so only that hour is up.
    polls = [
        poll("inactive", "2023-04-01 13:45"),
        poll("active", "2023-04-01 14:15"),
        poll("active", "2023-04-01 14:50"),
        poll("inactive", "2023-04-01 15:10"),
    ]
    load(connection, tmp_path, polls=polls, zones=LORD_HOWE)

    assert row(connection, "2023-04-01T15:10:00Z")[1::3] == ["60.00", "0.00"]


def test_last_hour_after_half_hour_gap(connection, tmp_path):
    # Lord Howe Island moves 1 Oct 2023 02:00 +10:30 (15:30 UTC) to 02:30 +11.
    # Pivot 02:40 +11 (15:40 UTC): its clock hour began at the change, like
    # 02:00 read after the gap, so the last hour is 14:30-15:30 UTC.
    polls = [
        poll("inactive", "2023-09-30 14:15"),
        poll("active", "2023-09-30 14:45"),
        poll("active", "2023-09-30 15:20"),
        poll("inactive", "2023-09-30 15:40"),
    ]
    load(connection, tmp_path, polls=polls, zones=LORD_HOWE)

    assert row(connection, "2023-09-30T15:40:00Z")[1::3] == ["60.00", "0.00"]


ROUNDING_POLLS = [poll("inactive", "2023-01-25 00:30"), poll("active", "2023-01-25 01:39"), poll("active", "2023-01-25 23:30")]


def test_rounds_half_up_at_1_075(connection, tmp_path):
    # 00:30 and 01:39 meet at 01:04:30: down 1 h 4 min 30 s = 1.075 h -> 1.08,
    # up 22.925 h -> 22.93.
    load(connection, tmp_path, polls=ROUNDING_POLLS, zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "22.93", "0.00", "0.00", "1.08", "0.00"]


def test_rounds_half_up_at_0_125(connection, tmp_path):
    # 00:05 and 00:10 meet at 00:07:30: down 0.125 h -> 0.13, up 23.875 h -> 23.88.
    polls = [poll("inactive", "2023-01-25 00:05"), poll("active", "2023-01-25 00:10"), poll("active", "2023-01-25 23:30")]
    load(connection, tmp_path, polls=polls, zones=["s,UTC"])

    assert row(connection) == ["s", "0.00", "23.88", "0.00", "0.00", "0.13", "0.00"]


def test_extended_uptime_percent(connection, tmp_path):
    load(connection, tmp_path, polls=ROUNDING_POLLS, zones=["s,UTC"])

    extended = row(connection, columns="extended")

    # Day: 22.925 h up of 24 h known = 95.5208 %. The hour and week have no known time.
    assert extended[7:] == ["60.00", "24.00", "168.00", "60.00", "0.00", "168.00", "", "95.52", ""]


def test_report_csv_bytes(client, connection, tmp_path):
    load(connection, tmp_path, polls=ROUNDING_POLLS, zones=["s,UTC"])

    triggered = client.post("/trigger_report", json={"pivot": PIVOT})
    response = wait_for_report(client, triggered.get_json()["report_id"])

    # CRLF line ends, no byte-order mark, two decimals everywhere.
    assert response.data == (
        b"store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
        b"downtime_last_hour,downtime_last_day,downtime_last_week\r\n"
        b"s,0.00,22.93,0.00,0.00,1.08,0.00\r\n"
    )


# Batch sizes -------------------------------------------------------------------


def test_batch_sizes_give_same_rows(connection, tmp_path):
    import_files(connection, tmp_path, *sorted(LOOP_DATA.glob("*.csv")))
    pivot = "2023-01-25T18:11:39.622234Z"  # the newest poll

    one_at_a_time = report_rows(connection, pivot, batch_sizes=BatchSizes(stores=1, polls=1))
    default = report_rows(connection, pivot, batch_sizes=BatchSizes(1000, 250))

    assert len(default) == 13822
    assert one_at_a_time == default
