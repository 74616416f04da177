"""Temporal expressions → :class:`~tidings.core.records.When`, against the publication date.

Three jobs, offline and fast:

* :func:`find_times` finds temporal expressions in running text with regular expressions. spaCy's
  DATE/TIME entities miss or mangle some ("in just over a week" is dropped, "13-year" looks like a
  date), so the finder complements them with exact character offsets and a kind.
* :func:`resolve` turns one expression into a :class:`When` against an anchor date. Hand-written rules
  cover wire-service phrasing in microseconds; dateparser is only a fallback, because it is a hundred
  times slower and misreads durations ("13-year" → 13 December).
* :func:`infer_publication_date` recovers a missing publication date from what a text says.

Conventions, chosen for news copy (the tests pin each one down):

* Past or unknown tense looks back. "on Friday" is the latest Friday *on or before* the anchor, so in
  a Saturday article "on Saturday" is the anchor itself: wire copy names today's weekday rather than
  saying "today". Future tense looks forward, again on or after the anchor.
* "last Friday" / "next Friday" name the Friday of the previous / next Monday–Sunday week, like "last
  week" / "next week"; "this Friday" is the Friday of the anchor's week; "this past" / "this coming
  Friday" are the nearest Friday strictly before / after the anchor.
* A month-day without a year takes the anchor's year unless that would put it more than
  :data:`GRACE_DAYS` after the anchor (then the year before). Future tense takes the next occurrence.
  With no tense at all, a date in the coming month beats one almost a year ago ("January 5" in a
  28 December article).
* Ambiguous numeric dates ("03/04/2024") are read day-first, as most of the world writes them; pass
  ``dayfirst=False`` for US sources. Dotted dates ("03.04.2024") are always day-first.
* ``When.anchor`` is ``"none"`` when the expression carries its own full date ("6 December 2024",
  "2011") and ``anchor_kind`` when the anchor was needed to resolve it.

The words and facts (month names, holidays, wars' start dates, vague words) live in
``data/en/time.json``; this module holds only mechanisms.

Why not a date library alone: dateparser (a dependency, used as the fallback above) and ``search_dates``
find and resolve dates but not news conventions — weekday anchoring to the dateline, tense-driven
direction, ranges and durations kept apart ("13-year" is a span, not 13 December), vague periods,
holiday and war anchors — and they are ~100x slower per expression; duckling/SUTime need a JVM or a
Haskell service, which breaks "offline, pip install only".
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from tidings.core.records import Granularity, When
from tidings.core.settings import LANGUAGE_DIR

__all__ = ["GRACE_DAYS", "find_times", "infer_publication_date", "resolve"]

GRACE_DAYS: Final = 7          # a past event may fall a little after a loose anchor (time zones, embargoes)
NEAR_FUTURE_DAYS: Final = 31   # unknown tense: an occurrence this close ahead ...
FAR_PAST_DAYS: Final = 300     # ... beats one this far behind
_DAY = dt.timedelta(days=1)

Date = dt.date
Span3 = tuple[int, int, str]


# --- the lexicon (data/en/time.json) ----------------------------------------------------------------

@dataclass(frozen=True)
class _Holiday:
    """A named day or period: fixed month-day, a day counted from Easter, or a table of dates."""

    month_day: tuple[int, int] | None = None
    easter: tuple[str, int] | None = None                  # (calendar, offset in days)
    dated: tuple[tuple[Date, Date], ...] = ()

    def occurrence(self, year: int) -> tuple[Date, Date] | None:
        if self.month_day is not None:
            day = _safe_date(year, *self.month_day)
            return None if day is None else (day, day)
        if self.easter is not None:
            calendar, offset = self.easter
            base = _easter_orthodox(year) if calendar == "orthodox" else _easter_western(year)
            day = base + dt.timedelta(days=offset)
            return day, day
        return next(((s, e) for s, e in self.dated if s.year == year), None)


@dataclass(frozen=True)
class _War:
    """A war whose running length ("the 13-year civil war") dates the text that mentions it."""

    name: str
    keywords: tuple[str, ...]
    start: Date
    end: Date | None


@dataclass(frozen=True)
class _Lexicon:
    weekdays: dict[str, int]
    full_weekdays: tuple[str, ...]
    months: dict[str, int]
    full_months: tuple[str, ...]
    month_abbreviations: tuple[str, ...]
    cue_months: frozenset[str]
    numbers: dict[str, int]
    units: dict[str, tuple[str, int]]
    plural_window: dict[str, int]
    parts_of_day: tuple[str, ...]
    relative_days: dict[str, tuple[int, int]]
    seasons: dict[str, tuple[int, int]]
    vague: frozenset[str]
    duration_nouns: tuple[str, ...]
    future_markers: tuple[str, ...]
    holiday_names: tuple[str, ...]                       # as written, for the finder
    holidays: dict[str, _Holiday]                        # normalised name → holiday
    named_dates: dict[str, Date]                         # "9/11" → 2001-09-11
    wars: tuple[_War, ...]


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    raw = json.loads((LANGUAGE_DIR / "time.json").read_text("utf-8"))
    weekdays = {name: i for i, name in enumerate(raw["weekdays"])} | raw["weekday_abbreviations"]
    relative = {}
    for phrase, value in raw["relative_days"].items():
        lo, hi = (value, value) if isinstance(value, int) else value
        relative[_normalise(phrase)] = (lo, hi)
    names, holidays = _load_holidays(raw["holidays"])
    wars = tuple(
        _War(w["name"], tuple(w["keywords"]), Date.fromisoformat(w["start"]),
             Date.fromisoformat(w["end"]) if w.get("end") else None)
        for w in raw["wars"]
    )
    return _Lexicon(
        weekdays=weekdays, full_weekdays=tuple(raw["weekdays"]),
        months=raw["months"] | raw["month_abbreviations"], full_months=tuple(raw["months"]),
        month_abbreviations=tuple(raw["month_abbreviations"]),
        cue_months=frozenset(raw["months_needing_cue"]),
        numbers=raw["numbers"], units={k: (v[0], int(v[1])) for k, v in raw["units"].items()},
        plural_window=raw["plural_window"], parts_of_day=tuple(raw["parts_of_day"]), relative_days=relative,
        seasons={k: (v[0], v[1]) for k, v in raw["seasons"].items()}, vague=frozenset(raw["vague"]),
        duration_nouns=tuple(raw["duration_nouns"]), future_markers=tuple(raw["future_markers"]),
        holiday_names=names, holidays=holidays, wars=wars,
        named_dates={k: Date.fromisoformat(v) for k, v in raw["named_dates"].items()},
    )


def _load_holidays(raw: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, _Holiday]]:
    names: list[str] = []
    table: dict[str, _Holiday] = {}

    def add(entry: dict[str, Any], holiday: _Holiday) -> None:
        for name in entry["names"]:
            names.append(name)
            table[_normalise(name)] = holiday

    for entry in raw["fixed"]:
        add(entry, _Holiday(month_day=(entry["month"], entry["day"])))
    for entry in raw["easter"]:
        add(entry, _Holiday(easter=(entry["calendar"], entry["offset"])))
    for entry in raw["dated"]:
        spans = [(Date.fromisoformat(d), Date.fromisoformat(d)) for d in entry.get("dates", [])]
        spans += [(Date.fromisoformat(s), Date.fromisoformat(e)) for s, e in entry.get("ranges", [])]
        add(entry, _Holiday(dated=tuple(spans)))
    return tuple(names), table


# --- small calendar helpers ----------------------------------------------------------------------

def _safe_date(year: int, month: int, day: int) -> Date | None:
    """A date, or None for impossible ones ("February 30"): bad input must never raise."""
    try:
        return Date(year, month, day)
    except (ValueError, OverflowError):
        return None


def _month_end(year: int, month: int) -> Date:
    return _add_months(Date(year, month, 1), 1) - _DAY


def _add_months(day: Date, months: int) -> Date:
    """``day`` moved by whole months, clamped to the month's length (31 March - 1 month = 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return Date(year, month, min(day.day, _month_end_day(year, month)))


def _month_end_day(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (Date(year, month + 1, 1) - _DAY).day


def _monday(day: Date) -> Date:
    return day - dt.timedelta(days=day.weekday())


def _shift(day: Date, amount: int, unit: str) -> Date:
    """``day`` moved by ``amount`` calendar units (hours round to whole days)."""
    if unit == "hour":
        return day + dt.timedelta(days=int(math.copysign(math.ceil(abs(amount) / 24), amount)))
    if unit == "day":
        return day + dt.timedelta(days=amount)
    if unit == "week":
        return day + dt.timedelta(days=7 * amount)
    if unit == "month":
        return _add_months(day, amount)
    return _add_months(day, 12 * amount)


def _unit_span(day: Date, unit: str) -> tuple[Date, Date, Granularity]:
    """The calendar unit (Mon–Sun week, month, year) that contains ``day``."""
    if unit == "week":
        return _monday(day), _monday(day) + dt.timedelta(days=6), "week"
    if unit == "month":
        return day.replace(day=1), _month_end(day.year, day.month), "month"
    if unit == "year":
        return Date(day.year, 1, 1), Date(day.year, 12, 31), "year"
    return day, day, "day"


def _easter_western(year: int) -> Date:
    """Gregorian Easter Sunday (anonymous Gregorian computus)."""
    a, (b, c) = year % 19, divmod(year, 100)
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    lc = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * lc) // 451
    month, day = divmod(h + lc - 7 * m + 114, 31)
    return Date(year, month, day + 1)


