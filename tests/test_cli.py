"""The CLI verbs, in-process (typer's runner), on a temporary database."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tidings.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory, engine):
    path = tmp_path_factory.mktemp("cli") / "t.db"
    url = f"sqlite:///{path}"
    result = runner.invoke(app, ["analyze", "examples/", "--db", url])
    assert result.exit_code == 0, result.output
    return url


def test_analyze_prints_table_and_summary(db):
    result = runner.invoke(app, ["analyze", "examples/", "--db", db])
    assert result.exit_code == 0
    assert "RETREAT" in result.output and "RBK-Ukraine" in result.output
    assert "1 document(s)" in result.output


def test_reanalysis_does_not_duplicate(db):
    before = json.loads(runner.invoke(app, ["events", "--db", db, "--format", "json", "--limit", "1000"]).output)
    runner.invoke(app, ["analyze", "examples/", "--db", db])
    after = json.loads(runner.invoke(app, ["events", "--db", db, "--format", "json", "--limit", "1000"]).output)
    assert len(before) == len(after) > 0


def test_events_filters(db):
    out = runner.invoke(app, ["events", "--db", db, "--type", "RETREAT", "--format", "jsonl"]).output
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert rows and all(r["type"] == "RETREAT" for r in rows)
    out = runner.invoke(app, ["events", "--db", db, "--modality", "historical", "--format", "jsonl"]).output
    assert all(json.loads(line)["modality"] == "historical" for line in out.splitlines() if line.strip())
    out = runner.invoke(app, ["events", "--db", db, "--source", "New York Times", "--format", "jsonl"]).output
    assert out.strip()
    out = runner.invoke(app, ["events", "--db", db, "--since", "2024-12-06", "--until", "2024-12-06",
                              "--country", "SYR", "--format", "jsonl"]).output
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    # A date range overlaps the filter; an act bounded only by its report's day ("…, officials said on Friday")
    # has no start, only an end.
    assert rows and all((r["when"]["start"] or r["when"]["end"]) <= "2024-12-06" <= (r["when"]["end"] or "9999")
                        for r in rows)
    bad = runner.invoke(app, ["events", "--db", db, "--since", "yesterday"])
    assert bad.exit_code != 0


def test_show_highlights_evidence(db):
    out = runner.invoke(app, ["events", "--db", db, "--type", "RETREAT", "--format", "jsonl"]).output
    event_id = json.loads(out.splitlines()[0])["id"]
    shown = runner.invoke(app, ["show", event_id[:8], "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "RETREAT" in shown.output and "said by" in shown.output and "modality" in shown.output
    assert runner.invoke(app, ["show", "nope", "--db", db]).exit_code == 1


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "geojson", "parquet"])
def test_export(db, tmp_path, fmt):
    out = tmp_path / f"events.{fmt}"
    result = runner.invoke(app, ["export", str(out), "--format", fmt, "--db", db])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


def test_bad_documents_fail_the_exit_status_but_not_the_batch(tmp_path, engine):
    (tmp_path / "good.txt").write_text("Rebels captured the town of Kidal on Tuesday, the army said.", "utf-8")
    (tmp_path / "empty.txt").write_text("", "utf-8")
    url = f"sqlite:///{tmp_path / 'e.db'}"
    result = runner.invoke(app, ["analyze", str(tmp_path), "--db", url, "--published", "2024-03-07"])
    assert result.exit_code == 1
    assert "empty.txt" in result.output and "empty document" in result.output
    errors = runner.invoke(app, ["errors", "--db", url])
    assert "E105" in errors.output
    events = runner.invoke(app, ["events", "--db", url, "--format", "jsonl"]).output
    assert events.strip()


def test_stdin_and_json_format(engine):
    result = runner.invoke(app, ["analyze", "-", "--no-store", "--format", "json", "--published", "2025-03-14"],
                           input="Russian forces shelled Kharkiv on Thursday, Ukrainian officials said.")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["document"]["published"] == "2025-03-14"
    assert any(e["type"] == "ASSAULT" for e in data["events"])


def test_events_as_of(db):
    """The sample was published 2024-12-07: known on that day, not the day before."""
    out = runner.invoke(app, ["events", "--db", db, "--as-of", "2024-12-07", "--format", "jsonl"]).output
    assert [line for line in out.splitlines() if line.strip()]
    out = runner.invoke(app, ["events", "--db", db, "--as-of", "2024-12-06", "--format", "jsonl"]).output
    assert not [line for line in out.splitlines() if line.strip()]
    bad = runner.invoke(app, ["events", "--db", db, "--as-of", "soon"])
    assert bad.exit_code != 0
