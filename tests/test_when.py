"""tidings.stages.time: finding, resolving and inferring dates. Fast: no spaCy model, dateparser only where said."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tidings.core.records import When
from tidings.core.settings import LANGUAGE_DIR
from tidings.stages import time as when
from tidings.stages.time import find_times, infer_publication_date, resolve

D = dt.date
SAT = D(2024, 12, 7)  # the sample's publication date, a Saturday
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "iran-syria-evacuation.txt"


@pytest.fixture(scope="module")
def sample() -> str:
    return SAMPLE.read_text("utf-8")


def found(text: str) -> list[tuple[str, str]]:
    return [(text[s:e], kind) for s, e, kind in find_times(text)]


def span(w: When | None) -> tuple[Any, ...] | None:
    return None if w is None else (w.start, w.end, w.granularity)


# --- the sample ---------------------------------------------------------------------------------------

def test_sample_expressions_found_with_exact_offsets(sample: str) -> None:
    hits = found(sample)
    assert hits == [
        ("on Friday morning", "relative"),
        ("throughout the 13-year civil war", "duration"),
        ("On December 6", "date"),
        ("in just over a week", "range"),
        ("on Friday", "relative"),
        ("on December 6", "date"),
        ("on December 2", "date"),
        ("yesterday", "relative"),
    ]
    for start, end, _ in find_times(sample):
        assert sample[start:end] == sample[start:end].strip()
    assert "may indicate" in sample  # the verb is no month


@pytest.mark.parametrize(("expression", "expected"), [
    ("on Friday morning", (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("On December 6", (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("on December 2", (D(2024, 12, 2), D(2024, 12, 2), "day")),
    ("yesterday", (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("on Friday", (D(2024, 12, 6), D(2024, 12, 6), "day")),
    # "just over a week" ending at publication: one day more than a week
    ("in just over a week", (D(2024, 11, 29), D(2024, 12, 7), "range")),
    ("13-year", None),
    ("throughout the 13-year civil war", None),
])
def test_sample_resolution(expression: str, expected: tuple[Any, ...] | None) -> None:
    assert span(resolve(expression, SAT)) == expected


def test_anchor_kind_is_recorded_and_explicit_dates_need_none() -> None:
    assert resolve("on Friday", SAT, anchor_kind="inferred").anchor == "inferred"  # type: ignore[union-attr]
    assert resolve("Dec. 6, 2024", SAT, anchor_kind="inferred").anchor == "none"  # type: ignore[union-attr]
    assert resolve("in just over a week", SAT).anchor == "published"  # type: ignore[union-attr]
    assert resolve("2 March to 5 April 2022", SAT).anchor == "none"  # type: ignore[union-attr]


# --- resolve: rules -------------------------------------------------------------------------------------

MON, TUE, WED = D(2024, 12, 9), D(2024, 12, 10), D(2024, 12, 11)


@pytest.mark.parametrize(("expression", "anchor", "tense", "expected"), [
    # weekdays: on or before the anchor (past/unknown), on or after (future)
    ("on Saturday", SAT, None, (SAT, SAT, "day")),
    ("on Monday", MON, None, (MON, MON, "day")),
    ("on Monday", MON, "future", (MON, MON, "day")),
    ("on Monday", SAT, "future", (MON, MON, "day")),
    ("will meet on Tuesday", SAT, None, None),  # not an expression: resolve takes the expression only
    ("Tuesday night", SAT, None, (D(2024, 12, 3), D(2024, 12, 3), "day")),
    ("early Friday", SAT, "past", (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("late on Tuesday", WED, None, (TUE, TUE, "day")),
    ("Friday's", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    # last/this/next weekday: the previous / current / next Monday–Sunday week
    ("last Friday", SAT, None, (D(2024, 11, 29), D(2024, 11, 29), "day")),
    ("last Sunday", MON, None, (D(2024, 12, 8), D(2024, 12, 8), "day")),
    ("this Friday", WED, "future", (D(2024, 12, 13), D(2024, 12, 13), "day")),
    ("next Tuesday", SAT, "future", (TUE, TUE, "day")),
    ("next Tuesday", MON, "future", (D(2024, 12, 17), D(2024, 12, 17), "day")),
    ("this past Friday", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("this coming Saturday", SAT, None, (D(2024, 12, 14), D(2024, 12, 14), "day")),
    # relative days
    ("today", SAT, None, (SAT, SAT, "day")),
    ("tonight", SAT, None, (SAT, SAT, "day")),
    ("last night", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("yesterday afternoon", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("the day before yesterday", SAT, None, (D(2024, 12, 5), D(2024, 12, 5), "day")),
    ("tomorrow", SAT, "future", (D(2024, 12, 8), D(2024, 12, 8), "day")),
    ("two days ago", SAT, None, (D(2024, 12, 5), D(2024, 12, 5), "day")),
    ("48 hours ago", SAT, None, (D(2024, 12, 5), D(2024, 12, 5), "day")),
    ("three weeks ago", SAT, None, (D(2024, 11, 11), D(2024, 11, 17), "week")),
    ("a fortnight ago", SAT, None, (D(2024, 11, 18), D(2024, 11, 24), "week")),
    ("three months ago", SAT, None, (D(2024, 9, 1), D(2024, 9, 30), "month")),
    ("a year ago", SAT, None, (D(2023, 1, 1), D(2023, 12, 31), "year")),
    # calendar periods
    ("last week", SAT, None, (D(2024, 11, 25), D(2024, 12, 1), "week")),
    ("last week", MON, None, (D(2024, 12, 2), D(2024, 12, 8), "week")),
    ("this week", SAT, None, (D(2024, 12, 2), D(2024, 12, 8), "week")),
    ("next week", SAT, "future", (D(2024, 12, 9), D(2024, 12, 15), "week")),
    ("earlier this week", SAT, None, (D(2024, 12, 2), D(2024, 12, 6), "range")),
    ("earlier this week", MON, None, (MON, MON, "range")),
    ("later this month", SAT, "future", (D(2024, 12, 8), D(2024, 12, 31), "range")),
    ("last month", SAT, None, (D(2024, 11, 1), D(2024, 11, 30), "month")),
    ("last month", D(2025, 1, 15), None, (D(2024, 12, 1), D(2024, 12, 31), "month")),
    ("next month", SAT, "future", (D(2025, 1, 1), D(2025, 1, 31), "month")),
    ("last year", SAT, None, (D(2023, 1, 1), D(2023, 12, 31), "year")),
    ("this year", SAT, None, (D(2024, 1, 1), D(2024, 12, 31), "year")),
    ("last weekend", SAT, None, (D(2024, 11, 30), D(2024, 12, 1), "range")),
    ("the following day", SAT, None, (D(2024, 12, 8), D(2024, 12, 8), "day")),
    # windows ending (or starting) at the anchor
    ("over the past week", SAT, None, (D(2024, 11, 30), SAT, "range")),
    ("in the past 24 hours", SAT, None, (D(2024, 12, 6), SAT, "range")),
    ("the past few days", SAT, None, (D(2024, 12, 4), SAT, "range")),
    ("for the past three years", SAT, None, (D(2021, 12, 7), SAT, "range")),
    ("in recent days", SAT, None, (D(2024, 11, 30), SAT, "range")),
    ("in the coming days", SAT, "future", (SAT, D(2024, 12, 14), "range")),
    ("in more than two weeks", SAT, "past", (D(2024, 11, 22), SAT, "range")),
    ("in two weeks", SAT, "future", (D(2024, 12, 16), D(2024, 12, 22), "week")),
    ("within a week", SAT, "future", (SAT, D(2024, 12, 14), "range")),
    # month-day without a year
    ("December 30", D(2025, 1, 2), "past", (D(2024, 12, 30), D(2024, 12, 30), "day")),
    ("December 30", D(2025, 1, 2), None, (D(2024, 12, 30), D(2024, 12, 30), "day")),
    ("January 5", D(2024, 12, 28), "future", (D(2025, 1, 5), D(2025, 1, 5), "day")),
    ("January 5", D(2024, 12, 28), "past", (D(2024, 1, 5), D(2024, 1, 5), "day")),
    # no tense: the coming January 5 beats the one almost a year ago
    ("January 5", D(2024, 12, 28), None, (D(2025, 1, 5), D(2025, 1, 5), "day")),
    ("December 10", SAT, None, (D(2024, 12, 10), D(2024, 12, 10), "day")),  # within the grace days
    ("December 20", SAT, "past", (D(2023, 12, 20), D(2023, 12, 20), "day")),
    ("December 20", SAT, "future", (D(2024, 12, 20), D(2024, 12, 20), "day")),
    ("the 6th of December", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("6 Dec.", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("Friday, December 6", D(2025, 12, 10), None, (D(2024, 12, 6), D(2024, 12, 6), "day")),  # weekday decides
    ("February 29", D(2025, 3, 1), None, (D(2024, 2, 29), D(2024, 2, 29), "day")),
    # explicit dates
    ("Dec. 6, 2024", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("2 March 2022", SAT, None, (D(2022, 3, 2), D(2022, 3, 2), "day")),
    ("Friday, 6 December 2024", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("2024-12-06", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    ("Sat, 07 Dec 2024 10:00:00 GMT", SAT, None, (SAT, SAT, "day")),
    ("on Friday at 3 p.m.", SAT, None, (D(2024, 12, 6), D(2024, 12, 6), "day")),
    # numeric: day-first unless a part exceeds 12; dots always day-first
    ("03/04/2024", SAT, None, (D(2024, 4, 3), D(2024, 4, 3), "day")),
    ("12/25/2024", SAT, None, (D(2024, 12, 25), D(2024, 12, 25), "day")),
    ("07.12.2024", SAT, None, (SAT, SAT, "day")),
    ("9/11", SAT, None, (D(2001, 9, 11), D(2001, 9, 11), "day")),  # a named date, not 9 November
    ("since 9/11", SAT, None, (D(2001, 9, 11), SAT, "range")),
    ("7/12/24", SAT, None, (SAT, SAT, "day")),
    # months, years, decades, parts of them
    ("December 2024", SAT, None, (D(2024, 12, 1), D(2024, 12, 31), "month")),
    ("March", SAT, None, (D(2024, 3, 1), D(2024, 3, 31), "month")),
    ("in March", D(2024, 2, 10), "past", (D(2023, 3, 1), D(2023, 3, 31), "month")),
    ("in March", D(2024, 2, 10), "future", (D(2024, 3, 1), D(2024, 3, 31), "month")),
    ("last March", D(2024, 3, 20), None, (D(2023, 3, 1), D(2023, 3, 31), "month")),
    ("2011", SAT, None, (D(2011, 1, 1), D(2011, 12, 31), "year")),
    ("the 1990s", SAT, None, (D(1990, 1, 1), D(1999, 12, 31), "range")),
    ("the early 1990s", SAT, None, (D(1990, 1, 1), D(1993, 12, 31), "range")),
    ("the '80s", SAT, None, (D(1980, 1, 1), D(1989, 12, 31), "range")),
    ("mid-March", SAT, None, (D(2024, 3, 11), D(2024, 3, 20), "range")),
    ("late March 2022", SAT, None, (D(2022, 3, 21), D(2022, 3, 31), "range")),
    ("early 2023", SAT, None, (D(2023, 1, 1), D(2023, 4, 30), "range")),
    ("mid-2023", SAT, None, (D(2023, 5, 1), D(2023, 8, 31), "range")),
    ("the end of 2023", SAT, None, (D(2023, 9, 1), D(2023, 12, 31), "range")),
    ("late last year", SAT, None, (D(2023, 9, 1), D(2023, 12, 31), "range")),
    ("the end of last month", SAT, None, (D(2024, 11, 21), D(2024, 11, 30), "range")),
    ("the first half of 2024", SAT, None, (D(2024, 1, 1), D(2024, 6, 30), "range")),
    ("the first quarter of 2024", SAT, None, (D(2024, 1, 1), D(2024, 3, 31), "range")),
    ("Q3 2023", SAT, None, (D(2023, 7, 1), D(2023, 9, 30), "range")),
    ("summer 2022", SAT, None, (D(2022, 6, 1), D(2022, 8, 31), "range")),
    ("last summer", SAT, None, (D(2024, 6, 1), D(2024, 8, 31), "range")),
    ("this winter", SAT, None, (D(2024, 12, 1), D(2025, 2, 28), "range")),
    # ranges
    ("since March", SAT, None, (D(2024, 3, 1), SAT, "range")),
    ("since 2011", SAT, None, (D(2011, 1, 1), SAT, "range")),
    ("from 2 to 5 March", SAT, None, (D(2024, 3, 2), D(2024, 3, 5), "range")),
    ("between 2 and 5 March 2022", SAT, None, (D(2022, 3, 2), D(2022, 3, 5), "range")),
    ("December 2-6", SAT, None, (D(2024, 12, 2), D(2024, 12, 6), "range")),
    ("2 March to 5 April 2022", SAT, None, (D(2022, 3, 2), D(2022, 4, 5), "range")),
    ("since Friday", SAT, None, (D(2024, 12, 6), SAT, "range")),
    ("from December 30 to January 2", D(2025, 1, 5), None, (D(2024, 12, 30), D(2025, 1, 2), "range")),
    ("between 2011 and 2014", SAT, None, (D(2011, 1, 1), D(2014, 12, 31), "range")),
    ("2011-14", SAT, None, (D(2011, 1, 1), D(2014, 12, 31), "range")),
    ("from Friday to Sunday", D(2024, 12, 9), None, (D(2024, 12, 6), D(2024, 12, 8), "range")),
    # holidays (data/en/time.json)
    ("Christmas", SAT, "future", (D(2024, 12, 25), D(2024, 12, 25), "day")),
    ("Christmas Day", D(2025, 1, 3), None, (D(2024, 12, 25), D(2024, 12, 25), "day")),
    ("New Year's Eve", D(2025, 1, 2), "past", (D(2024, 12, 31), D(2024, 12, 31), "day")),
    ("Easter 2024", SAT, None, (D(2024, 3, 31), D(2024, 3, 31), "day")),
    ("Good Friday", D(2025, 4, 20), None, (D(2025, 4, 18), D(2025, 4, 18), "day")),
    ("Orthodox Easter", D(2024, 5, 10), None, (D(2024, 5, 5), D(2024, 5, 5), "day")),
    ("Eid al-Fitr", SAT, None, (D(2024, 4, 10), D(2024, 4, 10), "day")),
    ("Ramadan", SAT, None, (D(2024, 3, 11), D(2024, 4, 9), "range")),
])
def test_resolve(expression: str, anchor: dt.date, tense: str | None,
                 expected: tuple[Any, ...] | None) -> None:
    assert span(resolve(expression, anchor, tense=tense)) == expected


def test_numeric_dates_can_be_read_month_first() -> None:
    assert span(resolve("03/04/2024", SAT, dayfirst=False)) == (D(2024, 3, 4), D(2024, 3, 4), "day")


@pytest.mark.parametrize("expression", [
    "13-year", "13 year", "three-day", "a 13-year-old", "for three years", "two weeks", "just over a week",
    "more than a month", "throughout the 13-year civil war", "the 24-hour curfew",
    "recently", "soon", "now", "at the time", "earlier",
    "February 30", "31 April 2024", "2024-13-01", "30/02/2024", "Eid al-Fitr 2031",
    "10:30 a.m.", "at noon", "in the morning", "",
    "the Syrian army", "Hama", "may", "Iran has begun the evacuation",
])
def test_resolve_returns_none_for_durations_vague_impossible_and_non_dates(expression: str) -> None:
    assert resolve(expression, SAT) is None


@pytest.mark.parametrize(("expression", "expected"), [
    ("on Friday", When(granularity="day", relative=True)),
    ("December 6", When(granularity="day", relative=True)),
    ("last week", When(granularity="week", relative=True)),
    ("in just over a week", When(granularity="range", relative=True)),
    ("Dec. 6, 2024", When(start=D(2024, 12, 6), end=D(2024, 12, 6), granularity="day")),
    ("2011", When(start=D(2011, 1, 1), end=D(2011, 12, 31), granularity="year")),
    ("from 2 to 5 March 2022", When(start=D(2022, 3, 2), end=D(2022, 3, 5), granularity="range")),
    ("since 2011", When(start=D(2011, 1, 1), granularity="range", relative=True)),
    ("13-year", None),
])
def test_resolve_without_anchor(expression: str, expected: When | None) -> None:
    assert resolve(expression, None) == expected


# --- dateparser fallback ----------------------------------------------------------------------------------

class _SpyParser:
    """Stands in for dateparser.DateDataParser and records how it was built and used."""

    built: ClassVar[list[dict[str, Any]]] = []
    parsed: ClassVar[list[str]] = []

    def __init__(self, **kwargs: Any) -> None:
        _SpyParser.built.append(kwargs)

    def get_date_data(self, text: str) -> Any:
        _SpyParser.parsed.append(text)
        return type("DateData", (), {"date_obj": dt.datetime(2024, 12, 6, 10), "period": "day"})()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_SpyParser]]:
    import dateparser

    monkeypatch.setattr(dateparser, "DateDataParser", _SpyParser)
    _SpyParser.built, _SpyParser.parsed = [], []
    when._date_parser.cache_clear()
    when._resolve_cached.cache_clear()
    yield _SpyParser
    when._date_parser.cache_clear()
    when._resolve_cached.cache_clear()


def test_fallback_is_not_used_when_rules_succeed_or_claim(spy: type[_SpyParser]) -> None:
    for expression in ("on Friday morning", "December 6", "in just over a week", "13-year", "February 30",
                       "recently", "the Syrian army"):
        resolve(expression, SAT)
    assert spy.built == [] and spy.parsed == []


def test_fallback_is_used_with_english_only_when_rules_fail(spy: type[_SpyParser]) -> None:
    got = resolve("6/12", SAT)  # day/month without a year: no rule for it
    assert spy.parsed == ["6/12"]
    (kwargs,) = spy.built
    assert kwargs["languages"] == ["en"]
    assert kwargs["settings"]["RELATIVE_BASE"] == dt.datetime(2024, 12, 7)
    assert kwargs["settings"]["PREFER_DATES_FROM"] == "past"
    assert span(got) == (D(2024, 12, 6), D(2024, 12, 6), "day")
    assert got is not None and got.anchor == "published"


def test_fallback_with_real_dateparser() -> None:
    pytest.importorskip("dateparser")
    assert span(resolve("6/12", SAT)) == (D(2024, 12, 6), D(2024, 12, 6), "day")
    assert span(resolve("6/12", SAT, tense="future")) == (D(2025, 12, 6), D(2025, 12, 6), "day")


# --- find_times -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("KYIV (AP) — Russia launched 47 drones overnight, the air force said Tuesday.",
     [("overnight", "relative"), ("Tuesday", "relative")]),
    ("a strike on Dec. 3, 2024 killed two; another on 2 March 2022.",
     [("on Dec. 3, 2024", "date"), ("on 2 March 2022", "date")]),
    ("Attacks on Friday, December 6, 2024 at about 10:30 a.m. local time.",
     [("on Friday, December 6, 2024", "date")]),
    ("Talks were postponed until mid-January, officials said on Wednesday night.",
     [("mid-January", "date"), ("on Wednesday night", "relative")]),
    ("Between 2011 and 2014, more than 2000 people were detained; since 2011 the war has killed 500,000.",
     [("Between 2011 and 2014", "range"), ("since 2011", "range")]),
    ("The fighting, from 2 to 5 March, left the 1990s peace deal in tatters.",
     [("from 2 to 5 March", "range"), ("the 1990s", "range")]),
    ("a curfew from December 24-26 and from Friday to Sunday.",
     [("from December 24-26", "range"), ("from Friday to Sunday", "range")]),
    ("on Friday and Saturday", [("on Friday", "relative"), ("Saturday", "relative")]),
    ("Israeli strikes killed 30 people in the past 24 hours, the ministry said on Sunday.",
     [("in the past 24 hours", "range"), ("on Sunday", "relative")]),
    ("Over the past week rebels took Hama; two days ago they reached Homs, and earlier this week Daraa.",
     [("Over the past week", "range"), ("two days ago", "relative"), ("earlier this week", "relative")]),
    ("The ceasefire agreed last week expires next month, after it began on Eid al-Fitr.",
     [("last week", "relative"), ("next month", "relative"), ("on Eid al-Fitr", "date")]),
    ("Iran's 2009 election and the 2011 uprising; early 2023, Q3 2023 and the end of last month.",
     [("2009", "date"), ("2011", "date"), ("early 2023", "date"), ("Q3 2023", "date"),
      ("the end of last month", "relative")]),
    ("The president, who has ruled for three years, will visit Beijing next Tuesday.",
     [("for three years", "duration"), ("next Tuesday", "relative")]),
    ("Protests erupted in Dhaka in July and August; elections by late 2025.",
     [("July", "date"), ("August", "date"), ("late 2025", "date")]),
    ("ISO 2024-12-06 and 06/12/2024 and 06.12.2024.",
     [("2024-12-06", "date"), ("06/12/2024", "date"), ("06.12.2024", "date")]),
    ("the deadliest attack since 9/11, not 19/11/2024", [("since 9/11", "range"), ("19/11/2024", "date")]),
    ("On 6 December rebels entered the city. Yesterday the UN said it would meet in the coming days.",
     [("On 6 December", "date"), ("Yesterday", "relative"), ("in the coming days", "range")]),
    ("Last summer floods hit; in the fall, the army will attack.",
     [("Last summer", "relative"), ("fall", "date")]),
    ("a three-day ceasefire; a 13-year-old boy; 2000 fighters", [("a three-day ceasefire", "duration")]),
])
def test_find_times(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize("text", [
    "Theresa May said she may resign.",
    "Such actions may indicate the inability to assist.",
    "After the fall of Aleppo, the spring of water dried.",
    "A 13-year-old boy and 2000 fighters.",
    "Tehran has deployed tens of thousands of fighters.",
    "",
])
def test_find_times_ignores_non_dates(text: str) -> None:
    assert find_times(text) == []


def test_find_times_may_and_march_need_a_cue() -> None:
    assert found("Theresa May said in May that the March organisers met in March.") == [
        ("May", "date"), ("March", "date")]
    text = "Theresa May said in May that the March organisers met in March."
    (a, _, _), (b, _, _) = find_times(text)
    assert (a, b) == (text.index("in May") + 3, text.rindex("March"))


def test_find_times_offsets_are_absolute() -> None:
    sentence = "Iranians began leaving Syria on Friday morning, officials said."
    (start, end, kind), = find_times(sentence, offset=1000)
    assert (start, end, kind) == (1029, 1046, "relative")
    assert sentence[start - 1000:end - 1000] == "on Friday morning"


def test_find_times_then_resolve_round_trip(sample: str) -> None:
    resolved = {sample[s:e]: resolve(sample[s:e], SAT) for s, e, k in find_times(sample) if k != "duration"}
    assert all(w is not None and w.start is not None and w.start <= SAT for w in resolved.values())


# --- robustness -------------------------------------------------------------------------------------------

def test_bad_input_never_raises() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    words = st.sampled_from(["on", "Friday", "December", "30", "February", "2024", "-", "to", "since", "last",
                             "week", "13-year", "mid", "the", "1990s", "/", "in", "over", "a", "ago", "Q5",
                             "99"])

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.lists(words, max_size=7).map(" ".join), st.sampled_from([SAT, None]))
    def check(text: str, anchor: dt.date | None) -> None:
        result = resolve(text, anchor)
        assert result is None or isinstance(result, When)
        for start, end, _ in find_times(text):
            assert 0 <= start < end <= len(text)

    check()


# --- infer_publication_date -------------------------------------------------------------------------------

def test_infer_publication_date_of_the_sample(sample: str) -> None:
    published, reason = infer_publication_date(sample)
    assert published == SAT
    assert "13-year civil war" in reason and "Syrian civil war" in reason and "yesterday" in reason


@pytest.mark.parametrize(("text", "expected"), [
    ("On Dec. 6, 2024, rebels entered Homs. Yesterday the army withdrew.", D(2024, 12, 7)),
    ("On Dec. 6, 2024, rebels entered Homs, the governor said.", D(2024, 12, 6)),
    ("Two days ago, on December 4, 2024, the strike hit.", D(2024, 12, 6)),
    ("Talks will resume on December 20. On Dec. 6, 2024, rebels entered Homs.", D(2024, 12, 6)),
    (("Russia's nearly three-year war in Ukraine ground on. On Tuesday, November 19, Ukraine fired ATACMS "
     "missiles, officials said on Tuesday."), D(2024, 11, 19)),
    (("The 20-month war in Sudan has displaced millions. On December 10, drones struck Port Sudan, officials "
     "said on Tuesday."), D(2024, 12, 10)),
    (("Yemen's 10-year civil war flared: the Houthis fired missiles on December 30 and on January 2, "
     "officials said on Thursday."), D(2025, 1, 2)),
])
def test_infer_publication_date(text: str, expected: dt.date) -> None:
    published, reason = infer_publication_date(text)
    assert published == expected, reason
    assert reason


@pytest.mark.parametrize("text", [
    "",
    "Iran has begun the evacuation of its military command.",
    "Rebels captured the city on Friday, officials said yesterday.",       # nothing day-precise
    "On December 6, rebels entered Homs. On Friday they took Hama.",       # no year evidence at all
    "The war began in 2011. On December 6 rebels entered Homs.",           # a historical year is not enough
    "On February 30, 2024, something happened.",                           # impossible date
    "Talks will resume on December 10 in Geneva.",                         # only a forward-looking date
])
def test_infer_publication_date_declines(text: str) -> None:
    published, reason = infer_publication_date(text)
    assert published is None
    assert reason


# --- data ---------------------------------------------------------------------------------------------

def test_time_data_is_well_formed() -> None:
    raw = json.loads((LANGUAGE_DIR / "time.json").read_text("utf-8"))
    for war in raw["wars"]:
        start = D.fromisoformat(war["start"])
        assert war["keywords"] and start.year >= 1900
        assert war["end"] is None or D.fromisoformat(war["end"]) > start
    assert {"Syrian civil war", "Yemeni civil war", "Sudanese civil war"} <= {w["name"] for w in raw["wars"]}
    ukraine = next(w for w in raw["wars"] if "Ukraine" in w["name"] and w["end"] is None)
    assert ukraine["start"] == "2022-02-24"
    for entry in raw["holidays"]["fixed"]:
        assert D(2024, entry["month"], entry["day"])


def test_easter_computus() -> None:
    years = (2024, 2025, 2026)
    assert [when._easter_western(y) for y in years] == [D(2024, 3, 31), D(2025, 4, 20), D(2026, 4, 5)]
    assert [when._easter_orthodox(y) for y in years] == [D(2024, 5, 5), D(2025, 4, 20), D(2026, 4, 12)]
