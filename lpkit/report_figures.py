"""Figures of a complete report's page: summary counts, the uptime histogram and the table of rows.

Everything here works on the report CSV's header and rows as text, with no
Flask, so the page and its tests share one implementation.
"""

import csv
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50


class ReportData:
    """A report CSV's header and rows, with its figures and each requested sort order computed once."""

    def __init__(self, header, rows):
        self.header = tuple(header)
        self.rows = tuple(rows)
        self.figures = summary_figures(self.header, self.rows)
        self.histogram = uptime_histogram(self.header, self.rows)
        self._orders = {}

    def sorted_rows(self, column, descending):
        """Return the rows sorted by a column, computing each order on first use."""
        key = (column, descending)
        if key not in self._orders:
            self._orders[key] = _sorted_rows(self.rows, self.header.index(column), descending)
        return self._orders[key]


@lru_cache(maxsize=8)
def load_report_data(path, _mtime_ns, _size):
    """Read a report CSV; the file's mtime and size are part of the cache key, so a rewritten file is read again."""
    with open(path, encoding="utf-8", newline="") as report_file:
        reader = csv.reader(report_file)
        header = next(reader, ())
        rows = [tuple(row) for row in reader]
    return ReportData(header, rows)


def _decimal(text):
    try:
        return Decimal(text)
    except (InvalidOperation, TypeError):
        return None


@dataclass
class SummaryFigures:
    """Counts over all rows of a report."""

    stores: int
    fully_up_last_week: int
    with_downtime: int
    downtime_last_week_hours: Decimal


def _column_indexes(header, names):
    return [header.index(name) for name in names]


def summary_figures(header, rows):
    """Count the stores fully up last week, the stores with any downtime and last week's downtime hours.

    A store is fully up when its downtime last week is 0.00 and its uptime is
    above zero. A store with no uptime and no downtime counts in neither figure.
    """
    uptime_week_index = header.index("uptime_last_week")
    downtime_indexes = _column_indexes(header, ("downtime_last_hour", "downtime_last_day", "downtime_last_week"))
    fully_up = 0
    with_downtime = 0
    downtime_hours = Decimal("0.00")
    for row in rows:
        uptime_week = _decimal(row[uptime_week_index]) or Decimal(0)
        downtimes = [_decimal(row[index]) or Decimal(0) for index in downtime_indexes]
        if downtimes[2] == 0 and uptime_week > 0:
            fully_up += 1
        if any(downtimes):
            with_downtime += 1
        downtime_hours += downtimes[2]
    return SummaryFigures(len(rows), fully_up, with_downtime, downtime_hours)


@dataclass
class HistogramBar:
    """One horizontal bar of the uptime histogram with its place in the SVG."""

    label: str
    count: int
    y: float
    width: float
    unknown: bool = False


@dataclass
class Histogram:
    """The bars of last week's uptime-percentage histogram and the geometry of its SVG."""

    bars: list
    width: int
    height: int
    bar_left: int
    bar_height: int
    description: str


HISTOGRAM_WIDTH = 400
_BAR_LEFT = 78
_BAR_MAX_WIDTH = 272
_ROW_HEIGHT = 22
_BAR_HEIGHT = 16