def _easter_orthodox(year: int) -> Date:
    """Orthodox Easter Sunday: the Julian computus, shifted to the Gregorian calendar (1900–2099)."""
    d = (19 * (year % 19) + 15) % 30
    e = (2 * (year % 4) + 4 * (year % 7) - d + 34) % 7
    month, day = divmod(d + e + 114, 31)
    return Date(year, month, day + 1) + dt.timedelta(days=13)


# --- text helpers -------------------------------------------------------------------------------

_FOLD = str.maketrans({"–": "-", "—": "-", "‐": "-", "‑": "-", "’": "'", "‘": "'", "\u00a0": " "})
_SPACES = re.compile(r"\s+")
_POSSESSIVE = re.compile(r"(?<=[a-z])'s\b")


def _normalise(text: str) -> str:
    """Lower case, one space, ASCII dashes and quotes, no possessive 's, no surrounding punctuation."""
    text = _SPACES.sub(" ", text.translate(_FOLD).lower()).strip(" ,;:!?\"()[]")
    return _POSSESSIVE.sub("", text).rstrip(".").strip()


def _alt(words: Iterable[str], *, apostrophes: bool = False) -> str:
    """A regex alternation of ``words``, longest first so that "christmas eve" beats "christmas"."""
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        pattern = r"\s+".join(re.escape(p) for p in word.split())
        parts.append(pattern.replace("'", "['’]?") if apostrophes else pattern)
    return "|".join(parts)


def _int(text: str) -> int:
    return int(re.match(r"\d+", text).group())  # type: ignore[union-attr]


# --- resolving: context and result helpers -------------------------------------------------------

@dataclass(frozen=True)
class _Ctx:
    anchor: Date | None
    kind: str
    tense: str | None
    dayfirst: bool
    lex: _Lexicon

    @property
    def future(self) -> bool:
        return self.tense == "future"


class _Unmatched:
    """No rule claimed the expression (distinct from None: a rule claimed it and found no date)."""


_UNMATCHED: Final = _Unmatched()
Outcome = When | None | _Unmatched


_CALENDAR_UNITS: Final[dict[str, Granularity]] = {
    "day": "day", "week": "week", "month": "month", "year": "year",
}


def _when(start: Date, end: Date, granularity: Granularity, ctx: _Ctx, *, explicit: bool = False) -> When:
    return When(start=start, end=end, granularity=granularity, anchor="none" if explicit else ctx.kind)


def _relative(granularity: Granularity) -> When:
    """An anchor-dependent expression without an anchor: known shape, unknown dates."""
    return When(granularity=granularity, relative=True)


def _choose(occurrences: list[tuple[Date, Date]], ctx: _Ctx, grace: int) -> tuple[Date, Date]:
    """Pick the occurrence of a yearly thing (a month-day, a month, a holiday) the text most likely means."""
    anchor = ctx.anchor
    assert anchor is not None
    occ = sorted(occurrences)
    if ctx.future:
        return next((o for o in occ if o[1] >= anchor), occ[-1])
    limit = anchor + dt.timedelta(days=grace)
    past = [o for o in occ if o[0] <= limit]
    if not past:
        return occ[0]
    chosen = past[-1]
    later = [o for o in occ if o[0] > limit]
    if (ctx.tense is None and later and (anchor - chosen[0]).days > FAR_PAST_DAYS
            and (later[0][0] - anchor).days <= NEAR_FUTURE_DAYS):
        return later[0]
    return chosen


def _years_around(anchor: Date) -> range:
    return range(anchor.year - 1, anchor.year + 2)


def _number(text: str, lex: _Lexicon) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else lex.numbers.get(text)


def _unit(text: str, lex: _Lexicon) -> tuple[str, int]:
    word = text if text in lex.units else text[:-1]
    return lex.units[word]


# --- resolving: rule handlers (one per phrase shape) ---------------------------------------------

Handler = Callable[[re.Match[str], _Ctx], "When | None"]


def _h_iso(m: re.Match[str], ctx: _Ctx) -> When | None:
    return _explicit_day(int(m["y"]), int(m["m"]), int(m["d"]), ctx)


def _explicit_day(year: int, month: int, day: int, ctx: _Ctx) -> When | None:
    date = _safe_date(year, month, day)
    return None if date is None else _when(date, date, "day", ctx, explicit=True)


def _expand_year(text: str) -> int:
    """Two-digit years: 00–49 → 2000s, 50–99 → 1900s."""
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 50 else 1900
    return year


def _numeric_order(a: int, b: int, sep: str, dayfirst: bool) -> tuple[int, int]:
    """(day, month) of "a/b/yyyy": a number over 12 decides; else dots mean day-first; else ``dayfirst``."""
    if a > 12:
        return a, b
    if b > 12:
        return b, a
    return (a, b) if sep == "." or dayfirst else (b, a)


def _h_numeric(m: re.Match[str], ctx: _Ctx) -> When | None:
    day, month = _numeric_order(int(m["a"]), int(m["b"]), m["sep"], ctx.dayfirst)
    return _explicit_day(_expand_year(m["y"]), month, day, ctx)


def _h_calendar(m: re.Match[str], ctx: _Ctx) -> When | None:
    month = ctx.lex.months[m["m"].rstrip(".")]
    weekday = ctx.lex.weekdays[m["wd"].rstrip(".")] if m["wd"] else None
    year = int(m["y"]) if m["y"] else None
    return _calendar_day(month, _int(m["d"]), year, weekday, ctx)


def _calendar_day(month: int, day: int, year: int | None, weekday: int | None, ctx: _Ctx) -> When | None:
    """A month-day; without a year, the occurrence near the anchor (agreeing with a named weekday)."""
    if year is not None:
        return _explicit_day(year, month, day, ctx)
    if _safe_date(2000, month, day) is None:
        return None
    if ctx.anchor is None:
        return _relative("day")
    occ = [(d, d) for y in _years_around(ctx.anchor) if (d := _safe_date(y, month, day)) is not None]
    if weekday is not None:
        occ = [o for o in occ if o[0].weekday() == weekday] or occ
    start, end = _choose(occ, ctx, GRACE_DAYS)
    return _when(start, end, "day", ctx)


def _h_month_year(m: re.Match[str], ctx: _Ctx) -> When | None:
    month, year = ctx.lex.months[m["m"].rstrip(".")], int(m["y"])
    return _when(Date(year, month, 1), _month_end(year, month), "month", ctx, explicit=True)


def _h_month(m: re.Match[str], ctx: _Ctx) -> When | None:
    if ctx.anchor is None:
        return _relative("month")
    month, anchor, qualifier = ctx.lex.months[m["m"].rstrip(".")], ctx.anchor, m["q"]
    occ = [(Date(y, month, 1), _month_end(y, month)) for y in _years_around(anchor)]
    if qualifier == "last":
        start, end = [o for o in occ if o[1] < anchor][-1]
    elif qualifier == "next":
        start, end = next(o for o in occ if o[0] > anchor)
    elif qualifier == "this":
        start, end = occ[1]
    else:
        start, end = _choose(occ, ctx, 0)
    return _when(start, end, "month", ctx)


def _h_year(m: re.Match[str], ctx: _Ctx) -> When | None:
    year = int(m["y"])
    return _when(Date(year, 1, 1), Date(year, 12, 31), "year", ctx, explicit=True)


def _h_decade(m: re.Match[str], ctx: _Ctx) -> When | None:
    digits = m["dec"].lstrip("'")
    first = int(digits)
    if len(digits) == 2:  # "the '90s" → 1990s, "the '20s" → 2020s
        first += 2000 if first < 30 else 1900
    when = _when(Date(first, 1, 1), Date(first + 9, 12, 31), "range", ctx, explicit=True)
    return _narrow(when, m["mod"]) if m["mod"] else when


def _h_quarter(m: re.Match[str], ctx: _Ctx) -> When | None:
    year, quarter = int(m["y"]), int(m["q"])
    first = 3 * quarter - 2
    return _when(Date(year, first, 1), _month_end(year, first + 2), "range", ctx, explicit=True)


def _h_holiday(m: re.Match[str], ctx: _Ctx) -> When | None:
    holiday = ctx.lex.holidays[_normalise(m["h"])]
    if m["y"]:
        found = holiday.occurrence(int(m["y"]))
        if found is None:
            return None
        return _when(found[0], found[1], "day" if found[0] == found[1] else "range", ctx, explicit=True)
    if ctx.anchor is None:
        return _relative("day")
    occ = [o for y in _years_around(ctx.anchor) if (o := holiday.occurrence(y)) is not None]
    if not occ:
        return None
    start, end = _choose(occ, ctx, GRACE_DAYS)
    return _when(start, end, "day" if start == end else "range", ctx)


