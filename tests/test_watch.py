"""Watch rules: validation, files, storage, evaluation on new analyses (once per rule and event), the
analyse hook, webhooks with bounded retries against a local server, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidings import service
from tidings.across import link
from tidings.across.watch import (
    WatchRule,
    add_rule,
    after_store,
    alerts,
    deliver,
    evaluate_new,
    list_rules,
    load_rules_file,
    post_webhook,
    remove_rule,
)
from tidings.core.errors import InputError
from tidings.core.records import Actor, Analysis, Document, Event, Place, Source, Span, When
from tidings.store.database import Store

DATA = Path(__file__).parent / "data" / "linking"
SPAN = Span(start=0, end=4, text="text")
KOBANI = Place(geonameid=171451, name="Kobani", country="SY", country3="SYR", lat=36.89, lon=38.35)
ALEPPO = Place(geonameid=170063, name="Aleppo", country="SY", country3="SYR", lat=36.20, lon=37.16,
               admin1_code="SY.09")
DAMASCUS = Place(geonameid=170654, name="Damascus", country="SY", country3="SYR", lat=33.51, lon=36.29)
SYRIA = Place(geonameid=163843, name="Syria", country="SY", country3="SYR", lat=35.0, lon=38.0, feature="country")
GAZETTEER = {p.name: p for p in (KOBANI, ALEPPO, DAMASCUS, SYRIA)}
RUSMIL = Actor(code="RUSMIL", name="Russian troops", country="RUS", sector="MIL")


def resolve(name: str) -> Place | None:
    return GAZETTEER.get(name)


def withdrawal(text: str, outlet: str, speaker: str, *, modality: str = "asserted", place: Place = KOBANI,
               anonymous: bool = False) -> Analysis:
    doc = Document.from_text(text, outlet=outlet, published=dt.date(2024, 12, 11))
    chain = [Source(name=outlet, kind="outlet"), Source(name=speaker, kind="official", anonymous=anonymous)]
    return Analysis(document=doc, events=[Event(
        id=f"{doc.id}-0", doc_id=doc.id, type="RETREAT", mode="withdraw", source_actor=RUSMIL, place=place,
        when=When(start=dt.date(2024, 12, 11), end=dt.date(2024, 12, 11), granularity="day"),
        modality=modality, attribution=chain, evidence={"trigger": SPAN, "sentence": SPAN})])  # type: ignore[arg-type]


K24 = withdrawal("russian troops left kobani, officials said", "Kurdistan24", "local officials", anonymous=True)
SDF = withdrawal("the sdf said russian forces pulled out of kobani", "North Press", "Syrian Democratic Forces")
TASS = withdrawal("moscow denies leaving kobani", "TASS", "Russian Defence Ministry", modality="negated")
RULE = WatchRule(name="russia-out", actor="RUS", type=("RETREAT",), place="Aleppo", radius_km=200, min_sources=2)


@pytest.fixture()
def store(tmp_path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'watch.db'}") as opened:
        yield opened


def _stored(store: Store, *analyses: Analysis) -> list[Analysis]:
    for analysis in analyses:
        store.save(analysis)
    return list(analyses)


# ----------------------------------------------------------------------------------------- rules

def test_rules_are_validated_with_a_hint():
    rule = WatchRule.from_dict({"name": "x", "type": "retreat,assault", "modality": ["Reported"], "radius": 50,
                                "place": "Homs"})
    assert (rule.type, rule.modality, rule.radius_km) == (("RETREAT", "ASSAULT"), ("reported",), 50.0)
    for bad, code in (({"name": "x", "colour": "red"}, "E601"), ({"actor": "IRN"}, "E602"),
                      ({"name": "x", "modality": "rumoured"}, "E603"), ({"name": "x", "radius_km": 5}, "E604")):
        with pytest.raises(InputError) as caught:
            WatchRule.from_dict(bad)
        assert caught.value.code == code and caught.value.hint


def test_rules_from_yaml_and_json_files(tmp_path):
    (tmp_path / "rules.yaml").write_text("rules:\n  - name: iran-out\n    actor: IRN\n    type: [RETREAT]\n"
                                         "    min_sources: 2\n", "utf-8")
    (tmp_path / "rules.json").write_text(json.dumps([{"name": "homs", "place": "Homs"}]), "utf-8")
    assert load_rules_file(tmp_path / "rules.yaml") == [WatchRule(name="iran-out", actor="IRN", type=("RETREAT",),
                                                                  min_sources=2)]
    assert load_rules_file(tmp_path / "rules.json") == [WatchRule(name="homs", place="Homs")]
    (tmp_path / "bad.json").write_text('{"rules": {"name": "x"}}', "utf-8")
    with pytest.raises(InputError):
        load_rules_file(tmp_path / "bad.json")


def test_rules_in_the_store(store):
    add_rule(store, RULE)
    add_rule(store, WatchRule(name="homs", place="Homs"))
    add_rule(store, WatchRule(name="homs", place="Homs", min_sources=3))   # same name: replaced
    assert list_rules(store) == [WatchRule(name="homs", place="Homs", min_sources=3), RULE]
    assert remove_rule(store, "homs") and not remove_rule(store, "homs")
    assert list_rules(store) == [RULE]


def test_event_conditions():
    event = SDF.events[0]
    assert RULE.matches(event, resolve_place := _resolver())
    assert not WatchRule(name="r", place="Damascus", radius_km=100).matches(event, resolve_place)
    assert WatchRule(name="r", place="Syria").matches(event, resolve_place)          # a country contains it
    assert WatchRule(name="r", place="kobani").matches(event, resolve_place)
    assert WatchRule(name="r", country="SY").matches(event, resolve_place)
    assert not WatchRule(name="r", country="IRN").matches(event, resolve_place)
    assert WatchRule(name="r", type=("COERCE",)).matches(event, resolve_place) is False
    assert not RULE.matches(TASS.events[0], resolve_place)                           # denials: not by default
    assert WatchRule(name="r", actor="russian", modality=("negated",)).matches(TASS.events[0], resolve_place)


def _resolver():
    from tidings.across.watch import _PlaceResolver

    return _PlaceResolver(resolve)


# ----------------------------------------------------------------------------------------- evaluation

@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path) -> Iterator[Store]:
    from test_link import database_url

    with Store(database_url(request, tmp_path, request.param)) as opened:
        yield opened


def test_an_alert_waits_for_enough_independent_sources_and_comes_once(any_store):
    store = any_store
    assert evaluate_new(store, _stored(store, K24), [RULE], resolve_place=resolve) == []
    raised = evaluate_new(store, _stored(store, SDF), [RULE], resolve_place=resolve)
    assert [(a.rule, a.independent_sources, a.event_ids) for a in raised] == [
        ("russia-out", 2, [SDF.events[0].id])]
    assert raised[0].summary == "RETREAT: Russian troops in Kobani on 2024-12-11 (2 independent sources)"
    assert raised[0].cluster_id == link.cluster_of(store, K24.events[0].id)
    # The denial joins the cluster but matches nothing; evaluating everything again raises nothing new.
    assert evaluate_new(store, _stored(store, TASS), [RULE], resolve_place=resolve) == []
    assert evaluate_new(store, [K24, SDF, TASS], [RULE], resolve_place=resolve) == []
    assert [a.rule for a in alerts(store)] == ["russia-out"]


def test_a_merge_does_not_alert_twice(any_store):
    store = any_store
    rule = WatchRule(name="any-retreat", type=("RETREAT",))
    day = withdrawal("russians left kobani on wednesday", "AP", "witnesses")
    weekly = Analysis(document=Document.from_text("the week in syria", outlet="AFP",
                                                  published=dt.date(2024, 12, 14)),
                      events=[])
    first = evaluate_new(store, _stored(store, day), [rule], resolve_place=resolve)
    assert len(first) == 1
    # Another outlet's undated report of the same withdrawal joins the same cluster: no second alert.
    event = day.events[0].model_copy(update={"id": f"{weekly.document.id}-0", "doc_id": weekly.document.id,
                                             "when": When(), "attribution": [Source(name="AFP", kind="agency")]})
    again = weekly.model_copy(update={"events": [event]})
    assert evaluate_new(store, _stored(store, again), [rule], resolve_place=resolve) == []
    assert link.cluster_of(store, event.id) == first[0].cluster_id


def test_the_analyse_hook_links_and_alerts(tmp_path, engine, monkeypatch):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"name": "russia-out", "actor": "RUS", "type": "RETREAT", "place": "Aleppo",
                                  "radius_km": 200, "min_sources": 2}]), "utf-8")
    monkeypatch.setenv("TIDINGS_WATCH", str(rules))
    articles = [json.loads(line) for line in (DATA / "articles.jsonl").read_text("utf-8").splitlines()]
    kobani = tmp_path / "kobani.jsonl"
    kobani.write_text("\n".join(json.dumps(a) for a in articles if a["id"].startswith("kobani")), "utf-8")
    db = f"sqlite:///{tmp_path / 'hook.db'}"
    result = service.analyze_paths([kobani], db=db, engine=engine)
    assert result.event_count == 3
    with Store(db) as store:
        raised = alerts(store)
        assert [(a.rule, a.independent_sources) for a in raised] == [("russia-out", 2)]
        assert link.cluster(store, raised[0].cluster_id).size == 3
    service.analyze_paths([kobani], db=db, engine=engine)    # the same input again: nothing new
    with Store(db) as store:
        assert len(alerts(store)) == 1


def test_the_hook_prints_new_alerts(store):
    add_rule(store, WatchRule(name="kobani", place="Kobani"))
    printed = []
    assert after_store(store, _stored(store, K24), notify=printed.append) == printed
    assert [a.rule for a in printed] == ["kobani"]
    assert after_store(store, [], notify=printed.append) == []


# ----------------------------------------------------------------------------------------- webhooks

class _Hook(BaseHTTPRequestHandler):
    """Answers with the next status of the server's script; remembers every body it got."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append(json.loads(body))  # type: ignore[attr-defined]
        status, delay = self.server.script.pop(0) if self.server.script else (200, 0)  # type: ignore[attr-defined]
        time.sleep(delay)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def hook_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadingHTTPServer]:
    """A webhook receiver on 127.0.0.1 for the length of one test (loopback allowed on purpose: webhooks go
    through the outbound policy, which refuses it by default)."""
    monkeypatch.setenv("TIDINGS_ALLOW_NETWORKS", "127.0.0.0/8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    server.script, server.bodies = [], []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/hook"


def test_webhook_retries_with_exponential_backoff(hook_server):
    hook_server.script[:] = [(503, 0), (429, 0)]
    result = post_webhook(_url(hook_server), {"hello": 1}, retries=3, backoff=0.01)
    assert (result.ok, result.attempts, result.waited) == (True, 3, [0.01, 0.02])
    assert hook_server.bodies == [{"hello": 1}] * 3


def test_webhook_gives_up_and_does_not_retry_client_errors(hook_server):
    hook_server.script[:] = [(500, 0)] * 5
    result = post_webhook(_url(hook_server), {}, retries=2, backoff=0.01, max_backoff=0.015)
    assert (result.ok, result.attempts, result.error, result.waited) == (False, 3, "HTTP 500", [0.01, 0.015])
    hook_server.script[:] = [(404, 0)]
    assert post_webhook(_url(hook_server), {}, retries=2, backoff=0.01).attempts == 1


def test_webhook_timeout_and_refused_connection_are_bounded(hook_server):
    hook_server.script[:] = [(200, 1.0), (200, 1.0)]
    started = time.monotonic()
    result = post_webhook(_url(hook_server), {}, retries=1, backoff=0.01, timeout=0.2)
    assert not result.ok and result.attempts == 2 and time.monotonic() - started < 3
    port = hook_server.server_address[1]
    hook_server.shutdown()
    hook_server.server_close()
    refused = post_webhook(f"http://127.0.0.1:{port}/hook", {}, retries=1, backoff=0.01, timeout=1)
    assert not refused.ok and refused.attempts == 2


def test_alerts_are_delivered_and_the_outcome_recorded(any_store, hook_server):
    store = any_store
    rule = WatchRule(name="kobani", place="Kobani", webhook=_url(hook_server))
    hook_server.script[:] = [(502, 0)]
    sent = deliver(store, evaluate_new(store, _stored(store, K24), [rule], resolve_place=resolve), backoff=0.01)
    assert [(a.delivered, a.attempts, a.last_error) for a in sent] == [(True, 2, None)]
    assert hook_server.bodies[-1]["alert"]["rule"] == "kobani"
    (stored,) = alerts(store)
    assert stored.delivered and stored.attempts == 2


# ----------------------------------------------------------------------------------------- CLI

def test_cli_watch_and_alerts(store):
    from tidings.cli.main import app

    runner = CliRunner()
    db = ["--db", store.url]
    result = runner.invoke(app, ["watch", "add", "--name", "russia-out", "--actor", "RUS", "--type", "RETREAT",
                                 "--place", "Kobani", "--modality", "asserted", "--min-sources", "2", *db])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["watch", "list", "--format", "json", *db])
    assert json.loads(result.stdout) == [{"name": "russia-out", "actor": "RUS", "type": ["RETREAT"],
                                          "place": "Kobani", "modality": ["asserted"], "min_sources": 2}]
    _stored(store, K24, SDF)
    result = runner.invoke(app, ["watch", "check", *db])
    assert result.exit_code == 0 and "alert [russia-out] RETREAT: Russian troops in Kobani" in result.stdout
    result = runner.invoke(app, ["alerts", "--format", "json", *db])
    assert [a["rule"] for a in json.loads(result.stdout)] == ["russia-out"]
    result = runner.invoke(app, ["watch", "check", *db])
    assert "0 new alert(s)" in result.output
    assert runner.invoke(app, ["watch", "remove", "russia-out", *db]).exit_code == 0
    assert runner.invoke(app, ["watch", "remove", "russia-out", *db]).exit_code == 1
    bad = runner.invoke(app, ["watch", "add", "--name", "x", "--radius-km", "5", *db])
    assert bad.exit_code != 0 and "E604" in bad.output


