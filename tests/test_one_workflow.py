"""One ingest workflow (issue 15): ``tidings analyze`` and ``tidings batch`` (and feeds and the API, which
call the same :func:`tidings.service.ingest`) store, link and raise alerts alike, and a coding crash is E401
whichever runner met it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from test_scale import TEXTS
from tidings import service
from tidings.across import link, watch
from tidings.core.records import Document
from tidings.scale import _code_safely, analyze_safely, run_batch
from tidings.store.database import Store

RULES = [watch.WatchRule(name="any-assault", type=("ASSAULT",)), watch.WatchRule(name="syria", country="SYR")]


@pytest.fixture()
def corpus(tmp_path: Path, sample_text: str) -> Path:
    folder = tmp_path / "texts"
    folder.mkdir()
    for i, text in enumerate([sample_text, *TEXTS]):
        (folder / f"{i:02d}.txt").write_text(text, "utf-8")
    return folder


def _new_store(url: str) -> None:
    with Store(url) as store:
        for rule in RULES:
            watch.add_rule(store, rule)


def _across(url: str) -> tuple[Any, ...]:
    """Clusters (as sets of member events) and alerts (rule, cluster members) of a store."""
    with Store(url) as store:
        found = link.clusters(store, limit=None, with_members=True)
        members = {c.id: frozenset(m.event_id for m in c.members) for c in found}
        alerts = sorted((a.rule, tuple(sorted(members.get(a.cluster_id, ())))) for a in watch.alerts(store, limit=1000))
        return sorted(tuple(sorted(m)) for m in members.values()), alerts


def test_batch_links_and_raises_alerts_like_analyze(corpus: Path, tmp_path: Path, engine: Any, capsys) -> None:
    by_analyze, by_batch = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    _new_store(by_analyze)
    _new_store(by_batch)
    result = service.analyze_paths([corpus], db=by_analyze, engine=engine, deliver_for=0, published="2024-12-07")
    assert not result.failures
    for path in corpus.iterdir():   # batch reads the same documents (the date as the analyze option gives it)
        path.with_suffix(".jsonl").write_text(json.dumps({"text": path.read_text("utf-8"), "published": "2024-12-07",
                                                          "path": str(path)}) + "\n", "utf-8")
        path.unlink()
    stats = run_batch([corpus], [by_batch], local_engine=engine, flush_every=4)
    assert stats.done == len(result.analyses) and stats.failed == 0
    clusters_a, alerts_a = _across(by_analyze)
    clusters_b, alerts_b = _across(by_batch)
    assert clusters_a and alerts_a, "the corpus must give clusters and alerts for the comparison to mean anything"
    assert {rule for rule, _ in alerts_b} == {r.name for r in RULES}
    assert clusters_b == clusters_a
    assert alerts_b == alerts_a


class _Crashing:
    """An engine whose coding raises on one document (a bug in a stage)."""

    def __init__(self, engine: Any, poison: str) -> None:
        self._engine, self._poison = engine, poison
        self.settings = engine.settings

    def analyze_many(self, documents: list[Document], **kwargs: Any) -> Any:
        for document in documents:
            if self._poison in document.text:
                raise RuntimeError("a bug in a stage")
        return self._engine.analyze_many(documents, **kwargs)

    def analyze(self, document: Document) -> Any:
        return next(iter(self.analyze_many([document])))

    def code(self, document: Document, parsed: Any) -> Any:
        raise RuntimeError("a bug in a stage")


def test_a_coding_crash_is_e401_in_every_runner(engine: Any, tmp_path: Path) -> None:
    docs = [Document.from_text(TEXTS[0]), Document.from_text(TEXTS[1])]
    crashing = _Crashing(engine, TEXTS[1][:30])
    one_process = analyze_safely(crashing, docs)          # tidings batch, one worker (and Ray actors)
    workers = _code_safely(crashing, docs[1], None)      # tidings batch --workers N: coding in the driver
    analyze = list(service.analyze_isolated(crashing, docs))   # tidings analyze, the API, feeds
    for crashed in (one_process[1], workers, analyze[1]):
        failure = service.coding_failure(crashed)
        assert failure is not None and failure.code == "E401", crashed
    assert service.coding_failure(one_process[0]) is None and one_process[0].events

    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Store(url) as store:
        report = service.record(store, one_process)
        assert [o.stored for o in report.outcomes] == [True, True]     # stored, the crashed one without events
        assert [f.code for f in report.failures] == ["E401"]
        assert [row["code"] for row in store.errors(10)] == ["E401"]