def _h_weekday(m: re.Match[str], ctx: _Ctx) -> When | None:
    if ctx.anchor is None:
        return _relative("day")
    day = _weekday_date(ctx.lex.weekdays[m["wd"].rstrip(".")], m["q"], ctx)
    return _when(day, day, "day", ctx)


def _weekday_date(weekday: int, qualifier: str | None, ctx: _Ctx) -> Date:
    """The date a weekday names; see the module docstring for the conventions."""
    anchor = ctx.anchor
    assert anchor is not None
    week = _monday(anchor)
    if qualifier in ("last", "previous"):
        return week + dt.timedelta(days=weekday - 7)
    if qualifier == "this":
        return week + dt.timedelta(days=weekday)
    if qualifier == "next":
        return week + dt.timedelta(days=weekday + 7)
    if qualifier in ("past", "this past"):
        return anchor - dt.timedelta(days=(anchor.weekday() - weekday - 1) % 7 + 1)
    if qualifier in ("coming", "this coming"):
        return anchor + dt.timedelta(days=(weekday - anchor.weekday() - 1) % 7 + 1)
    if ctx.future:
        return anchor + dt.timedelta(days=(weekday - anchor.weekday()) % 7)
    return anchor - dt.timedelta(days=(anchor.weekday() - weekday) % 7)


def _h_relative_day(m: re.Match[str], ctx: _Ctx) -> When | None:
    if ctx.anchor is None:
        return _relative("day")
    lo, hi = ctx.lex.relative_days[m["r"]]
    start, end = ctx.anchor + dt.timedelta(days=lo), ctx.anchor + dt.timedelta(days=hi)
    return _when(start, end, "day" if lo == hi else "range", ctx)


def _h_ago(m: re.Match[str], ctx: _Ctx) -> When | None:
    unit, per = _unit(m["u"], ctx.lex)
    n = _number(m["n"], ctx.lex)
    if n is None:
        return None
    sign = -1 if m["dir"] in ("ago", "earlier", "before") else 1
    shape = {"hour": "day", "decade": "year"}.get(unit, unit)
    if ctx.anchor is None:
        return _relative(_CALENDAR_UNITS.get(shape, "day"))
    start, end, gran = _unit_span(_shift(ctx.anchor, sign * n * per, unit), shape)
    return _when(start, end, gran, ctx)


def _h_within(m: re.Match[str], ctx: _Ctx) -> When | None:
    """"in just over a week" looks back over a stretch ending at the anchor; "in two weeks" (future) ahead."""
    unit, per = _unit(m["u"], ctx.lex)
    n = _number(m["n"], ctx.lex)
    if n is None:
        return None
    if ctx.anchor is None:
        return _relative("range")
    anchor, amount = ctx.anchor, n * per
    if ctx.future:
        ahead = _shift(anchor, amount, unit)
        if m["p"] == "within":
            return _when(anchor, ahead, "range", ctx)
        start, end, gran = _unit_span(ahead, unit)
        return _when(start, end, gran, ctx)
    extra = dt.timedelta(days=1 if m["h"] in ("over", "more than") else 0)
    return _when(_shift(anchor, -amount, unit) - extra, anchor, "range", ctx)


def _h_window(m: re.Match[str], ctx: _Ctx) -> When | None:
    """"the past 24 hours", "over the past week", "in recent days", "in the coming weeks"."""
    unit, per = _unit(m["u"], ctx.lex)
    if m["n"]:
        n = _number(m["n"], ctx.lex)
    else:
        n = 1 if m["u"] in ctx.lex.units else ctx.lex.plural_window[_unit_word(m["u"], ctx.lex)]
    if n is None:
        return None
    if ctx.anchor is None:
        return _relative("range")
    forward = m["dir"].split()[-1] in ("coming", "next")
    other = _shift(ctx.anchor, (n * per) * (1 if forward else -1), unit)
    start, end = (ctx.anchor, other) if forward else (other, ctx.anchor)
    return _when(start, end, "range", ctx)


def _unit_word(text: str, lex: _Lexicon) -> str:
    return text if text in lex.units else text[:-1]


_PERIOD_STEP: Final = {
    "last": -1, "previous": -1, "the previous": -1, "this past": -1,
    "this": 0, "current": 0, "the current": 0, "the same": 0, "the": 0,
    "next": 1, "coming": 1, "the following": 1, "this coming": 1,
}


def _h_period(m: re.Match[str], ctx: _Ctx) -> When | None:
    """"last week" (the previous Mon–Sun week), "this month", "next year", "last weekend", "last summer"."""
    unit = m["u"]
    granularity: Granularity = _CALENDAR_UNITS.get(unit, "range")
    if ctx.anchor is None:
        return _relative(granularity)
    step, anchor = _PERIOD_STEP[m["q"]], ctx.anchor
    if unit in ctx.lex.seasons:
        found = _season_step(unit, step, ctx)
        return None if found is None else _when(found[0], found[1], "range", ctx)
    if unit == "weekend":
        saturday = _monday(anchor) + dt.timedelta(days=5 + 7 * step)
        return _when(saturday, saturday + _DAY, "range", ctx)
    if unit == "decade":
        first = anchor.year // 10 * 10 + 10 * step
        return _when(Date(first, 1, 1), Date(first + 9, 12, 31), "range", ctx)
    if unit == "week":
        start, end, _ = _unit_span(anchor + dt.timedelta(days=7 * step), "week")
    else:
        start, end, _ = _unit_span(_shift(anchor, step, unit), unit)
    return _when(start, end, granularity, ctx)


def _h_earlier(m: re.Match[str], ctx: _Ctx) -> When | None:
    """"earlier this week": the unit's start to the day before the anchor; "later this year" mirrors it."""
    if ctx.anchor is None:
        return _relative("range")
    anchor = ctx.anchor
    start, end, _ = _unit_span(anchor, m["u"])
    if m["dir"] == "earlier":
        return _when(start, max(start, anchor - _DAY), "range", ctx)
    return _when(min(end, anchor + _DAY), end, "range", ctx)


def _season_span(season: str, year: int, lex: _Lexicon) -> tuple[Date, Date]:
    first, last = lex.seasons[season]
    end_year = year + 1 if last < first else year
    return Date(year, first, 1), _month_end(end_year, last)


def _season_step(season: str, step: int, ctx: _Ctx) -> tuple[Date, Date] | None:
    anchor = ctx.anchor
    assert anchor is not None
    occ = [_season_span(season, y, ctx.lex) for y in range(anchor.year - 2, anchor.year + 2)]
    if step < 0:
        return [o for o in occ if o[1] < anchor][-1]
    if step > 0:
        return next(o for o in occ if o[0] > anchor)
    return next((o for o in occ if o[0] <= anchor <= o[1]), _season_span(season, anchor.year, ctx.lex))


def _h_season(m: re.Match[str], ctx: _Ctx) -> When | None:
    season = m["s"]
    if m["y"]:
        start, end = _season_span(season, int(m["y"]), ctx.lex)
        return _when(start, end, "range", ctx, explicit=True)
    if ctx.anchor is None:
        return _relative("range")
    occ = [_season_span(season, y, ctx.lex) for y in range(ctx.anchor.year - 2, ctx.anchor.year + 2)]
    start, end = _choose(occ, ctx, 0)
    return _when(start, end, "range", ctx)


def _h_named_date(m: re.Match[str], ctx: _Ctx) -> When | None:
    day = ctx.lex.named_dates[m["n"]]
    return _when(day, day, "day", ctx, explicit=True)


def _h_no_date(m: re.Match[str], ctx: _Ctx) -> When | None:
    """A clock time or a part of day on its own names no day: the caller knows which day it belongs to."""
    return None


# --- narrowing: "early 2023", "mid-March", "late last year", "the first half of 2024" ---------------

_MODIFIER_PART: Final = {
    "early": "early", "mid": "mid", "late": "late", "end of": "late", "beginning of": "early",
    "start of": "early", "middle of": "mid", "first half of": "h1", "second half of": "h2",
    "first quarter of": "q1", "second quarter of": "q2", "third quarter of": "q3", "fourth quarter of": "q4",
    "final quarter of": "q4", "last quarter of": "q4",
}
_FRACTIONS: Final = {
    "early": (0, 1 / 3), "mid": (1 / 3, 2 / 3), "late": (2 / 3, 1), "h1": (0, 1 / 2), "h2": (1 / 2, 1),
    "q1": (0, 1 / 4), "q2": (1 / 4, 1 / 2), "q3": (1 / 2, 3 / 4), "q4": (3 / 4, 1),
}
_YEAR_MONTHS: Final = {"early": (1, 4), "mid": (5, 8), "late": (9, 12), "h1": (1, 6), "h2": (7, 12),
                       "q1": (1, 3), "q2": (4, 6), "q3": (7, 9), "q4": (10, 12)}
