"""Runners: the engine over a gold file, then the scorers of :mod:`tidings.evaluation.scores` (what
``tidings eval`` and ``benchmarks/check_floors.py``, the accuracy gate, call). Deadlines per chunk, so a
pathological text costs a bounded time.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidings.core.codebook import CaseMapping, load_case_mapping
from tidings.core.records import Analysis
from tidings.evaluation.scores import (
    classify_prediction,
    event_prediction,
    geo_prediction,
    read_jsonl,
    score_classify,
    score_events,
    score_geo,
)

if TYPE_CHECKING:
    from tidings.pipeline import Engine

__all__ = ["EngineTimeout", "EvalReport", "run_classify", "run_events", "run_geo"]


def is_event_head(model_dir: str | Path) -> bool:
    """Whether a head predicts PLOVER types (an event coder) rather than a label set of its own."""
    from tidings.stages.coder import load_head

    return load_head(model_dir).is_event_coder


def run_head_classify(gold_path: str | Path, model_dir: str | Path, *, limit: int | None = None,
                      progress: Progress | None = None) -> EvalReport:
    """``tidings eval classify --model DIR`` with a head trained on the gold's own labels: each snippet is
    labelled by the head directly (its encoder, plus the rule coder's outputs if it was trained with them)."""
    from tidings.stages.coder import LearnedCoder
    from tidings.train import rule_outputs

    gold = read_jsonl(gold_path, limit)
    started = time.perf_counter()
    learned = LearnedCoder(model_dir)
    texts = [str(g["text"]) for g in gold]
    outputs = rule_outputs(texts) if learned.head.uses_rules else []
    verdicts = learned.judge(texts, [o.top for o in outputs] or [None] * len(texts),
                             [o.types for o in outputs] or [[] for _ in texts])
    if progress:
        progress(len(gold), len(gold))
    pred = [{"id": str(g["id"]), "label": v.label, "source": "head", "probability": round(v.probability, 4)}
            for g, v in zip(gold, verdicts, strict=True)]
    return EvalReport(task="classify", gold=str(gold_path), scores=score_classify(gold, pred), predictions=pred,
                      seconds=time.perf_counter() - started, documents=len(gold),
                      words=sum(len(t.split()) for t in texts))


@dataclass
class EvalReport:
    """What one evaluation run returns: scores plus the predictions and timings behind them."""

    task: str
    gold: str
    scores: dict[str, Any]
    predictions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    documents: int = 0
    words: int = 0
    failures: list[str] = field(default_factory=list)

    def to_dict(self, with_predictions: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"task": self.task, "gold": self.gold, "documents": self.documents,
                               "words": self.words, "seconds": round(self.seconds, 3),
                               "failures": self.failures, "scores": self.scores}
        if with_predictions:
            out["predictions"] = self.predictions
        return out


Progress = Callable[[int, int], None]


def analyze_records(records: Sequence[Mapping[str, Any]], engine: Engine | None = None, *,
                    published_key: str | None = None, batch_size: int | None = None,
                    n_process: int | None = None, progress: Progress | None = None,
                    timeout_s: float | None = 60.0) -> tuple[list[Analysis | None], list[str]]:
    """Analyse each record's ``text`` in batches; an input the engine refuses, crashes or stalls on
    (more than ``timeout_s`` seconds) gives ``None`` and a failure line.

    Inputs go through the same validation as ``tidings.analyze()`` (``ingest.read_text``), so the
    score is what a user would get.
    """
    from tidings.read import InputFailure, read_text

    if engine is None:
        from tidings.pipeline import default_engine

        engine = default_engine()
    documents = []
    index: list[int] = []
    failures: list[str] = []
    for number, record in enumerate(records):
        published = record.get(published_key) if published_key else None
        url = record.get("url")   # the outlet's address: its country is a prior for the places
        item = read_text(str(record.get("text", "")), ref=f"{record.get('id', number)}",
                         published=str(published)[:10] if published else None, title=record.get("title"),
                         url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None)
        if isinstance(item, InputFailure):
            failures.append(str(item))
        else:
            documents.append(item)
            index.append(number)
    results: list[Analysis | None] = [None] * len(records)
    size: int = batch_size or int(getattr(getattr(engine, "settings", None), "batch_size", 32))
    done = 0
    for start in range(0, len(documents), size):
        chunk = documents[start:start + size]
        refs = [str(records[i].get("id", i)) for i in index[start:start + size]]
        for offset, analysis in enumerate(_analyze_chunk(engine, chunk, size, n_process, failures, refs,
                                                         timeout_s)):
            results[index[start + offset]] = analysis
            # the engine catches a stage's exception and returns the document without events (E401)
            failures.extend(f"{refs[offset]}: {w}" for w in (analysis.warnings if analysis else [])
                            if "coding failed" in w)
        done += len(chunk)
        if progress is not None:
            progress(done, len(documents))
    return results, failures


class EngineTimeout(Exception):
    """The engine took longer than the evaluation allows for a document (a hang is a bug too)."""


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`EngineTimeout` after ``seconds`` (SIGALRM; a no-op off the main thread or without
    SIGALRM), so one document that sends the engine into an endless loop cannot stall a whole run."""
    usable = seconds and hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise EngineTimeout(f"no result after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _analyze_chunk(engine: Engine, chunk: list[Any], batch_size: int, n_process: int | None,
                   failures: list[str], refs: list[str], timeout_s: float | None) -> list[Analysis | None]:
    """One batch; when the engine raises or stalls, each document again alone, so one document that
    breaks the engine costs its own score (reported as a failure), not the whole evaluation."""
    try:
        with _deadline(timeout_s):  # a batch normally takes seconds; the same limit as one document
            return list(engine.analyze_many(chunk, batch_size=batch_size, n_process=n_process))
    except Exception as exc:  # noqa: BLE001 - retried document by document just below
        crash = exc
    out: list[Analysis | None] = []
    for ref, document in zip(refs, chunk, strict=True):
        try:
            with _deadline(timeout_s):
                out.extend(engine.analyze_many([document], batch_size=1, n_process=1))
        except Exception as exc:  # noqa: BLE001 - an engine bug is a scored miss plus a reported failure
            failures.append(f"{ref}: engine error {type(exc).__name__}: {str(exc)[:200]}")
            out.append(None)
    if len(out) == len(chunk) and not any(a is None for a in out):
        failures.append(f"batch {refs[0]}…{refs[-1]} raised {type(crash).__name__} but each document passed alone")
    return out


def _run(task: str, gold_path: str | Path, limit: int | None, predictions_path: str | Path | None,
         predict: Callable[[Mapping[str, Any], Analysis | None], dict[str, Any]],
         score: Callable[[list[dict[str, Any]], list[dict[str, Any]]], dict[str, Any]],
         engine: Engine | None, published_key: str | None, batch_size: int | None,
         n_process: int | None, progress: Progress | None) -> EvalReport:
    """Shared skeleton: read gold, predict (or read saved predictions), score, time."""
    gold = read_jsonl(gold_path, limit)
    failures: list[str] = []
    start = time.perf_counter()
    if predictions_path is not None:
        wanted = {str(g["id"]) for g in gold}
        predictions = [p for p in read_jsonl(predictions_path) if str(p["id"]) in wanted]
    else:
        analyses, failures = analyze_records(gold, engine, published_key=published_key, batch_size=batch_size,
                                             n_process=n_process, progress=progress)
        predictions = [predict(g, a) for g, a in zip(gold, analyses, strict=True)]
    seconds = time.perf_counter() - start
    return EvalReport(task=task, gold=str(gold_path), scores=score(gold, predictions), predictions=predictions,
                      seconds=seconds if predictions_path is None else 0.0, documents=len(gold),
                      words=sum(len(str(g.get("text", "")).split()) for g in gold), failures=failures)


def run_events(gold_path: str | Path, *, limit: int | None = None, predictions: str | Path | None = None,
               engine: Engine | None = None, batch_size: int | None = None, n_process: int | None = None,
               progress: Progress | None = None) -> EvalReport:
    """``tidings eval events``: code each gold sentence (published = its ``date``) and score it."""
    return _run("events", gold_path, limit, predictions, lambda g, a: event_prediction(str(g["id"]), a),
                score_events, engine, "date",
                batch_size, n_process, progress)


def run_classify(gold_path: str | Path, *, limit: int | None = None, predictions: str | Path | None = None,
                 mapping: CaseMapping | None = None, engine: Engine | None = None,
                 batch_size: int | None = None, n_process: int | None = None,
                 progress: Progress | None = None) -> EvalReport:
    """``tidings eval classify``: label each snippet through the CASE mapping and score it."""
    if predictions is None and mapping is None:
        mapping = load_case_mapping()
    table = mapping or CaseMapping({}, [], {})
    return _run("classify", gold_path, limit, predictions,
                lambda g, a: classify_prediction(str(g["id"]), a, table, str(g.get("text", ""))), score_classify,
                engine,
                "date", batch_size, n_process, progress)


def run_geo(gold_path: str | Path, *, limit: int | None = None, predictions: str | Path | None = None,
            resolution_match: str = "exact", engine: Engine | None = None, batch_size: int | None = None,
            n_process: int | None = None, progress: Progress | None = None, adjectives: bool = True) -> EvalReport:
    """``tidings eval geo``: geoparse each article and score recognition and resolution.

    ``adjectives=False``: score place names only, for gold sets that do not annotate adjectival forms.
    """
    return _run("geo", gold_path, limit, predictions,
                lambda g, a: geo_prediction(str(g["id"]), a, adjectives=adjectives),
                lambda gold, pred: score_geo(gold, pred, resolution_match), engine, "published",
                batch_size, n_process, progress)
