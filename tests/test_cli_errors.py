"""Bad invocations as a new user makes them (issue 15): each is at most three lines on the terminal, names
its code, shows no traceback and exits non-zero; ``--debug`` brings the traceback back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidings.cli.main import app, events_table

runner = CliRunner()


def _check(args: list[str], code: str, input: str | None = None) -> str:
    result = runner.invoke(app, args, input=input)
    out = result.output
    assert result.exit_code != 0, out
    # A SystemExit is the CLI exiting on purpose; any other exception is a crash CliRunner swallowed.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out and "╭" not in out, out
    assert 1 <= len(out.strip().splitlines()) <= 3, out
    assert code in out, out
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> str:
    """A real (empty but initialised) tidings database: the read verbs find it."""
    from tidings.store.database import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('errs') / 'e.db'}"
    Store(url).close()
    return url


def test_unknown_export_format(tmp_path, stored):
    _check(["export", str(tmp_path / "x.out"), "-f", "xlsx", "--db", stored], "E302")
    assert not (tmp_path / "x.out").exists()


def test_unknown_export_format_before_the_database(tmp_path):
    """The mistake named is the format, even where the database is missing too."""
    _check(["export", str(tmp_path / "x.out"), "-f", "xlsx", "--db", f"sqlite:///{tmp_path / 'none.db'}"], "E302")


def test_unknown_modality(stored):
    out = _check(["events", "--modality", "maybe", "--db", stored], "E304")
    assert "hedged" in out   # the hint lists what is allowed


def test_unknown_events_format_is_refused_not_jsonl(stored):
    out = _check(["events", "--format", "yaml", "--db", stored], "E316")
    assert "jsonl" in out and "{" not in out


def test_unknown_analyze_format(tmp_path):
    _check(["analyze", str(tmp_path), "--format", "yaml", "--no-store"], "E316")


def test_unknown_type_is_refused_not_an_empty_table(stored):
    out = _check(["events", "--type", "FOO", "--db", stored], "E315")
    assert "ASSAULT" in out


def test_known_type_in_lower_case_is_accepted(stored):
    result = runner.invoke(app, ["events", "--type", "assault", "--db", stored, "--format", "jsonl"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("verb", [["events"], ["errors"], ["show", "abc"], ["clusters"], ["export", "-"]])
def test_read_verbs_never_create_a_database(tmp_path, verb):
    db = tmp_path / "never.db"
    _check([*verb, "--db", f"sqlite:///{db}"], "E209")
    assert not db.exists()


def test_db_that_is_a_directory(tmp_path):
    _check(["events", "--db", f"sqlite:///{tmp_path}"], "E201")
    _check(["analyze", "-", "--db", f"sqlite:///{tmp_path}"], "E201", input="Troops shelled Kharkiv.")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_db_on_an_unwritable_path(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _check(["analyze", "-", "--db", f"sqlite:///{locked / 'sub' / 't.db'}"], "E201",
               input="Troops shelled Kharkiv.")
    finally:
        locked.chmod(0o700)


def test_db_under_a_path_that_cannot_exist(tmp_path):
    """/proc refuses new folders even to root: the one line names the folder."""
    _check(["analyze", "-", "--db", "sqlite:////proc/tidings-none/t.db"], "E201", input="Troops shelled Kharkiv.")


def test_postgresql_url_without_psycopg(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)   # import psycopg now fails, as when not installed
    out = _check(["events", "--db", "postgresql://user@127.0.0.1:1/none"], "E201")
    assert "pip install 'tidings[postgres]'" in out   # the extra's brackets survive (no rich markup)


def test_empty_input_set(tmp_path):
    out = _check(["analyze", str(tmp_path), "--no-store"], "E120")
    assert str(tmp_path) in out


def test_markup_in_file_names_is_printed_as_is(tmp_path):
    (tmp_path / "[draft] notes.txt").write_text("", "utf-8")
    result = runner.invoke(app, ["analyze", str(tmp_path), "--no-store"])
    assert result.exit_code == 1
    assert "[draft] notes.txt" in result.output and "E105" in result.output


def test_install_hint_keeps_its_brackets(tmp_path, monkeypatch):
    """`[scale]` in the hint is text, not a rich style tag that would vanish."""
    monkeypatch.setitem(sys.modules, "ray", None)
    (tmp_path / "a.jsonl").write_text('{"text": "Troops shelled Kharkiv on Monday."}\n', "utf-8")
    out = _check(["batch", str(tmp_path / "a.jsonl"), "--engine", "ray", "--out", str(tmp_path / "o.db")], "E312")
    assert "tidings[scale]" in out


def test_debug_shows_the_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "events", "--db", f"sqlite:///{tmp_path / 'never.db'}"])
    assert result.exit_code != 0
    from tidings.core.errors import StoreError

    assert isinstance(result.exception, StoreError) and result.exception.code == "E209"


def test_as_a_process_one_line_and_no_traceback(tmp_path):
    """The real console (rich, no test runner in between)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.run([sys.executable, "-m", "tidings", "events", "--db", f"sqlite:///{tmp_path / 'n.db'}"],
                          check=False, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "E209" in proc.stderr
    assert not (tmp_path / "n.db").exists()


# Usage errors click finds before any verb runs: typer printed each in a five-line rich box (issue 15, item 5).
USAGE_ERRORS = {
    "verb without its file argument": (["analyze"], "'paths'"),
    "export without its target": (["export"], "'out'"),
    "unknown option": (["events", "--bogus"], "--bogus"),
    "unknown top-level option": (["--bogus"], "--bogus"),
    "unknown verb": (["nosuchverb"], "nosuchverb"),
    "value click checks": (["events", "--limit", "abc"], "--limit"),
    "subcommand missing a required option": (["watch", "add"], "--name"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS, ids=list(USAGE_ERRORS))
def test_usage_errors_are_one_line(case):
    args, named = USAGE_ERRORS[case]
    result = runner.invoke(app, args)
    out = _check(args, "E318")
    assert result.exit_code == 2, out   # click's status for usage errors, kept
    assert named in out and "--help" in out, out   # what was wrong, and where to look


def test_usage_error_as_a_process(tmp_path):
    """Through the real console: typer's rich box is what a user saw, CliRunner alone could hide it."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "COLUMNS": "100"}
    proc = subprocess.run([sys.executable, "-m", "tidings", "analyze"], check=False, capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "E318" in lines[0] and "╭" not in proc.stderr, proc.stderr


def test_no_arguments_still_shows_help():
    """``no_args_is_help`` is not an error: the help text comes, whole."""
    result = runner.invoke(app, [])
    assert "E318" not in result.output and "analyze" in result.output and "Usage" in result.output


def _event(**changes):
    from tidings.core.records import Actor, Event, Place, Source, Span, When

    sentence = Span(start=0, end=10, text="x" * 10)
    base = {"id": "e" * 40, "doc_id": "d" * 64, "type": "RETREAT", "mode": "withdraw",
                "source_actor": Actor(code="RUSMIL", name="Russian armed forces", country="RUS", sector="MIL",
                                   kind="organization"),
                "target_actor": Actor(code="SYRGOV", name="Bashar al-Assad's government", country="SYR",
                                   sector="GOV", kind="state"),
                "place": Place(geonameid=170654, name="Deir ez-Zor", country="SY", lat=35.3, lon=40.1,
                            feature="city"),
                "when": When(start=None, end=None, granularity="unknown", anchor="publication"),
                "modality": "reported", "confidence": 0.81,
                "attribution": [Source(name="RBK-Ukraine", kind="outlet"), Source(name="The New York Times",
                                                                                kind="outlet"),
                             Source(name="Main Intelligence Directorate officials", kind="official",
                                    anonymous=True)],
                "evidence": {"trigger": sentence, "sentence": sentence}, "coder": "test@0"}
    base.update(changes)
    return Event.model_validate(base)


@pytest.mark.parametrize("width", [100, 120])
def test_tables_wrap_at_word_boundaries(width):
    import datetime as dt

    from rich.console import Console

    from tidings.core.records import When

    events = [_event(), _event(id="f" * 40, type="ASSAULT", mode=None),
              _event(id="a" * 40, when=When(start=dt.date(2024, 12, 1), end=dt.date(2024, 12, 6),
                                             granularity="range", anchor="publication"))]
    console = Console(width=width, record=True, color_system=None)
    console.print(events_table(events, width))
    text = console.export_text()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    words = {w for e in events for w in (e.source_actor.name.split() + e.target_actor.name.split()
                                         + ["Intelligence", "Directorate", "(anonymous)", "RBK-Ukraine",
                                            "ez-Zor,", "0.81", "reported", "RETREAT", "(withdraw)", "2024-12-01",
                                            "…2024-12-06"])}
    tokens = set(text.split())
    assert words <= tokens, sorted(words - tokens)
