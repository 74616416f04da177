"""Batch runs: inputs, outputs (store and Parquet), resuming, and the same events from every engine.

The Ray test (slow) starts a local Ray with 2 workers; it is skipped, saying why, when Ray is not installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from test_feeds import STORIES
from tidings.core.errors import InputError
from tidings.scale import BatchStats, run_batch
from tidings.store.database import Store

TEXTS = [body for _, _, body in STORIES.values()] + [
    "Russian forces shelled Kharkiv overnight, killing two civilians, the regional governor said on Monday.",
    ("Protesters gathered outside parliament in Tbilisi on Sunday, and police used water cannon to disperse "
     "them, the interior ministry said."),
    "The United States imposed sanctions on three Iranian companies on Tuesday, the Treasury said.",
    "Israel and Hezbollah agreed to a ceasefire on Wednesday after weeks of fighting, officials said.",
    "Turkish drones struck Kurdish positions in northern Iraq on Thursday, Turkey's defence ministry said.",
]


@pytest.fixture()
def corpus(tmp_path: Path, sample_text: str) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [{"text": t, "published": "2024-12-07", "outlet": "Wire", "url": f"https://wire.example/{i}"}
            for i, t in enumerate([sample_text, *TEXTS])]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n", "utf-8")
    return path


def events_by_doc(db: str) -> dict[str, Any]:
    with Store(db) as store:
        return {d.id: store.analysis(d.id) for d in store.documents(limit=1000)}


def parquet_events(directory: Path) -> list[dict[str, Any]]:
    rows = pq.read_table(directory / "events").to_pylist()
    return sorted(rows, key=lambda r: r["id"])


def test_local_batch_writes_the_store_and_parquet(corpus: Path, tmp_path: Path, engine: Any) -> None:
    db, out = f"sqlite:///{tmp_path / 'b.db'}", tmp_path / "parquet"
    stats = run_batch([corpus], [db, str(out)], local_engine=engine, flush_every=3)
    assert (stats.read, stats.done, stats.failed, stats.skipped) == (10, 9, 1, 0)
    analyses = events_by_doc(db)
    assert len(analyses) == 9 and stats.events == sum(len(a.events) for a in analyses.values()) > 0
    rows = parquet_events(out)
    assert sorted(e.id for a in analyses.values() for e in a.events) == [r["id"] for r in rows]
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(i for m in manifest for i in m["documents"]) == sorted(analyses)
    assert len(pq.read_table(out / "documents")) == 9
    [error] = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert error["code"] == "E109" and error["ref"].endswith("corpus.jsonl:10")
    with Store(db) as store:
        assert [e["code"] for e in store.errors()] == ["E109"]


def test_an_interrupted_batch_resumes_without_redoing_or_duplicating(corpus: Path, tmp_path: Path,
                                                                     engine: Any) -> None:
    db, out = f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "parquet"

    def interrupt(stats: BatchStats) -> None:
        if stats.done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch([corpus], [db, str(out)], local_engine=engine, flush_every=3, on_progress=interrupt)
    assert len(events_by_doc(db)) == 3
    resumed = run_batch([corpus], [db, str(out)], local_engine=engine, flush_every=3)
    assert (resumed.skipped, resumed.done) == (3, 6)
    again = run_batch([corpus], [db, str(out)], local_engine=engine)
    assert (again.skipped, again.done) == (9, 0)

    analyses = events_by_doc(db)
    ids = [r["id"] for r in parquet_events(out)]
    assert len(ids) == len(set(ids)) == sum(len(a.events) for a in analyses.values())
    assert len(pq.read_table(out / "documents")) == 9


def test_a_document_missing_from_one_output_is_redone_for_it(corpus: Path, tmp_path: Path, engine: Any) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    run_batch([corpus], [db], local_engine=engine)
    stats = run_batch([corpus], [db, str(tmp_path / "new-parquet")], local_engine=engine)
    assert stats.done == 9 and stats.skipped == 0
    assert len(events_by_doc(db)) == 9                                  # saved again, not twice


def test_parquet_and_directory_inputs(tmp_path: Path, engine: Any) -> None:
    import pyarrow as pa

    pq.write_table(pa.table({"text": TEXTS[:3], "title": ["a", "b", "c"], "published": ["2024-12-07"] * 3}),
                   tmp_path / "in.parquet")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "one.txt").write_text(TEXTS[3], "utf-8")
    (folder / "two.html").write_text(f"<html><body><article><p>{TEXTS[4]}</p></article></body></html>", "utf-8")
    pq.write_table(pa.table({"body": ["no text column"]}), folder / "bad.parquet")
    db = f"sqlite:///{tmp_path / 'p.db'}"
    stats = run_batch([tmp_path / "in.parquet", folder], [db], local_engine=engine)
    assert (stats.done, stats.failed) == (5, 1)
    with Store(db) as store:
        kinds = sorted(d.source_kind for d in store.documents())
        assert kinds == ["html", "parquet", "parquet", "parquet", "text"]
        assert store.errors()[0]["code"] == "E109"


def test_ray_engine_without_ray_names_the_extra(corpus: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError) as err:
        run_batch([corpus], [str(tmp_path / "out")], engine="ray")
    assert err.value.code == "E312" and "tidings[scale]" in str(err.value)
    assert not (tmp_path / "out").exists()                              # failed before touching outputs


def test_batch_cli(corpus: Path, tmp_path: Path, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import tidings.pipeline
    from tidings.cli.main import app

    monkeypatch.setattr(tidings.pipeline, "Engine", lambda *a, **k: engine)
    db = tmp_path / "cli.db"
    result = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(db), "--out", str(tmp_path / "pq")])
    assert result.exit_code == 1, result.output                         # one bad line: reported, exit 1
    assert "9 document(s) analysed" in result.output and "1 error(s)" in result.output
    rerun = CliRunner().invoke(app, ["batch", str(corpus), "--out", str(db)])
    assert "0 document(s) analysed" in rerun.output and "9 already done" in rerun.output
    bad = CliRunner().invoke(app, ["batch", str(corpus), "--engine", "spark"])
    assert bad.exit_code == 2 and "E310" in bad.output


@pytest.mark.slow
def test_two_local_processes_give_the_same_events(corpus: Path, tmp_path: Path, engine: Any) -> None:
    one, two = f"sqlite:///{tmp_path / '1.db'}", f"sqlite:///{tmp_path / '2.db'}"
    run_batch([corpus], [one], local_engine=engine)
    run_batch([corpus], [two], local_engine=engine, workers=2, batch_size=2)
    assert events_by_doc(one) == events_by_doc(two)


@pytest.mark.slow
def test_ray_with_two_workers_gives_the_local_engines_events(corpus: Path, tmp_path: Path, engine: Any) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'tidings[scale]'): Ray test skipped")
    from tidings.scale import shutdown_ray

    local_db, ray_db = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'ray.db'}"
    run_batch([corpus], [local_db, str(tmp_path / "local")], local_engine=engine)
    try:
        stats = run_batch([corpus], [ray_db, str(tmp_path / "ray")], engine="ray", workers=2, batch_size=2)
    finally:
        shutdown_ray()
    assert (stats.done, stats.failed) == (9, 1)
    assert events_by_doc(ray_db) == events_by_doc(local_db)            # event for event, evidence included
    assert parquet_events(tmp_path / "ray") == parquet_events(tmp_path / "local")