_MONTH_DAYS: Final = {"early": (1, 10), "mid": (11, 20), "late": (21, 31), "h1": (1, 15), "h2": (16, 31)}
_DECADE_YEARS: Final = {"early": (0, 3), "mid": (4, 6), "late": (7, 9), "h1": (0, 4), "h2": (5, 9)}


def _narrow(when: When, part: str) -> When:
    """The early/mid/late third (or half, quarter) of a resolved period, aligned to months in a year."""
    start, end = when.start, when.end
    if start is None or end is None:
        return When(granularity="range", relative=True) if when.relative else when
    if start == end:
        return when
    span = _narrow_span(start, end, when.granularity, part)
    return When(start=span[0], end=span[1], granularity="range", anchor=when.anchor)


def _narrow_span(start: Date, end: Date, granularity: str, part: str) -> tuple[Date, Date]:
    is_decade = start.year % 10 == 0 and end.year == start.year + 9 and (start.month, start.day) == (1, 1)
    if granularity == "year" and part in _YEAR_MONTHS:
        first, last = _YEAR_MONTHS[part]
        return Date(start.year, first, 1), _month_end(start.year, last)
    if granularity == "month" and part in _MONTH_DAYS:
        first, last = _MONTH_DAYS[part]
        return start.replace(day=first), start.replace(day=min(last, end.day))
    if is_decade and part in _DECADE_YEARS:
        first, last = _DECADE_YEARS[part]
        return Date(start.year + first, 1, 1), Date(start.year + last, 12, 31)
    lo, hi = _FRACTIONS[part]
    days = (end - start).days + 1
    first_day = start + dt.timedelta(days=int(days * lo))
    return first_day, max(first_day, start + dt.timedelta(days=math.ceil(days * hi) - 1))


# --- the resolver grammar -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Grammar:
    rules: tuple[tuple[re.Pattern[str], Handler], ...]
    calendar: tuple[re.Pattern[str], ...]      # day-precise calendar dates, for inference
    weekday: re.Pattern[str]
    relative_day: re.Pattern[str]
    ago: re.Pattern[str]
    month_year: re.Pattern[str]
    year: re.Pattern[str]
    duration_adjective: re.Pattern[str]
    duration_bare: re.Pattern[str]
    clock_tail: re.Pattern[str]
    since: re.Pattern[str]
    modifier: re.Pattern[str]
    range_prefix: re.Pattern[str]
    range_separator: re.Pattern[str]
    bare_number: re.Pattern[str]
    preposition: re.Pattern[str]
    has_year: re.Pattern[str]
    worth_fallback: re.Pattern[str]
    future: re.Pattern[str]
    war: re.Pattern[str]


@lru_cache(maxsize=1)
def _grammar() -> _Grammar:
    lex = _lexicon()
    month = rf"(?:{_alt(lex.months)})\.?"
    weekday = rf"(?:{_alt(lex.weekdays)})\.?"
    day = r"(?:3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?"
    year = r"(?:1[89]\d\d|20\d\d)"
    number = rf"(?:\d+|{_alt(lex.numbers)})"
    unit = rf"(?:{_alt(lex.units)})s?"
    part = _alt(lex.parts_of_day)
    season = _alt(lex.seasons)
    hedge = (r"(?:(?:just|a little|slightly|well|only) )?"
             r"(?:(?P<h>over|more than|under|less than|about|around|nearly|almost|barely|roughly|some) )?")
    qualifier = r"last|this|next|this past|this coming|past|coming|previous"
    lead_in = r"(?:(?:at|around|about|by|from|shortly (?:before|after)|just (?:before|after)) )?"
    clock = r"\d{1,2}(?::\d{2}){1,2}(?: ?[ap]\.?m\.?)?|\d{1,2} ?[ap]\.?m\.?|noon|midnight"
    zone = r"(?: ?(?:gmt|utc|local time|z|[+-]\d{2}:?\d{2}))?(?: ?\([^)]*\))?"
    mdy = rf"(?:(?P<wd>{weekday}),? )?(?:the )?(?P<m>{month}) (?:the )?(?P<d>{day})(?:,? (?P<y>{year}))?"
    dmy = rf"(?:(?P<wd>{weekday}),? )?(?:the )?(?P<d>{day}) (?:of )?(?P<m>{month})(?:,? (?P<y>{year}))?"
    iso = r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:t[\d:.]+z?)?"
    numeric = r"(?P<a>\d{1,2})(?P<sep>[/.])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})"
    c = re.compile
    rules: list[tuple[str, Handler]] = [
        (rf"(?P<n>{_alt(lex.named_dates)})", _h_named_date),
        (iso, _h_iso),
        (numeric, _h_numeric),
        (mdy, _h_calendar),
        (dmy, _h_calendar),
        (rf"(?P<m>{month}),? (?:of )?(?P<y>{year})", _h_month_year),
        (rf"(?:(?P<q>last|next|this|the) )?(?P<m>{month})", _h_month),
        (rf"(?:the year )?(?P<y>{year})", _h_year),
        (r"(?:the )?(?P<mod>early|mid|late)?[ -]?(?P<dec>(?:1[89]|20)\d0|'?\d0)'?s", _h_decade),
        (rf"q(?P<q>[1-4]) (?P<y>{year})", _h_quarter),
        (rf"(?:on )?(?:the )?(?P<h>{_alt(lex.holidays)})(?:,? (?P<y>{year}))?", _h_holiday),
        (rf"(?:on )?(?:(?:early|late) (?:on )?)?(?:(?P<q>{qualifier}) )?(?P<wd>{weekday})(?: (?:{part}))?",
         _h_weekday),
        (rf"(?:on )?(?P<r>{_alt(lex.relative_days)})(?: (?:{part}))?", _h_relative_day),
        (rf"(?P<n>{number}) (?P<u>{unit}) (?P<dir>ago|earlier|before|later|after|from now|hence)", _h_ago),
        (rf"(?P<p>in|within) {hedge}(?P<n>{number}) (?P<u>{unit})", _h_within),
        ((rf"(?:(?:in|over|during|within|for|throughout) )?"
          rf"(?P<dir>the past|the last|the previous|the preceding|the coming|the next|past)"
          rf"(?: (?P<n>{number}))? (?P<u>{unit})"), _h_window),
        (rf"(?:(?:in|over|during) )?(?P<dir>recent|the coming)(?P<n>) (?P<u>{unit})", _h_window),
        ((r"(?P<q>last|this|next|previous|coming|current|the previous|the following|the current|the same|the|"
          rf"this past|this coming) (?P<u>week|month|year|weekend|decade|{season})"), _h_period),
        (r"(?P<dir>earlier|later) (?:this|in the) (?P<u>week|month|year)", _h_earlier),
        (rf"(?:the )?(?P<s>{season})(?:,? (?:of )?(?P<y>{year}))?", _h_season),
        (rf"{lead_in}(?:{clock}){zone}", _h_no_date),
        (rf"(?:(?:in|during|at|by) )?(?:the )?(?:{part})", _h_no_date),
    ]
    nouns = _alt(lex.duration_nouns)
    return _Grammar(
        rules=tuple((c(p), h) for p, h in rules),
        calendar=(c(iso), c(numeric), c(mdy), c(dmy)),
        weekday=c(rf"(?:on )?(?:(?:early|late) (?:on )?)?(?P<wd>{weekday})(?: (?:{part}))?"),
        relative_day=c(rf"(?:on )?(?P<r>{_alt(lex.relative_days)})(?: (?:{part}))?"),
        ago=c(rf"(?P<n>{number}) (?P<u>{unit}) (?P<dir>ago|earlier|before)"),
        month_year=c(rf"(?:.* )?(?P<m>{month}),? (?:of )?(?P<y>{year})"),
        year=c(rf"(?:.* )?(?P<y>{year})"),
        duration_adjective=c(rf"(?<![\w-])(?:\d+|{number})-(?:{unit})\b"),  # also ages: "13-year-old"
        duration_bare=c(rf"(?:(?:for|lasting|over|after|during|throughout) )?(?:(?:the|a|an) )?"
                        r"(?:(?:just|a little|slightly|well|some|at least|only|nearly|almost|about|around|"
                        rf"roughly|more than|less than|over|under|up to) )*{number} {unit}"
                        r"(?: and a half)?(?: long)?"
                        rf"(?: (?:{nouns}))?"),
        clock_tail=c(rf",? (?:(?:at|around|about|from|shortly (?:before|after)|just (?:before|after)) )?"
                     rf"(?:{clock}){zone}$"),
        since=c(r"since (?P<rest>.+)"),
        modifier=c(r"(?:the )?(?P<mod>early|mid|late|end of|beginning of|start of|middle of|first half of|"
                   r"second half of|(?:first|second|third|fourth|final|last) quarter of)[ -]?(?P<rest>.+)"),
        range_prefix=c(r"(?:from|between) "),
        range_separator=c(r" (?:to|until|till|through|thru|and) | ?- ?"),
        bare_number=c(r"\d{1,2}(?:st|nd|rd|th)?"),
        preposition=c(r"(?:on|in|at|during|by|until|till|as of|throughout|through|of|for|around|about|circa) "
                      r"(?P<rest>.+)"),
        has_year=c(r"(?<!\d)(?:1[89]|20)\d\d(?!\d)"),
        worth_fallback=c(rf"\d|\b(?:{_alt(lex.months)}|{_alt(lex.weekdays)}|{unit}|ago)\b"),
        future=c(rf"\b(?:{_alt(lex.future_markers)})\b"),
        war=c(rf"(?i)(?<![\w-])(?:(?P<hedge>nearly|almost|close\s+to|more\s+than|over)\s+)?"
              rf"(?P<n>\d+|{_alt(lex.numbers)})[- ](?P<u>year|decade|month)s?(?:[- ]long)?"
              rf"(?:\s+[\w'’-]+){{0,3}}?\s+(?:war|conflict|insurgency|uprising)\b"),
    )


