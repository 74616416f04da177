"""Casualty figures as event data (``tidings.stages.casualties``): the must / must-not cases of
``tests/data/casualty_cases.jsonl`` (made-up wire sentences from many regions, matching rules in
``casualty_support.py``), the records, the store (both backends), the filters and the exports; and the
rejection of publication dates inferred after the ingest day."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tidings.store.database as store_module
from casualty_support import case_failures, figures, load_cases
from tidings.core.records import Analysis, Casualty, Document, Event, Place, Source, Span, When
from tidings.stages.components import FUTURE_PUBLICATION
from tidings.stages.components import with_publication_date as _with_publication_date
from tidings.store.database import SCHEMA_VERSION, Store
from tidings.store.export import acled_row, export_events, flat_event

CASES = load_cases()
#: Cases the stage does not get right yet (strict xfail: one that starts passing must be taken off).
KNOWN: set[str] = set()
MIN_PASS_RATE = 0.9


@pytest.fixture(scope="module")
def analysed(engine: Any) -> dict[str, Analysis]:
    return {c["id"]: engine.analyze(c["text"], published=c.get("published", "2024-05-02")) for c in CASES}


def _params() -> list[Any]:
    strict = [pytest.mark.xfail(strict=True, reason="known failure")]
    return [pytest.param(c, id=c["id"], marks=strict if c["id"] in KNOWN else []) for c in CASES]


@pytest.mark.parametrize("case", _params())
def test_case(case: dict[str, Any], analysed: dict[str, Analysis]) -> None:
    found = figures(analysed[case["id"]].events)
    assert not case_failures(case, found), [(f["kind"], f["low"], f["high"], f["span"]["text"]) for f in found]


def test_cases_cover_every_form_and_pass_rate(analysed: dict[str, Analysis]) -> None:
    musts = [item for c in CASES for item in c["must"]]
    assert {item["kind"] for item in musts if "kind" in item} == {"killed", "injured", "missing", "arrested"}
    assert {item["qualifier"] for item in musts if "qualifier" in item} >= {
        "exact", "at_least", "more_than", "approximately", "up_to", "range", "vague"}
    assert sum(1 for c in CASES if c["must_not"]) >= 12 and len(CASES) >= 25
    passed = sum(not case_failures(c, figures(analysed[c["id"]].events)) for c in CASES)
    assert passed / len(CASES) >= MIN_PASS_RATE


def test_evidence_spans_point_into_the_text(analysed: dict[str, Analysis]) -> None:
    seen = 0
    for case in CASES:
        analysis = analysed[case["id"]]
        for event in analysis.events:
            for casualty in event.casualties:
                assert analysis.document.text[casualty.span.start:casualty.span.end] == casualty.span.text
                sentence = event.evidence["sentence"]
                assert sentence.start <= casualty.span.start < casualty.span.end <= sentence.end
                seen += 1
    assert seen >= 25


def test_figure_says_who_says_so(analysed: dict[str, Analysis]) -> None:
    event = next(e for e in analysed["som-bomb-at-least"].events if e.casualties)
    assert event.casualties[0].source == event.attribution[-1].name
    assert event.fatalities == 12


# ------------------------------------------------------------------------------------------- records

def _span(text: str, start: int = 0) -> Span:
    return Span(start=start, end=start + len(text), text=text)


def _casualty(kind: str, low: int | None, high: int | None = None, **fields: Any) -> Casualty:
    return Casualty(kind=kind, low=low, high=high, span=_span(f"{low} {kind}"), **fields)  # type: ignore[arg-type]


def _event(doc_id: str, n: int, casualties: list[Casualty]) -> Event:
    return Event(id=f"{doc_id}-e{n}", doc_id=doc_id, type="ASSAULT", sentence=n, coder="tidings@test",
                 when=When(start=dt.date(2024, 5, n + 1), end=dt.date(2024, 5, n + 1), granularity="day"),
                 place=Place(name="Homs", country="SY", country3="SYR", lat=34.73, lon=36.72),
                 attribution=[Source(name="Reuters", kind="agency"), Source(name="police", kind="official")],
                 evidence={"trigger": _span("killed", 10), "sentence": _span("Gunmen in Homs killed them.")},
                 casualties=casualties)


def test_fatalities_is_the_largest_floor_without_background() -> None:
    assert _event("d", 0, []).fatalities is None
    event = _event("d", 0, [_casualty("killed", 12), _casualty("killed", 15, 15),
                            _casualty("killed", 500000, background=True), _casualty("injured", 40, 40)])
    assert event.fatalities == 15 and event.count("injured") == 40 and event.count("missing") is None
    assert _event("d", 0, [_casualty("killed", None, 30, qualifier="up_to")]).fatalities == 30
    assert _event("d", 0, [_casualty("killed", 9, background=True)]).fatalities is None


def _analysis(figures_per_event: list[list[Casualty]]) -> Analysis:
    text = "Gunmen in Homs killed them. " * len(figures_per_event)
    doc = Document.from_text(text, published=dt.date(2024, 5, 9))
    return Analysis(document=doc, events=[_event(doc.id, n, c) for n, c in enumerate(figures_per_event)])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_schema_url"))
    return f"sqlite:///{tmp_path / 'events.db'}"


def test_store_round_trip_and_min_fatalities(db_url: str) -> None:
    analysis = _analysis([[_casualty("killed", 12), _casualty("injured", 3, 3)], [], [_casualty("killed", 2, 2)],
                          [_casualty("killed", 900, background=True)]])
    with Store(db_url) as store:
        store.save(analysis)
        assert store.event(analysis.events[0].id) == analysis.events[0]          # figures kept whole
        assert {e.id for e in store.events(min_fatalities=10)} == {analysis.events[0].id}
        assert {e.id for e in store.events(min_fatalities=1)} == {analysis.events[0].id, analysis.events[2].id}
        assert store.count_events(min_fatalities=0) == 2                         # a known figure, any size
        assert store.count_events(min_fatalities=10, type="ASSAULT") == 1
        assert store.count_events() == 4


def test_schema_2_database_gains_the_fatalities_column(db_url: str) -> None:
    with Store(db_url) as store:
        store.save(_analysis([[]]))
    engine = sa.create_engine(store_module.database_url(db_url))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_events_fatalities")
        for name in ("ix_events_place_groups", "ix_events_date_groups"):   # schema 4's, over fatalities
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("ALTER TABLE events DROP COLUMN fatalities")
        conn.exec_driver_sql("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with engine.connect() as conn:
        assert "fatalities" not in {c["name"] for c in sa.inspect(conn).get_columns("events")}
    engine.dispose()
    with Store(db_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.count_events() == 1 and store.count_events(min_fatalities=0) == 0
        store.save(_analysis([[_casualty("killed", 7, 7)]]))
        assert store.count_events(min_fatalities=7) == 1


def test_exports_carry_the_figures(tmp_path: Path) -> None:
    event = _analysis([[_casualty("killed", 12, source="police"), _casualty("missing", 4, 4)]]).events[0]
    row = flat_event(event)
    assert (row["fatalities"], row["injured"], row["missing"]) == (12, None, 4)
    assert row["casualties"][0].startswith("killed ≥12 (police)")
    out = io.StringIO()
    export_events([event], "csv", out)
    line = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert line["fatalities"] == "12" and "missing 4" in line["casualties"]
    geo = io.StringIO()
    export_events([event], "geojson", geo)
    assert json.loads(geo.getvalue())["features"][0]["properties"]["fatalities"] == 12
    pq = pytest.importorskip("pyarrow.parquet")
    export_events([event], "parquet", tmp_path / "e.parquet")
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.column("fatalities").to_pylist() == [12]
    acled = acled_row(event)
    assert acled is not None and acled["fatalities"] == 12
    quiet = acled_row(_analysis([[]]).events[0])
    assert quiet is not None and quiet["fatalities"] is None                  # none reported: not invented


# ------------------------------------------------------------------------- publication dates (item 8)

FUTURE_TEXT = ("Rebels attacked an army post near the border on Friday, January 4, 2030, officials said. "
               "The army said on Saturday it had pushed them back.")


def test_inferred_publication_date_after_ingest_day_is_rejected() -> None:
    document = Document.from_text(FUTURE_TEXT)
    kept, note = _with_publication_date(document, today=dt.date(2025, 6, 1))
    assert kept.published is None and not kept.published_inferred
    assert note is not None and note.startswith(FUTURE_PUBLICATION) and "2030-01-0" in note
    accepted, note = _with_publication_date(document, today=dt.date(2030, 1, 10))
    assert accepted.published is not None and accepted.published.year == 2030 and accepted.published_inferred
    assert note is not None and not note.startswith(FUTURE_PUBLICATION)


def test_engine_never_anchors_events_to_a_future_inferred_date(engine: Any) -> None:
    analysis = engine.analyze(FUTURE_TEXT)   # ingested today, years before 2030
    assert analysis.document.published is None
    assert any(w.startswith(FUTURE_PUBLICATION) for w in analysis.warnings)
    today = dt.date.today()
    for event in analysis.events:
        if event.when.anchor in ("published", "inferred"):
            assert event.when.start is None or event.when.start <= today


# ------------------------------------------------------------------------------------------- faces

def test_cli_filter_table_and_show(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tidings.cli.main import app

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    analysis = _analysis([[_casualty("killed", 12, source="police")], [_casualty("injured", 3, 3)]])
    with Store(db) as store:
        store.save(analysis)
    runner = CliRunner()
    found = runner.invoke(app, ["events", "--db", db, "--min-fatalities", "10", "--format", "jsonl"])
    assert found.exit_code == 0, found.output
    rows = [json.loads(line) for line in found.output.splitlines()]
    assert [r["id"] for r in rows] == [analysis.events[0].id] and rows[0]["casualties"][0]["low"] == 12
    table = runner.invoke(app, ["events", "--db", db], env={"COLUMNS": "200"})
    assert "killed" in table.output and " 12 " in table.output
    shown = runner.invoke(app, ["show", analysis.events[0].id, "--db", db], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "casualties: killed ≥12 (police)" in shown.output
    refused = runner.invoke(app, ["events", "--db", db, "--min-fatalities", "-1"])
    assert refused.exit_code != 0


def test_api_filter_and_detail(tmp_path: Path) -> None:
    pytest.importorskip("httpx", reason="TestClient needs httpx: pip install 'tidings[server]'")
    from fastapi.testclient import TestClient

    from tidings.api.app import create_app

    db = f"sqlite:///{tmp_path / 'api.db'}"
    analysis = _analysis([[_casualty("killed", 12, source="police")], []])
    with Store(db) as store:
        store.save(analysis)
    with TestClient(create_app(db, engine_factory=lambda: None)) as api:   # no engine: read-only routes
        page = api.get("/api/events", params={"min_fatalities": 5}).json()
        assert [e["id"] for e in page["events"]] == [analysis.events[0].id] and page["total"] == 1
        assert api.get("/api/events", params={"min_fatalities": -1}).status_code == 422
        flat = api.get("/api/events", params={"shape": "flat"}).json()["events"]
        assert sorted(r["fatalities"] or 0 for r in flat) == [0, 12]
        detail = api.get(f"/api/events/{analysis.events[0].id}").json()
        assert detail["fatalities"] == 12
        assert [e["text"] for e in detail["evidence"] if e["role"] == "casualties"] == ["12 killed"]