def test_cli_alerts_table_says_queued_and_prints_names_literally(store):
    """Rule names are printed as written (not rich markup); a webhook's state is said in words."""
    from tidings.cli.main import app

    runner = CliRunner()
    db = ["--db", store.url]
    result = runner.invoke(app, ["watch", "add", "--name", "[bold]ru[/bold]", "--actor", "RUS", "--type", "RETREAT",
                                 "--place", "Kobani", "--min-sources", "2", "--webhook", "https://example.org/hook",
                                 *db])
    assert result.exit_code == 0 and "watching [bold]ru[/bold]" in result.output, result.output
    _stored(store, K24, SDF)
    assert runner.invoke(app, ["watch", "check", *db]).exit_code == 0
    result = runner.invoke(app, ["alerts", *db])
    assert result.exit_code == 0, result.output
    assert "[bold]ru[/bold]" in result.output
    assert any(word in result.output for word in ("queued", "retrying (", "failed (", "delivered"))


def test_delivery_state_words():
    from types import SimpleNamespace

    from tidings.cli.link import _delivery

    def alert(**kw):
        return SimpleNamespace(**{"webhook": "https://example.org/h", "delivered": False, "last_error": None, **kw})

    assert _delivery(alert(webhook=None)) == ""
    assert _delivery(alert(delivered=True)) == "delivered"
    assert _delivery(alert()) == "queued" and _delivery(alert(last_error="queued")) == "queued"
    assert _delivery(alert(last_error="retry 2026-12-02T10:00:00Z after attempt 1: E112")).startswith("retrying (")
    assert _delivery(alert(last_error="gave up after 8 attempt(s): E112")).startswith("failed (")