# --- resolve ---------------------------------------------------------------------------------------

def resolve(
    expression: str,
    anchor: Date | None,
    *,
    anchor_kind: str = "published",
    tense: str | None = None,
    dayfirst: bool = True,
) -> When | None:
    """Resolve one temporal expression against ``anchor`` (normally the publication date).

    Rules first, in microseconds; dateparser only when no rule recognises the expression and it
    contains something date-like (a digit, a month, weekday or unit word), and then with
    ``languages=['en']`` (a failed parse costs 8–9 ms otherwise), ``RELATIVE_BASE=anchor`` and
    ``PREFER_DATES_FROM='past'`` ('future' for future tense). Results are memoised per
    (expression, anchor, anchor_kind, tense, dayfirst): a document repeats its expressions, and a
    ``When`` is immutable, so sharing one is safe.

    Returns None for durations ("13-year", "for three years", "throughout the 13-year civil war"),
    vague words ("recently"), bare clock times, impossible dates ("February 30") and non-dates; it
    never raises on bad input. ``tense`` is "past", "present", "future" or None. Without an anchor,
    anchor-dependent expressions come back as ``When(relative=True, granularity=...)`` and
    expressions that carry their own year are resolved as usual.
    """
    return _resolve_cached(expression, anchor, anchor_kind, tense, dayfirst)


@lru_cache(maxsize=4096)
def _resolve_cached(expression: str, anchor: Date | None, anchor_kind: str, tense: str | None,
                    dayfirst: bool) -> When | None:
    lex = _lexicon()
    text = _normalise(expression)
    text = text.removeprefix("on ")  # "on Friday" = "Friday"; saves a pass through the rules
    grammar = _grammar()
    if not text or text in lex.vague or expression.strip() in lex.cue_months \
            or grammar.duration_adjective.search(text) or grammar.duration_bare.fullmatch(text):
        return None  # lower-case "may" alone is the verb, "May" the month
    ctx = _Ctx(anchor, anchor_kind, tense, dayfirst, lex)
    try:
        outcome = _resolve_text(text, ctx, 0)
    except (ValueError, OverflowError, StopIteration, IndexError):
        return None
    if isinstance(outcome, _Unmatched):
        return _fallback(text, ctx) if grammar.worth_fallback.search(text) else None
    return outcome


def _resolve_text(text: str, ctx: _Ctx, depth: int) -> Outcome:
    """The rule chain: whole-phrase rules, then "since X", modifiers, ranges, a leading preposition."""
    if depth > 4:
        return _UNMATCHED
    g = _grammar()
    for pattern, handler in g.rules:
        if (m := pattern.fullmatch(text)) is not None:
            return handler(m, ctx)
    if (m := g.clock_tail.search(text)) is not None and m.start() > 0:
        return _resolve_text(text[:m.start()].rstrip(" ,"), ctx, depth + 1)
    if (m := g.since.fullmatch(text)) is not None:
        return _since(_resolve_text(m["rest"], ctx, depth + 1), ctx)
    if (m := g.modifier.fullmatch(text)) is not None:
        inner = _resolve_text(m["rest"], ctx, depth + 1)
        if not isinstance(inner, _Unmatched):
            return None if inner is None else _narrow(inner, _MODIFIER_PART[m["mod"]])
    found = _range(text, ctx, depth)
    if not isinstance(found, _Unmatched):
        return found
    if (m := g.preposition.fullmatch(text)) is not None:
        return _resolve_text(m["rest"], ctx, depth + 1)
    return _UNMATCHED


def _since(inner: Outcome, ctx: _Ctx) -> Outcome:
    """"since March": from the start of what follows up to the anchor."""
    if not isinstance(inner, When):
        return inner
    if inner.start is None or ctx.anchor is None:
        return When(start=inner.start, granularity="range", relative=True)
    if inner.start > ctx.anchor:
        return inner
    return _when(inner.start, ctx.anchor, "range", ctx)


def _range(text: str, ctx: _Ctx, depth: int) -> Outcome:
    """"from 2 to 5 March", "between 2011 and 2014", "December 2-6", "2011-14", "Friday to Sunday"."""
    g = _grammar()
    prefix = g.range_prefix.match(text)
    body = text[prefix.end():] if prefix else text
    for sep in g.range_separator.finditer(body):
        left, right = body[:sep.start()].strip(), body[sep.end():].strip()
        if left and right:
            joined = _join(left, right, ctx, depth + 1)
            if not isinstance(joined, _Unmatched):
                return joined
    return _UNMATCHED


def _join(left: str, right: str, ctx: _Ctx, depth: int) -> Outcome:
    g = _grammar()
    left_bare, right_bare = g.bare_number.fullmatch(left), g.bare_number.fullmatch(right)
    if left_bare and right_bare:
        return _UNMATCHED
    if right_bare:
        first = _resolve_text(left, ctx, depth)
        return _complete_right(first, right, ctx) if isinstance(first, When) else first
    second = _resolve_text(right, ctx, depth)
    if not isinstance(second, When):
        return second
    if left_bare:
        if second.granularity != "day" or second.start is None:
            return _UNMATCHED if second.start is not None else When(granularity="range", relative=True)
        start = _safe_date(second.start.year, second.start.month, _int(left))
        return None if start is None or start > second.start else _span(start, second, second.anchor)
    first = _resolve_text(left, ctx, depth)
    if not isinstance(first, When):
        return first
    return _pair(first, second, left, right, ctx)


def _complete_right(first: When, right: str, ctx: _Ctx) -> Outcome:
    """"December 2-6" → the 6th of the same month; "2011-14" → 2014."""
    if first.start is None:
        return When(granularity="range", relative=True)
    if first.granularity == "year" and len(right) == 2 and right.isdigit():
        year = first.start.year // 100 * 100 + int(right)
        year += 100 if year < first.start.year else 0
        return _when(first.start, Date(year, 12, 31), "range", ctx, explicit=first.anchor == "none")
    if first.granularity == "day":
        end = _safe_date(first.start.year, first.start.month, _int(right))
        if end is None or end < first.start:
            return None
        return When(start=first.start, end=end, granularity="range", anchor=first.anchor)
    return _UNMATCHED


def _span(start: Date, last: When, anchor: str) -> When:
    assert last.end is not None
    return When(start=start, end=last.end, granularity="range", anchor=anchor)


def _pair(first: When, second: When, left: str, right: str, ctx: _Ctx) -> When | None:
    """Two resolved ends: the left borrows the right's year when it has none ("2 March to 5 April 2022")."""
    if first.start is None or second.end is None:
        return When(granularity="range", relative=True)
    g = _grammar()
    start, end = first.start, second.end
    borrowed = not g.has_year.search(left) and bool(g.has_year.search(right))
    if borrowed and first.granularity in ("day", "month"):
        start = _safe_date(end.year, start.month, start.day) or start
    if start > end and not g.has_year.search(left):
        start = _safe_date(start.year - 1, start.month, start.day) or start
    if start > end:
        return None
    explicit = (first.anchor == "none" or borrowed) and second.anchor == "none"
    return When(start=start, end=end, granularity="range", anchor="none" if explicit else ctx.kind)


# --- dateparser fallback ---------------------------------------------------------------------------

_OTHER_BASE: Final = Date(2001, 6, 15)