def uptime_histogram(header, rows, bin_count=10):
    """Bin the stores by last week's uptime percentage; stores without known time get their own bar.

    The percentage is uptime / (uptime + downtime) from the rounded hours in the
    CSV, so it can differ from the exact ratio in the second decimal. The last
    bin includes 100%.
    """
    uptime_index, downtime_index = _column_indexes(header, ("uptime_last_week", "downtime_last_week"))
    counts = [0] * bin_count
    unknown = 0
    for row in rows:
        uptime = _decimal(row[uptime_index]) or Decimal(0)
        downtime = _decimal(row[downtime_index]) or Decimal(0)
        known = uptime + downtime
        if known == 0:
            unknown += 1
            continue
        percent = uptime * 100 / known
        counts[min(int(percent * bin_count / 100), bin_count - 1)] += 1

    step = 100 // bin_count
    labels = [f"{low}–{low + step}%" for low in range(0, 100, step)]
    values = list(zip(labels, counts)) + [("no data", unknown)]
    max_count = max([count for _, count in values] + [1])

    bars = []
    for index, (label, count) in enumerate(values):
        bars.append(
            HistogramBar(
                label=label,
                count=count,
                y=index * _ROW_HEIGHT,
                width=round(_BAR_MAX_WIDTH * count / max_count, 1),
                unknown=index == len(values) - 1,
            )
        )
    description = "; ".join(f"{bar.label}: {bar.count} stores" for bar in bars)
    return Histogram(bars, HISTOGRAM_WIDTH, len(values) * _ROW_HEIGHT, _BAR_LEFT, _BAR_HEIGHT, description)


class ReportTable:
    """One page of a report's rows, filtered by store id and sorted by a column."""

    def __init__(self, data, store_filter, sort_column, descending, page, page_size):
        self.header = data.header
        self.store_filter = store_filter
        self.sort_column = sort_column
        self.descending = descending
        self.page_size = page_size

        ordered = data.sorted_rows(sort_column, descending)
        if store_filter:
            needle = store_filter.lower()
            ordered = [row for row in ordered if needle in row[0].lower()]
        self.match_count = len(ordered)
        self.page_count = max(1, -(-len(ordered) // page_size))
        self.page = min(max(page, 1), self.page_count)
        start = (self.page - 1) * page_size
        self.rows = ordered[start : start + page_size]
        self.first_index = start + 1 if self.rows else 0
        self.last_index = start + len(self.rows)

    @classmethod
    def from_args(cls, data, args):
        """Build the table page that the query parameters store, sort, order, page and per_page ask for."""
        sort_column = args.get("sort", "store_id")
        if sort_column not in data.header:
            sort_column = "store_id"
        page_size = _int_arg(args, "per_page", DEFAULT_PAGE_SIZE)
        if page_size not in PAGE_SIZES:
            page_size = DEFAULT_PAGE_SIZE
        return cls(
            data,
            store_filter=args.get("store", "").strip(),
            sort_column=sort_column,
            descending=args.get("order") == "desc",
            page=_int_arg(args, "page", 1),
            page_size=page_size,
        )

    def query(self, **changes):
        """Return the query parameters of this view with some changed, for links."""
        values = {
            "store": self.store_filter or None,
            "sort": self.sort_column if self.sort_column != "store_id" else None,
            "order": "desc" if self.descending else None,
            "page": self.page if self.page > 1 else None,
            "per_page": self.page_size if self.page_size != DEFAULT_PAGE_SIZE else None,
        }
        values.update(changes)
        return {name: value for name, value in values.items() if value is not None}

    def sort_query(self, column):
        """Return the query that sorts by a column, reversing the order when it is already sorted by it."""
        descending = column == self.sort_column and not self.descending
        return self.query(sort=column if column != "store_id" else None, order="desc" if descending else None, page=None)

    def aria_sort(self, column):
        if column != self.sort_column:
            return "none"
        return "descending" if self.descending else "ascending"


def _int_arg(args, name, default):
    try:
        return int(args.get(name, default))
    except (TypeError, ValueError):
        return default


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def _sorted_rows(rows, column_index, descending):
    """Sort rows by one column: store ids as text, figures as numbers with empty cells last.

    Rows with equal figures stay in store-id order, in both directions.
    """
    by_store = sorted(rows, key=lambda row: row[0])
    if column_index == 0:
        return by_store[::-1] if descending else by_store

    with_value = []
    without_value = []
    for row in by_store:
        value = _number(row[column_index])
        if value is None:
            without_value.append(row)
        else:
            with_value.append((value, row))
    with_value.sort(key=lambda pair: pair[0], reverse=descending)
    return [row for _, row in with_value] + without_value
