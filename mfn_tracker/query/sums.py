"""``stats`` from the side index: whole hours of an unfiltered range from the hourly counts,
everything else grouped in SQL over the rows."""

from __future__ import annotations

from dataclasses import replace

from mfn_tracker.query.index import Index
from mfn_tracker.query.tally import Tally
from mfn_tracker.query.where import where_of
from mfn_tracker.store.reader import Query
from mfn_tracker.store.timestamps import format_ms, parse_timestamp

_HOUR_MS = 3_600_000


def indexed_tally(index: Index, query: Query, width: int) -> Tally:
    """Whole hours of an unfiltered range come from the hourly counts; the rest from rows."""
    filtered = any(
        v is not None for v in (query.types, query.status, query.user, query.repo, query.cursor)
    )
    first, last = _whole_hours(query.since, query.until)
    if filtered or (first is not None and last is not None and first >= last):
        return _grouped(index, query, width)
    tally = _hourly(index, first, last, width)
    if query.since is not None and first is not None and query.since < first:
        tally.merge(_grouped(index, _between(query, query.since, first), width))
    if query.until is not None and last is not None and last < query.until:
        tally.merge(_grouped(index, _between(query, last, query.until), width))
    return tally


def _whole_hours(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """The first and the end of the whole hours inside [since, until), as timestamps."""
    first = None if since is None else _hour_floor(since, up=True)
    last = None if until is None else _hour_floor(until, up=False)
    return first, last


def _hour_floor(timestamp: str, *, up: bool) -> str:
    ms = parse_timestamp(timestamp)
    floor = ms - ms % _HOUR_MS
    return format_ms(floor + _HOUR_MS if up and floor != ms else floor)


def _between(query: Query, since: str, until: str) -> Query:
    return replace(query, since=since, until=until)


def _hourly(index: Index, first: str | None, last: str | None, width: int) -> Tally:
    """Sums of the hourly counts of whole hours in [first, last) (None: open ended)."""
    tally = Tally()
    hours = ("" if first is None else first[:13], "~" if last is None else last[:13])
    for bucket, n, dsum, dn in index.conn.execute(
        "SELECT substr(hour, 1, ?), sum(n), sum(dsum), sum(dn) FROM agg "
        "WHERE dim = '*' AND hour >= ? AND hour < ? GROUP BY 1",
        (width, *hours),
    ):
        tally.total += n
        tally.by_bucket[bucket] += n
        tally.duration_sum += dsum
        tally.duration_count += dn
    counters = {"type": tally.by_type, "status": tally.by_status, "user": tally.by_user}
    counters["repo"] = tally.by_repo
    for dim, value, n in index.conn.execute(
        "SELECT dim, value, sum(n) FROM agg WHERE dim != '*' AND hour >= ? AND hour < ? "
        "GROUP BY dim, value",
        hours,
    ):
        counters[dim][value] += n
    return tally


def _grouped(index: Index, query: Query, width: int) -> Tally:
    tally = Tally()
    where = where_of(query)
    sql = (
        "SELECT type, status, user, repo, substr(ts, 1, ?), count(*), total(dur), count(dur) "  # noqa: S608 - fixed columns, values bound
        f"FROM events WHERE {where.text()} GROUP BY 1, 2, 3, 4, 5"
    )
    for kind, status, user, repo, bucket, n, dsum, dn in index.rows(sql, (width, *where.params)):
        tally.total += n
        tally.by_type[kind] += n
        tally.by_status[status] += n
        tally.by_user[user] += n
        if repo:
            tally.by_repo[repo] += n
        tally.by_bucket[bucket] += n
        tally.duration_sum += dsum
        tally.duration_count += dn
    return tally