@lru_cache(maxsize=64)
def _date_parser(base: Date, prefer: str, order: str) -> Any:
    """One dateparser parser per (anchor, preference): building one costs ~15 µs, a parse ~0.1–2 ms."""
    import dateparser  # imported late: ~60 ms, and most documents never need it

    settings = {
        "RELATIVE_BASE": dt.datetime.combine(base, dt.time()),
        "PREFER_DATES_FROM": prefer,
        "DATE_ORDER": order,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    return dateparser.DateDataParser(languages=["en"], settings=settings)


def _parse_with(text: str, base: Date, ctx: _Ctx) -> tuple[Date, str] | None:
    parser = _date_parser(base, "future" if ctx.future else "past", "DMY" if ctx.dayfirst else "MDY")
    try:
        data = parser.get_date_data(text)
    except Exception:  # noqa: BLE001 -- dateparser raises assorted errors on odd input; a fallback must not
        return None
    if data is None or data.date_obj is None:
        return None
    day = data.date_obj.date()
    return (day, data.period or "day") if 1800 <= day.year <= 2100 else None


def _fallback(text: str, ctx: _Ctx) -> When | None:
    """dateparser for what the rules do not know. Without an anchor, parsing against a second base tells
    an absolute date (same answer) from a relative one."""
    base = ctx.anchor or _OTHER_BASE
    parsed = _parse_with(text, base, ctx)
    if parsed is None:
        return None
    day, period = parsed
    unit = {"week": "week", "month": "month", "year": "year"}.get(period, "day")
    start, end, granularity = _unit_span(day, unit)
    if ctx.anchor is None:
        again = _parse_with(text, Date(1999, 2, 3), ctx)
        if again is None or again[0] != day:
            return _relative(granularity)
        return When(start=start, end=end, granularity=granularity, anchor="none")
    return _when(start, end, granularity, ctx)


# --- finding expressions in running text -----------------------------------------------------------

Accept = Callable[[re.Match[str], str], bool]


@dataclass(frozen=True)
class _Finder:
    patterns: tuple[tuple[re.Pattern[str], str, Accept | None, tuple[str, ...]], ...]
    cue_words: dict[str, frozenset[str]]      # a pattern runs only when the text has a word of each class
    connector: re.Pattern[str]
    range_prefix: re.Pattern[str]
    since_prefix: re.Pattern[str]


_YEAR_CUES: Final = frozenset([
    "in", "since", "until", "till", "by", "from", "during", "through", "throughout", "before", "after", "of",
    "the", "between", "early", "late", "mid", "around", "circa", "year", "summer", "spring", "autumn", "fall",
    "winter",
])
_YEAR_BEFORE: Final = re.compile(r"(?:1[89]|20)\d\d\s+(?:and|to|until|till|through)\s+$")
_MONTH_CUES: Final = frozenset([
    "in", "since", "until", "till", "by", "from", "during", "through", "throughout", "before", "after", "of",
    "between", "and", "to", "early", "late", "mid", "around", "last", "next", "this",
])
_STRONG_MONTH_CUES: Final = frozenset([
    "in", "since", "until", "till", "from", "during", "through", "throughout", "before", "after", "between",
    "by",
])
_SEASON_CUES: Final = frozenset([
    "in the", "during the", "over the", "by the", "until the", "since the", "through the", "throughout the",
    "of the",
])


def _words_before(text: str, position: int, count: int) -> str:
    """The ``count`` words before ``position``, lower case, single-spaced."""
    words = text[max(0, position - 40):position].split()[-count:]
    return " ".join(words).lower().translate(_FOLD)


def _accept_year(m: re.Match[str], text: str) -> bool:
    """A bare 4-digit number is a year after a cue ("in 2011", "the 2011 uprising", "Iran's 2009 vote",
    "2011 and 2014"), not in "and 2000 fighters"."""
    if m["mod"]:
        return True
    previous = _words_before(text, m.start("t"), 1)
    if previous in _YEAR_CUES or previous.endswith("'s"):
        return True
    return _YEAR_BEFORE.search(text, max(0, m.start("t") - 16), m.start("t")) is not None  # "2011 and 2014"


def _accept_month(m: re.Match[str], text: str) -> bool:
    """A month name alone needs a cue ("in March"); "May" needs a strong one (not "Theresa May", "may")."""
    if m["q"] or m["mod"]:
        return True
    previous = _words_before(text, m.start("t"), 1)
    cues = _STRONG_MONTH_CUES if m["mon"].lower() in _lexicon().cue_months else _MONTH_CUES
    return previous in cues


def _accept_season(m: re.Match[str], text: str) -> bool:
    """Seasons need a year, a modifier or "in the"-style cue; "the fall of Aleppo" is not autumn."""
    if m["sy"] or m["mod"]:
        return True
    if re.match(r"\s+of\s+(?!\d)", text[m.end():]):
        return False
    return _words_before(text, m.start("t"), 2) in _SEASON_CUES


@lru_cache(maxsize=1)
def _finder() -> _Finder:
    lex = _lexicon()

    def cased(names: Iterable[str], dotted: bool = False) -> str:
        variants = [v for n in names for v in (n.title(), n.upper())]
        dot = r"\.?" if dotted else ""
        return rf"(?:{_alt(variants)}){dot}"

    # Month names are matched case-sensitively (Title or UPPER) so that "may indicate" is no date.
    month = rf"(?:{cased(lex.full_months)}|{cased(lex.month_abbreviations, True)})"
    full_month = cased(lex.full_months)
    weekday = rf"(?i:{_alt(lex.full_weekdays)})"
    day = r"(?:3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?(?![\w:%]|[.,]\d)"
    year = r"(?:1[89]\d\d|20\d\d)(?![\w%]|[.,]\d)"
    number = rf"(?:\d+|{_alt(lex.numbers)})"
    number_word = rf"(?:\d+|{_alt(w for w in lex.numbers if ' ' not in w and w not in ('a', 'an'))})"
    units = rf"(?:{_alt(lex.units)})"
    part = rf"(?i:{_alt(lex.parts_of_day)})"
    seasons = _alt(lex.seasons)
    mod = (r"(?i:(?:early|mid|late)(?:\s+|-)|(?:the\s+)?(?:end|beginning|start|middle|first\s+half|"
           r"second\s+half|(?:first|second|third|fourth|final|last)\s+quarter)\s+of\s+)")
    sep = r"(?:\s*[-–]\s*|\s+(?i:to|and|until|till|through)\s+)"
    on = r"(?:(?i:on)\s+)?"
    b = r"(?<![\w])"
    e = r"(?![\w])"
    hedge = (r"(?:(?:just|a\s+little|slightly|well|only)\s+)?"
             r"(?:(?:over|under|more\s+than|less\s+than|about|around|nearly|almost|barely|roughly|some)\s+)?")
    qualifier = r"(?i:last|this|next|this\s+past|this\s+coming|past|coming|previous)"
    decade = r"(?:(?:1[89]|20)\d0['’]?s|['’]\d0s)"
    dm, d = ("digit", "month"), ("digit",)
    # (pattern, kind, accept, needs): a pattern is tried only when the text has a word of each class it needs.
    table: list[tuple[str, str, Accept | None, tuple[str, ...]]] = [
        (rf"(?<![\w/.])(?:{_alt(lex.named_dates)})(?![\w/]|\.\d)", "date", None, d),
        (r"\b\d{4}-\d{2}-\d{2}\b", "date", None, d),
        (r"\b\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})\b|\b\d{1,2}\.\d{1,2}\.\d{4}\b", "date", None, d),
        ((rf"{b}(?:(?i:from|between)\s+)?(?:(?i:the)\s+)?{day}{sep}{day}\s+(?:(?i:of)\s+)?{month}"
          rf"(?:,?\s+{year})?{e}"), "range", None, dm),
        (rf"{b}(?:(?i:from|between)\s+)?{month}\s+{day}{sep}{day}(?:,?\s+{year})?{e}", "range", None, dm),
        (rf"{b}{on}(?:{weekday},?\s+)?(?:(?i:the)\s+)?{month}\s+(?:(?i:the)\s+)?{day}(?:,?\s+{year})?{e}",
         "date", None, dm),
        (rf"{b}{on}(?:{weekday},?\s+)?(?:(?i:the)\s+)?{day}\s+(?:(?i:of)\s+)?{month}(?:,?\s+{year})?{e}",
         "date", None, dm),
        (rf"{b}(?:{mod})?{month},?\s+(?:(?i:of)\s+)?{year}", "date", None, dm),
        (rf"{b}(?P<t>(?:(?P<q>(?i:last|next|this))\s+|(?P<mod>{mod}))?(?P<mon>{full_month})){e}", "date",
         _accept_month, ("month",)),
        (rf"{b}(?P<t>{year}\s*[-–]\s*(?:{year}|\d{{2}}{e}))", "range", None, d),
        (rf"{b}(?P<t>(?P<mod>{mod})?{year})", "date", _accept_year, d),
        (rf"{b}(?:(?i:the)\s+)?(?:(?i:early|mid|late)[\s-]*)?{decade}{e}", "range", None, d),
        (rf"{b}(?i:q[1-4])\s+{year}", "date", None, d),
        (rf"{b}{on}(?:(?i:the)\s+)?(?i:{_alt(lex.holiday_names, apostrophes=True)})(?:,?\s+{year})?{e}",
         "date", None, ("holiday",)),
        (rf"{b}{on}(?i:{_alt(lex.relative_days)})(?:\s+{part})?{e}", "relative", None, ("relday",)),
        (rf"{b}{on}(?:(?i:early|late)\s+(?:(?i:on)\s+)?)?(?:{qualifier}\s+)?{weekday}(?:\s+{part})?{e}",
         "relative", None, ("weekday",)),
        (rf"{b}(?i:{number}\s+{units}s?\s+(?:ago|earlier|later|before|from\s+now|hence)){e}",
         "relative", None, ("unit", "ago")),
        (rf"{b}(?i:(?:in|within)\s+{hedge}{number}\s+{units}s?){e}", "range", None, ("unit",)),
        ((rf"{b}(?i:(?:(?:in|over|during|within|for|throughout)\s+)?"
          r"the\s+(?:past|last|previous|preceding|coming|next)"
         rf"\s+(?:{number}\s+)?{units}s?){e}(?!\s+of\b)"), "range", None, ("unit",)),
        (rf"{b}(?i:(?:(?:in|over|during)\s+)?(?:recent|the\s+coming)\s+{units}s){e}",
         "range", None, ("unit",)),
        ((rf"{b}(?i:(?:{mod})?(?:(?:earlier|later)\s+(?:this|in\s+the)\s+|"
          r"(?:last|this|next|past|previous|coming|"
         rf"current|this\s+past|this\s+coming|the\s+(?:previous|following|current|same))\s+)"
         rf"(?:week|month|year|weekend|decade|{seasons})){e}"), "relative", None, ("period",)),
        (rf"{b}(?P<t>(?P<mod>{mod})?(?i:{seasons})(?:\s+(?:(?i:of)\s+)?(?P<sy>{year}))?){e}",
         "date", _accept_season, ("season",)),
        ((rf"{b}(?i:(?:(?:throughout|during|over|for|in|after)\s+)?"
          r"(?:(?:the|a|an|its|his|her|their|this|that)\s+)?"
          rf"{number_word}-{units}(?!s?-old)s?(?:-long)?(?:\s+(?:{_alt(lex.duration_nouns)}))?){e}"),
         "duration", None,
         ("unit",)),
        ((rf"{b}(?i:for\s+(?:(?:more|less)\s+than\s+|over\s+|about\s+|nearly\s+|almost\s+|at\s+least\s+|"
          rf"some\s+|just\s+(?:over|under)\s+)?{number}\s+{units}s?){e}(?!\s+(?i:ago|earlier|later|before))"),
         "duration", None,
         ("unit",)),
    ]
    return _Finder(
        patterns=tuple((re.compile(p), kind, accept, needs) for p, kind, accept, needs in table),
        cue_words=_cue_words(lex),
        connector=re.compile(r"\s*(?:[-–]|(?i:to|until|till|through|and))\s*"),
        range_prefix=re.compile(r"(?i)\b(?:from|between)\s+$"),
        since_prefix=re.compile(r"(?i)\bsince\s+$"),
    )


_FUNCTION_WORDS: Final = frozenset([
    "the", "a", "an", "this", "that", "last", "same", "next", "previous", "following", "before", "after",
    "earlier", "later",
])


def _cue_words(lex: _Lexicon) -> dict[str, frozenset[str]]:
    """For each class a finder pattern may need, the words that signal it (lower case, letters only)."""

    def words(phrases: Iterable[str]) -> frozenset[str]:
        return frozenset(w for p in phrases for w in re.findall(r"[a-z]+", p.lower()))

    units = words(lex.units)
    relday = frozenset(w for w in words(lex.relative_days) if w not in _FUNCTION_WORDS)
    holiday = frozenset(re.findall(r"[a-z]+", name.lower())[0] for name in lex.holiday_names)
    return {
        "month": words(lex.months),
        "weekday": words(lex.full_weekdays),
        "unit": units | {u + "s" for u in units},
        "period": words(("week", "month", "year", "weekend", "decade")) | words(lex.seasons),
        "season": words(lex.seasons),
        "holiday": holiday,
        "relday": relday,
        "ago": frozenset({"ago", "earlier", "later", "before", "now", "hence"}),
    }


def _needed(needs: tuple[str, ...], words: set[str], has_digit: bool,
            cue_words: dict[str, frozenset[str]]) -> bool:
    return all(has_digit if need == "digit" else not words.isdisjoint(cue_words[need]) for need in needs)


def find_times(text: str, *, offset: int = 0) -> list[Span3]:
    """Temporal expressions in ``text`` as ``(start, end, kind)``, offsets shifted by ``offset``.

    Kinds: "date" (calendar-named: "December 6", "2011", "Christmas"), "relative" (needs the anchor:
    "on Friday morning", "yesterday", "last week", "two days ago"), "range" ("from 2 to 5 March",
    "in the past 24 hours", "since March", "the 1990s") and "duration" ("13-year", "for three years",
    "throughout the 13-year civil war"), which names no time and must not date an event.

    Where candidates overlap the leftmost, then longest wins; "from X to Y", "between X and Y" and
    "since X" are then joined into one range. Spans include a leading "on" ("on Friday").
    """
    finder = _finder()
    words = set(re.findall(r"[a-z]+", text.lower()))
    has_digit = any(ch.isdigit() for ch in text)
    candidates: list[tuple[int, int, int, str]] = []
    for order, (pattern, kind, accept, needs) in enumerate(finder.patterns):
        if not _needed(needs, words, has_digit, finder.cue_words):
            continue
        has_t = "t" in pattern.groupindex
        for m in pattern.finditer(text):
            start, end = m.span("t") if has_t else m.span()
            if end > start and (accept is None or accept(m, text)):
                candidates.append((start, -end, order, kind))
    chosen: list[Span3] = []
    for start, neg_end, _, kind in sorted(candidates):
        if not chosen or start >= chosen[-1][1]:
            chosen.append((start, -neg_end, kind))
    return [(s + offset, e + offset, k) for s, e, k in _join_ranges(text, chosen, finder)]


def _join_ranges(text: str, spans: list[Span3], finder: _Finder) -> list[Span3]:
    """Join "from X to Y" / "between X and Y" / "X-Y" into one range, and extend "since X" to a range."""
    out: list[Span3] = []
    i = 0
    while i < len(spans):
        start, end, kind = spans[i]
        if kind != "duration" and i + 1 < len(spans) and spans[i + 1][2] != "duration":
            gap = finder.connector.fullmatch(text, end, spans[i + 1][0])
            prefix = finder.range_prefix.search(text, max(0, start - 12), start)
            between = prefix is not None and prefix.group().lower().startswith("between")
            # "and" joins only after "between" ("on Friday and Saturday" are two days), "between" needs "and".
            if gap and (gap.group().strip().lower() == "and") == between:
                out.append((prefix.start() if prefix else start, spans[i + 1][1], "range"))
                i += 2
                continue
        since = finder.since_prefix.search(text, max(0, start - 10), start)
        out.append((since.start(), end, "range") if since and kind != "duration" else (start, end, kind))
        i += 1
    return out


# --- inferring a publication date ------------------------------------------------------------------

@dataclass(frozen=True)
class _Dated:
    """A day-precise date the text gives: year may be missing; weekday when written with it."""

    month: int
    day: int
    year: int | None
    weekday: int | None
    text: str


@dataclass
class _Evidence:
    dated: list[_Dated] = field(default_factory=list)
    weekdays: dict[int, str] = field(default_factory=dict)         # plain weekday mentions ("on Friday")
    days_back: list[tuple[int, str]] = field(default_factory=list)  # "yesterday" → (1, "yesterday")
    years: list[int] = field(default_factory=list)                  # weak hints: "in 2011", "March 2023"
    wars: list[_WarWindow] = field(default_factory=list)


@dataclass(frozen=True)
class _WarWindow:
    """When a text saying "the N-year war" was written: in [low, high], or near it (rounding) within slack."""

    war: _War
    low: Date
    high: Date
    slack: dt.timedelta
    phrase: str


def infer_publication_date(text: str) -> tuple[Date | None, str]:
    """Infer a missing publication date from the text, with the reason; ``(None, reason)`` when it cannot.

    News reports are written within days of the latest event they date, so the heuristic is:

    1. Collect the day-precise dates the text gives ("on December 6", "Dec. 6, 2024", "Friday,
       December 6"), ignoring those in forward-looking sentences ("talks will resume on December 10").
    2. Fix the year. A full date settles it (month-days then take the year nearest to it).
       Otherwise score candidate years:

       * a war's running length ("the 13-year civil war in Syria"; start dates in ``data/en/time.json``)
         puts the latest date in [start + N, start + N + 1) units: +2 inside, +1 within one unit
         (rounding); "nearly N" means N - 1 to N; months and decades work like years;
       * a weekday written with a date must agree: +3, or -5;
       * plain weekday mentions ("on Friday") that fall on a date of the last week before the
         latest date: +1 each, at most 2;
       * an explicit year Y in the text supports Y and Y + 1: +1.

       The best year must score 2 or more and be unique. A month-day falls on the same weekday
       every few years, so without any year hint nothing is inferred.
    3. The latest date L is the most recent dated event. If the text says "yesterday" ("two days
       ago", …), that is taken to be L, and the publication date is L + 1 (+ N); otherwise it is L.
       For the sample (no date given): "13-year civil war" + Syria (2011) and "on Friday" = December
       6 give 2024; L = 2024-12-06; "yesterday" → 2024-12-07, the real publication date. The
       "yesterday" there is al-Julani's statement, which other sources date to December 6.
    """
    evidence = _collect_evidence(text)
    if not evidence.dated:
        return None, "no day-precise date in the text (weekdays and 'yesterday' alone cannot be placed)"
    if all(d.year is None for d in evidence.dated):
        year, why = _choose_year(evidence)
        if year is None:
            return None, why
        dates = _assign_years(evidence.dated, year)
    else:
        dates, why = _dates_from_full(evidence.dated)
    if not dates:
        return None, why
    latest, source = max(dates, key=lambda pair: pair[0])
    back = sorted(b for b in evidence.days_back if b[0] >= 1)
    if back:
        days, phrase = back[0]
        published = latest + dt.timedelta(days=days)
        tail = f"'{phrase}' is taken to be that day, so published {days} day(s) later"
    else:
        published, tail = latest, "no 'yesterday'-style cue, so published on that day"
    reason = f"{why}; latest dated event {latest.isoformat()} ('{source}'); {tail}: {published.isoformat()}"
    return published, reason


def _sentence_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer(r"[.!?][\"”']?\s+(?=[A-Z\"“])|\n+", text)]


