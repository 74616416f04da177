"""Library functions behind the CLI verbs: read, analyse, store, query, export.

The CLI only parses arguments and prints; everything it does is one call here, so the same
operations are available from Python and (later) the REST API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tidings.ingest import InputFailure, read_inputs
from tidings.pipeline import CODING_FAILED, Engine
from tidings.records import Analysis, Document, Event
from tidings.settings import Settings

__all__ = ["AnalyzeResult", "analyze_paths", "export", "find_events", "get_event", "list_errors", "open_store"]


@dataclass
class AnalyzeResult:
    analyses: list[Analysis] = field(default_factory=list)
    failures: list[InputFailure] = field(default_factory=list)
    db: str | None = None

    @property
    def event_count(self) -> int:
        return sum(len(a.events) for a in self.analyses)


def open_store(db: str | None):
    from tidings.store import Store

    return Store(db or Settings().db_url)


def analyze_paths(
    paths: Sequence[str | Path],
    *,
    published: str | dt.date | None = None,
    outlet: str | None = None,
    url: str | None = None,
    db: str | None = None,
    progress: bool = False,
    engine: Engine | None = None,
) -> AnalyzeResult:
    """Read, analyse and (when ``db`` is given) store every document; failures are kept, not raised."""
    result = AnalyzeResult(db=db)
    items = list(read_inputs(paths, published=published, outlet=outlet, url=url))
    documents = [i for i in items if isinstance(i, Document)]
    result.failures.extend(i for i in items if isinstance(i, InputFailure))
    store = open_store(db) if db else None
    try:
        if store is not None:
            for failure in result.failures:
                store.record_error(failure.ref, failure.code, failure.message)
        if documents:
            engine = engine or Engine()
            for analysis in _with_progress(engine.analyze_many(documents), len(documents), progress):
                result.analyses.append(analysis)
                failed = [w for w in analysis.warnings if w.startswith(CODING_FAILED)]
                if failed:
                    result.failures.append(InputFailure(analysis.document.path or analysis.document.id,
                                                        CODING_FAILED, failed[0].split(": ", 1)[1]))
                if store is not None:
                    store.save(analysis)
                    if failed:
                        store.record_error(result.failures[-1].ref, CODING_FAILED, failed[0],
                                           doc_id=analysis.document.id)
            if store is not None:   # link across articles, raise watch alerts (tidings.watch)
                from tidings.watch import after_store
                after_store(store, result.analyses)
    finally:
        if store is not None:
            result.db = store.url
            store.close()
    return result


def _with_progress(analyses: Iterable[Analysis], total: int, show: bool) -> Iterator[Analysis]:
    if not show or total < 2:
        yield from analyses
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("analysing", total=total)
        for analysis in analyses:
            bar.advance(task)
            yield analysis


def find_events(db: str | None, **filters: object) -> list[Event]:
    """Stored events matching the filters (see :meth:`tidings.store.Store.events`)."""
    store = open_store(db)
    try:
        return store.events(**{k: v for k, v in filters.items() if v not in (None, [], ())})
    finally:
        store.close()


def get_event(db: str | None, event_id: str) -> tuple[Event, Document | None] | None:
    """One event by id (or unique id prefix) and its document."""
    store = open_store(db)
    try:
        event = store.event(event_id)
        if event is None and len(event_id) < 16:
            matches = [e for e in store.iter_events() if e.id.startswith(event_id)]
            event = matches[0] if len(matches) == 1 else None
        if event is None:
            return None
        return event, store.document(event.doc_id)
    finally:
        store.close()


def export(db: str | None, fmt: str, out: Path | str) -> int:
    """Write every stored event to ``out`` in ``fmt``."""
    import sys

    from tidings.export import export_events

    store = open_store(db)
    try:
        target = sys.stdout if str(out) == "-" else Path(out)
        # ACLED/GDELT shapes take the source and URL columns from each event's document.
        return export_events(store.iter_events(), fmt, target, documents=store.document)
    finally:
        store.close()


def list_errors(db: str | None, limit: int = 50) -> list[dict]:
    store = open_store(db)
    try:
        return store.errors(limit)
    finally:
        store.close()
