"""The temporal knowledge graph: relations over time, control of places, what never makes an edge, exports."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import networkx as nx
import pytest
from typer.testing import CliRunner

from tidings.across import link
from tidings.across.graph import build_graph
from tidings.core.records import Actor, Analysis, Document, Event, Place, Source, Span, When
from tidings.store.database import Store

SPAN = Span(start=0, end=4, text="text")
D = dt.date(2024, 12, 1)
ACTORS = {
    "SYRREB": Actor(code="SYRREB", name="rebels", country="SYR", sector="REB"),
    "SYRREBHTS": Actor(code="SYRREBHTS", name="Hayat Tahrir al-Sham", country="SYR", sector="REB"),
    "SYRMIL": Actor(code="SYRMIL", name="Syrian army", country="SYR", sector="MIL"),
    "SYRGOV": Actor(code="SYRGOV", name="Syrian government", country="SYR", sector="GOV"),
    "IRN": Actor(code="IRN", name="Iran", country="IRN", kind="state"),
    "RUS": Actor(code="RUS", name="Russia", country="RUS", kind="state"),
    "SYR": Actor(code="SYR", name="Syria", country="SYR", kind="state"),
}
PLACES = {
    "Homs": Place(geonameid=169577, name="Homs", country="SY", country3="SYR", lat=34.73, lon=36.71),
    "Aleppo": Place(geonameid=170063, name="Aleppo", country="SY", country3="SYR", lat=36.20, lon=37.16),
    "Kobani": Place(geonameid=171451, name="Kobani", country="SY", country3="SYR", lat=36.89, lon=38.35),
}


def event(doc: str, n: int, type_: str, source: str, target: str | None = None, place: str | None = None,
          day: int | None = 0, modality: str = "asserted", cameo: str | None = None) -> Event:
    when = When() if day is None else When(start=D + dt.timedelta(days=day), end=D + dt.timedelta(days=day),
                                           granularity="day")
    return Event(id=f"{doc}-{n}", doc_id=doc, type=type_, cameo=cameo, source_actor=ACTORS[source],
                 target_actor=ACTORS[target] if target else None, place=PLACES[place] if place else None,
                 when=when, modality=modality, attribution=[Source(name="BBC", kind="outlet")],  # type: ignore[arg-type]
                 evidence={"trigger": SPAN, "sentence": SPAN})


def report(text: str, published_day: int, *specs: tuple[Any, ...], outlet: str = "BBC") -> Analysis:
    doc = Document.from_text(text, outlet=outlet, published=D + dt.timedelta(days=published_day))
    return Analysis(document=doc, events=[event(doc.id, n, *spec) for n, spec in enumerate(specs)])


CAPTURE = "192"
STORIES = [
    report("rebels take homs", 1, ("ASSAULT", "SYRREB", "SYR", "Homs", 0, "asserted", CAPTURE)),
    report("army retakes homs", 11, ("ASSAULT", "SYRMIL", "SYRREB", "Homs", 10, "reported", CAPTURE)),
    report("hts captures homs", 21, ("ASSAULT", "SYRREBHTS", "SYRMIL", "Homs", 20, "asserted", CAPTURE)),
    report("hts holds homs, rebels say", 25, ("ASSAULT", "SYRREB", "SYRMIL", "Homs", 24, "asserted", CAPTURE)),
    report("army takes aleppo then leaves", 6, ("ASSAULT", "SYRMIL", None, "Aleppo", 1, "asserted", CAPTURE),
           ("RETREAT", "SYRMIL", None, "Aleppo", 5)),
    report("iran and syria, friends then not", 20, ("SUPPORT", "IRN", "SYRGOV", None, 2),
           ("ACCUSE", "IRN", "SYRGOV", None, 15), ("AID", "IRN", "SYRGOV", None, None, "historical"),
           ("COOPERATE", "IRN", "SYRGOV", None, -3000, "historical")),
    report("things that did not happen", 9, ("RETREAT", "RUS", None, "Kobani", 8, "negated"),
           ("AGREE", "RUS", "IRN", None, 30, "future"), ("ASSAULT", "RUS", "SYRREB", None, 9, "negated")),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """The stories, stored and linked, on both backends (PostgreSQL when a test server is set)."""
    from test_link import database_url

    with Store(database_url(request, tmp_path, request.param)) as opened:
        opened.save_many(STORIES)
        link.link_pending(opened)
        yield opened


def test_control_of_a_place_over_time(store):
    history = build_graph(store).control_history("Homs")
    assert [(c.actor, c.start, c.end, c.ended_by) for c in history] == [
        ("SYRREB", D, D + dt.timedelta(days=10), "capture"),
        ("SYRMIL", D + dt.timedelta(days=10), D + dt.timedelta(days=20), "capture"),
        ("SYRREBHTS", D + dt.timedelta(days=20), None, None),   # a later SYRREB capture extends, not ends
    ]
    assert len(history[-1].events) == 2


def test_a_retreat_ends_control(store):
    aleppo = build_graph(store).control_history("Aleppo")
    assert [(c.actor, c.start, c.end, c.ended_by) for c in aleppo] == [
        ("SYRMIL", D + dt.timedelta(days=1), D + dt.timedelta(days=5), "retreat")]


def test_relations_as_of_a_date(store):
    kg = build_graph(store)
    early = kg.relations("IRN", as_of=D + dt.timedelta(days=10))
    assert {(r.counterpart, r.relation) for r in early} == {("SYRGOV", "cooperation")}
    later = kg.relations("IRN", as_of=D + dt.timedelta(days=16))
    assert {(r.counterpart, r.relation) for r in later} == {("SYRGOV", "cooperation"), ("SYRGOV", "hostility")}
    known = kg.relations("IRN")   # the undated history counts from the day it was published (day 20)
    assert next((r.relation, r.last) for r in known) == ("aid", D + dt.timedelta(days=20))
    assert kg.relations("IRN", as_of=D + dt.timedelta(days=16), known_by=D + dt.timedelta(days=16)) == []
    rebels = kg.relations("SYRREB", as_of=D + dt.timedelta(days=15))
    assert {(r.counterpart, r.relation, r.active) for r in rebels if r.relation == "controls"} == {
        ("place:169577", "controls", False)}   # lost Homs on day 10


def test_how_a_pair_relation_changed(store):
    steps = build_graph(store).relation_history("IRN", "SYRGOV")
    assert [(s.date, s.relation, s.changed) for s in steps] == [
        (D - dt.timedelta(days=3000), "cooperation", False),      # history with its own date
        (D + dt.timedelta(days=2), "cooperation", False),
        (D + dt.timedelta(days=15), "hostility", True),
        (D + dt.timedelta(days=20), "aid", True),                 # undated history: known by publication
    ]
    window = build_graph(store).relation_history("IRN", "SYRGOV", start=D, end=D + dt.timedelta(days=16))
    assert [s.relation for s in window] == ["cooperation", "hostility"]


def test_negated_and_future_events_make_no_edges(store):
    kg = build_graph(store)
    assert kg.relations("RUS") == []
    assert kg.control_history("Kobani") == []
    historical = [d for _, _, d in kg.graph.edges(data=True) if d["historical"]]
    assert len(historical) == 2


def test_reports_of_one_event_are_one_edge(tmp_path):
    one = report("first report", 1, ("ASSAULT", "SYRREB", "SYRMIL", "Homs", 0))
    two = report("second report", 1, ("ASSAULT", "SYRREB", "SYRMIL", "Homs", 0), outlet="AP")
    with Store(f"sqlite:///{tmp_path / 'one.db'}") as store:
        store.save_many([one, two])
        unlinked = build_graph(store)
        link.link_pending(store)
        linked = build_graph(store)
    assert unlinked.graph.number_of_edges() == 2
    assert linked.graph.number_of_edges() == 1
    (_, _, data), = linked.graph.edges(data=True)
    assert data["events"] == sorted([one.events[0].id, two.events[0].id]) and data["cluster"]


def test_an_actor_graph_keeps_complete_control_histories(store):
    kg = build_graph(store, actor="SYRMIL")
    assert [c.actor for c in kg.control_history("Homs")] == ["SYRREB", "SYRMIL", "SYRREBHTS"]
    assert "IRN" not in kg.graph


def test_exports_round_trip(store, tmp_path):
    kg = build_graph(store)
    kg.export("graphml", tmp_path / "g.graphml")
    back = nx.read_graphml(tmp_path / "g.graphml", force_multigraph=True)
    assert back.number_of_nodes() == kg.graph.number_of_nodes()
    assert back.number_of_edges() == kg.graph.number_of_edges()
    kg.subgraph("IRN").export("json", tmp_path / "g.json")
    data = json.loads((tmp_path / "g.json").read_text())
    assert {n["id"] for n in data["nodes"]} == {"IRN", "SYRGOV"}
    assert {e["relation"] for e in data["edges"]} == {"cooperation", "aid", "hostility"}
    with pytest.raises(ValueError):
        kg.export("dot", tmp_path / "g.dot")


def test_the_sample_article(tmp_path, sample_analysis):
    with Store(f"sqlite:///{tmp_path / 'sample.db'}") as store:
        store.save(sample_analysis)
        kg = build_graph(store)
    controls = {r.counterpart_name: r.first for r in kg.relations("SYRREB") if r.relation == "controls"}
    assert controls["Homs"] == controls["Deir ez-Zor"] == dt.date(2024, 12, 6)
    assert {"Aleppo", "Hama"} <= set(controls)
    edges = [d for _, _, d in kg.graph.edges(data=True)]
    assert all(d["modality"] not in ("negated", "future") for d in edges)
    support = [d for u, v, d in kg.graph.edges(data=True) if u == "IRN" and v == "SYRGOV"]
    assert support and support[0]["historical"] and support[0]["start"] is None


def test_cli_graph_and_timeline(tmp_path):
    from tidings.cli.main import app

    with Store(f"sqlite:///{tmp_path / 'cli.db'}") as store:
        store.save_many(STORIES)
    runner = CliRunner()
    out = tmp_path / "irn.graphml"
    # Iran's quarrel with Damascus happened on day 15 but was first reported on day 20: unknown on day 16
    result = runner.invoke(app, ["graph", "IRN", "--db", store.url, "--as-of", "2024-12-16"])
    assert result.exit_code == 0, result.output
    assert "hostility" not in result.output
    result = runner.invoke(app, ["graph", "IRN", "--db", store.url, "--as-of", "2024-12-21",
                                 "--export", "graphml", str(out)])
    assert result.exit_code == 0, result.output
    assert "hostility" in result.output and out.exists()
    result = runner.invoke(app, ["timeline", "Homs", "--db", store.url])
    assert result.exit_code == 0, result.output
    assert "controlled by Syrian army [SYRMIL] from 2024-12-11 until 2024-12-21 (capture)" in result.output
    result = runner.invoke(app, ["timeline", "Homs", "--db", store.url, "--format", "json"])
    assert [c["actor"] for c in json.loads(result.stdout)["control"]] == ["SYRREB", "SYRMIL", "SYRREBHTS"]