def _collect_evidence(text: str) -> _Evidence:
    g, lex, evidence = _grammar(), _lexicon(), _Evidence()
    starts = _sentence_starts(text)

    def sentence(position: int) -> str:
        i = bisect.bisect_right(starts, position) - 1
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        return text[starts[i]:end]

    bounds = list(zip(starts, [*starts[1:], len(text)], strict=True))
    # Per sentence, so that each finder pattern runs only where its cue words occur.
    spans = [hit for lo, hi in bounds for hit in find_times(text[lo:hi], offset=lo)]
    for start, end, _kind in spans:
        raw = text[start:end]
        expr = _normalise(raw)
        expr = expr.removeprefix("on ")
        dated = _calendar_parts(expr, raw, g, lex)
        if dated is not None:
            if not g.future.search(sentence(start).lower()):
                evidence.dated.append(dated)
            continue
        _collect_relative(expr, raw, evidence, g, lex)
    for m in g.war.finditer(text):
        evidence.wars.extend(_war_windows(m, sentence(m.start()), text, lex))
    return evidence


def _calendar_parts(expr: str, raw: str, g: _Grammar, lex: _Lexicon) -> _Dated | None:
    iso, numeric, mdy, dmy = g.calendar
    if (m := iso.fullmatch(expr)) is not None:
        return _Dated(int(m["m"]), int(m["d"]), int(m["y"]), None, raw)
    if (m := numeric.fullmatch(expr)) is not None:
        day, month = _numeric_order(int(m["a"]), int(m["b"]), m["sep"], True)
        return _Dated(month, day, _expand_year(m["y"]), None, raw)
    for pattern in (mdy, dmy):
        if (m := pattern.fullmatch(expr)) is not None:
            weekday = lex.weekdays[m["wd"].rstrip(".")] if m["wd"] else None
            year = int(m["y"]) if m["y"] else None
            return _Dated(lex.months[m["m"].rstrip(".")], _int(m["d"]), year, weekday, raw)
    return None


_RELATIVE_TO_OTHER: Final = frozenset([
    "that day", "the same day", "the previous day", "the day before", "a day earlier", "the previous night",
    "the night before",
])  # offsets from another expression, not from the publication date


def _collect_relative(expr: str, raw: str, evidence: _Evidence, g: _Grammar, lex: _Lexicon) -> None:
    """Weekday mentions, "yesterday"-style day offsets and explicit years (weak year hints)."""
    if (m := g.weekday.fullmatch(expr)) is not None:
        evidence.weekdays.setdefault(lex.weekdays[m["wd"].rstrip(".")], raw)
    elif (m := g.relative_day.fullmatch(expr)) is not None:
        lo, hi = lex.relative_days[m["r"]]
        if lo == hi and lo <= 0 and m["r"] not in _RELATIVE_TO_OTHER:
            evidence.days_back.append((-lo, raw))
    elif (m := g.ago.fullmatch(expr)) is not None:
        unit, per = _unit(m["u"], lex)
        n = _number(m["n"], lex)
        if unit == "day" and n is not None and m["dir"] == "ago":
            evidence.days_back.append((n * per, raw))
    elif (m := g.month_year.fullmatch(expr)) is not None or (m := g.year.fullmatch(expr)) is not None:
        evidence.years.append(int(m["y"]))


def _war_windows(m: re.Match[str], sentence: str, text: str, lex: _Lexicon) -> list[_WarWindow]:
    """The years a phrase like "the 13-year civil war in Syria" allows; the war is named in its sentence
    or, failing that, is the only known war the document names."""
    n = _number(m["n"].lower(), lex)
    if n is None:
        return []
    months = n * {"decade": 120, "year": 12, "month": 1}[m["u"].lower()]
    step = {"decade": 120, "year": 12, "month": 1}[m["u"].lower()]
    if m["hedge"] and m["hedge"].lower() in ("nearly", "almost", "close to"):
        months -= step  # "nearly three-year war": between two and three years in

    def names(war: _War, haystack: str) -> bool:
        return any(_keyword_pattern(k).search(haystack) for k in war.keywords)

    wars = [w for w in lex.wars if names(w, sentence)] or [w for w in lex.wars if names(w, text)]
    if len(wars) > 1 and not any(names(w, sentence) for w in wars):
        return []
    windows = []
    for war in wars:
        low = _add_months(war.start, months)
        high = _add_months(war.start, months + step) - _DAY
        if war.end is not None:
            high = min(high, war.end)
        if low <= high:
            windows.append(_WarWindow(war, low, high, dt.timedelta(days=31 * step), m.group()))
    return windows


def _dates_from_full(dated: list[_Dated]) -> tuple[list[tuple[Date, str]], str]:
    """With at least one full date: month-days take the year that puts them nearest to the latest one."""
    full = [(d, x.text) for x in dated if x.year is not None and (d := _safe_date(x.year, x.month, x.day))]
    if not full:
        return [], "no valid full date"
    reference, source = max(full)
    dates = list(full)
    for x in dated:
        if x.year is None:
            options = [d for y in _years_around(reference) if (d := _safe_date(y, x.month, x.day))]
            if options:
                dates.append((min(options, key=lambda d: abs((d - reference).days)), x.text))
    return dates, f"year {reference.year} from the explicit date '{source}'"


def _assign_years(dated: list[_Dated], year: int) -> list[tuple[Date, str]]:
    """Month-days of one report; when they straddle New Year, December is the year before January."""
    months = [d.month for d in dated]
    straddles = max(months) - min(months) > 6
    out = []
    for d in dated:
        y = year - 1 if straddles and d.month > 6 else year
        if (day := _safe_date(y, d.month, d.day)) is not None:
            out.append((day, d.text))
    return out


def _choose_year(evidence: _Evidence) -> tuple[int | None, str]:
    candidates: set[int] = set()
    for window in evidence.wars:
        candidates |= set(range(window.low.year - 1, window.high.year + 2))
    if evidence.years:
        top = max(evidence.years)
        candidates |= {top, top + 1}
    if not candidates:
        return None, "a month and day but no year evidence (no explicit year, no known war's running length)"
    scored = sorted(((_score_year(y, evidence), y) for y in candidates), key=lambda s: (s[0][0], -s[1]),
                    reverse=True)
    (best, notes), year = scored[0]
    if best < 2:
        return None, f"no candidate year is supported well enough (best {year}, score {best})"
    if len(scored) > 1 and scored[1][0][0] == best:
        return None, f"years {year} and {scored[1][1]} fit equally well"
    return year, f"year {year}: " + ", ".join(notes)


def _score_year(year: int, evidence: _Evidence) -> tuple[int, list[str]]:
    dates = _assign_years(evidence.dated, year)
    if len(dates) < len(evidence.dated):
        return -99, ["an impossible date"]
    latest = max(d for d, _ in dates)
    score, notes = 0, []
    for w in evidence.wars:
        if w.low <= latest <= w.high:
            score += 2
            notes.append(f"'{w.phrase}' ({w.war.name}, began {w.war.start}) fits {latest}")
        elif w.low - w.slack <= latest <= w.high + w.slack:
            score += 1  # journalists round: "the 20-month war" a few days early
            notes.append(f"'{w.phrase}' ({w.war.name}, began {w.war.start}) nearly fits {latest}")
    for (day, _), item in zip(dates, evidence.dated, strict=False):
        if item.weekday is not None:
            agrees = day.weekday() == item.weekday
            score += 3 if agrees else -5
            notes.append(f"'{item.text}' {'agrees' if agrees else 'disagrees'}")
    week = latest - 6 * _DAY
    recent = sorted({d for d, _ in dates if week <= d <= latest and d.weekday() in evidence.weekdays})
    for day in recent[-2:]:
        score += 1
        notes.append(f"{day} is a {day.strftime('%A')} as in '{evidence.weekdays[day.weekday()]}'")
    if evidence.years and year in (max(evidence.years), max(evidence.years) + 1):
        score += 1
        notes.append(f"near the explicit year {max(evidence.years)}")
    return score, notes


@lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Compiled once per keyword: ``re``'s own cache is too small for every war keyword times every call."""
    return re.compile(rf"\b{re.escape(keyword)}\b", re.IGNORECASE)
