"""Library functions behind the CLI verbs: read, analyse, store, query, export.

The CLI only parses arguments and prints; everything it does is one call here, so the same
operations are available from Python and the REST API.

**One ingest workflow.** :func:`ingest` (documents → analyse → store → link → watch) and :func:`record`
(analyses made elsewhere → store → link → watch) are the only way analyses enter a store: ``tidings
analyze``, ``POST /documents``, feed following and ``tidings batch`` (local processes or Ray, through
``scale.StoreSink``) all call them, so every face links the new documents, fires watch rules and reports
a coding crash as E401 whatever the number of workers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidings.core.errors import IngestError
from tidings.core.records import Analysis, Document, Event
from tidings.core.settings import Settings
from tidings.pipeline import CODING_FAILED, Engine
from tidings.read import InputFailure, read_inputs

if TYPE_CHECKING:
    from tidings.store.database import Store

log = logging.getLogger(__name__)

#: Seconds ``analyze`` gives queued webhooks at its end: a dead endpoint costs at most this (it stays queued).
WEBHOOK_BUDGET = 3.0

__all__ = [
    "AnalyzeResult",
    "Outcome",
    "Report",
    "after_store_safely",
    "analyze_isolated",
    "analyze_paths",
    "coding_failure",
    "crashed",
    "export",
    "find_events",
    "get_event",
    "ingest",
    "list_errors",
    "open_store",
    "record",
]


@dataclass
class AnalyzeResult:
    analyses: list[Analysis] = field(default_factory=list)
    failures: list[InputFailure] = field(default_factory=list)
    db: str | None = None
    skipped: list[Document] = field(default_factory=list)   # stored already by this coder: not re-analysed
    #                                                          (their stored analyses are in ``analyses``)
    notes: list[str] = field(default_factory=list)           # things that went wrong after storing

    @property
    def event_count(self) -> int:
        return sum(len(a.events) for a in self.analyses)


@dataclass(frozen=True)
class Outcome:
    """One document's fate in :func:`record`: stored (with an E401 failure if its coding crashed) or not
    stored (``failure`` says why)."""

    analysis: Analysis
    failure: InputFailure | None
    stored: bool


@dataclass
class Report:
    """What one :func:`ingest` / :func:`record` call did."""

    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[InputFailure] = field(default_factory=list)   # input failures given, then per document
    notes: list[str] = field(default_factory=list)               # linking / watch / webhook trouble

    @property
    def analyses(self) -> list[Analysis]:
        """The analyses stored, in input order."""
        return [o.analysis for o in self.outcomes if o.stored]


def ingest(documents: Sequence[Document], store: Store, engine: Engine, *, deliver_for: float = 0.0,
           notify: Callable[[Any], None] | None = None) -> Report:
    """Analyse ``documents`` with ``engine`` (a crash in one is its E401, the others go on), then
    :func:`record` them: store, link, fire watch rules."""
    return record(store, analyze_isolated(engine, documents), deliver_for=deliver_for, notify=notify)


def record(store: Store, analyses: Iterable[Analysis], *, failures: Iterable[InputFailure] = (),
           deliver_for: float = 0.0, notify: Callable[[Any], None] | None = None) -> Report:
    """Store analyses made by any runner, then link them and fire watch rules (``tidings.across.watch``).

    ``failures`` (inputs that never became documents) become error rows. Each analysis is written in its
    own transaction, as soon as it comes (an interruption loses nothing stored; a document the database
    refuses costs only itself and becomes its error row; only a busy database, E204, raises); an analysis
    whose coding crashed is stored without events with its E401 row. Linking, watch rules and up to
    ``deliver_for`` seconds of webhook delivery follow; their trouble comes back as notes, never as a
    lost document.
    """
    from tidings.core.errors import StoreError

    report = Report()
    for failure in failures:
        store.record_error(failure.ref, failure.code, failure.message)
        report.failures.append(failure)
    stored: list[Analysis] = []
    for analysis in analyses:
        doc = analysis.document
        ref = doc.path or doc.url or doc.id
        try:
            store.save(analysis)
        except StoreError as exc:
            if exc.code == "E204":
                raise
            refused = InputFailure(ref, exc.code, f"document not stored: {exc.message}")
            store.record_error(ref, exc.code, refused.message, doc_id=doc.id)
            report.failures.append(refused)
            report.outcomes.append(Outcome(analysis, refused, stored=False))
            continue
        coded = coding_failure(analysis)
        if coded is not None:
            store.record_error(coded.ref, coded.code, f"{coded.code}: {coded.message}", doc_id=doc.id)
            report.failures.append(coded)
        report.outcomes.append(Outcome(analysis, coded, stored=True))
        stored.append(analysis)
    report.notes.extend(after_store_safely(store, stored, deliver_for=deliver_for, notify=notify))
    return report


def open_store(db: str | None, *, create: bool = True) -> Store:
    """The store at ``db`` (default ``Settings().db_url``). Read-only verbs pass ``create=False``: a
    database that is not there is an error (E209), not a new empty file that answers nothing."""
    from tidings.store.database import Store

    return Store(db or Settings().db_url, create=create)


def analyze_paths(
    paths: Sequence[str | Path],
    *,
    published: str | dt.date | None = None,
    outlet: str | None = None,
    url: str | None = None,
    db: str | None = None,
    progress: bool = False,
    engine: Engine | None = None,
    force: bool = False,
    deliver_for: float = WEBHOOK_BUDGET,
) -> AnalyzeResult:
    """Read, analyse and (when ``db`` is given) store every document; failures are kept, not raised.

    Each document is analysed and stored on its own: whatever fails in one (its parse, its coding, its
    write) becomes its error row and the others go on. Documents stored already by this version of the
    coder are skipped unless ``force``. Alerts' webhooks are queued in the store and tried for at most
    ``deliver_for`` seconds at the end (``tidings alerts deliver`` retries the rest).
    """
    result = AnalyzeResult(db=db)
    items = list(read_inputs(paths, published=published, outlet=outlet, url=url))
    if not items:
        raise IngestError(f"No documents in {', '.join(map(str, paths)) or 'the input'}.", code="E120",
                          hint="Give text, HTML or JSONL files, a directory holding them, or - for stdin.")
    documents = list({i.id: i for i in items if isinstance(i, Document)}.values())
    result.failures.extend(i for i in items if isinstance(i, InputFailure))
    store = open_store(db) if db else None
    try:
        if store is not None:
            for failure in result.failures:
                store.record_error(failure.ref, failure.code, failure.message)
            if documents and not force:
                coder = engine.settings.coder if engine is not None else Settings().coder
                done = store.analysed_document_ids([d.id for d in documents], coder)
                result.skipped = [d for d in documents if d.id in done]
                documents = [d for d in documents if d.id not in done]
                # Shown as stored (no re-coding): the output of a re-run looks like the first run's.
                result.analyses.extend(a for a in map(store.analysis, [d.id for d in result.skipped]) if a)
        if documents:
            engine = engine or Engine()
            analysed = _with_progress(analyze_isolated(engine, documents), len(documents), progress)
            if store is None:
                for analysis in analysed:
                    if (coded := coding_failure(analysis)) is not None:
                        result.failures.append(coded)
                    result.analyses.append(analysis)
            else:
                report = record(store, analysed, deliver_for=deliver_for)
                result.failures.extend(report.failures)
                result.analyses.extend(report.analyses)
                result.notes.extend(report.notes)
    finally:
        if store is not None:
            result.db = store.url
            store.close()
    return result


def analyze_isolated(engine: Engine, documents: Sequence[Document]) -> Iterator[Analysis]:
    """``engine.analyze_many``, but should it raise (it codes failures itself; this is the last line), the
    rest of its batch is analysed one by one and a document that still fails gets an E401 analysis."""
    done = 0
    try:
        for analysis in engine.analyze_many(documents):
            done += 1
            yield analysis
        return
    except Exception:
        log.exception("analysing a batch failed; analysing the documents left one by one")
    for document in documents[done:]:
        try:
            yield from list(engine.analyze_many([document], batch_size=1, n_process=1))
        except Exception as exc:  # noqa: BLE001 - any bug in any stage: logged and made its E401 by crashed()
            yield crashed(document, exc)


def crashed(document: Document, exc: Exception) -> Analysis:
    """The analysis of a document whose coding raised: no events, an E401 warning (stored with its error
    row by :func:`record`). Every runner — one process, several, Ray — reports a crash this one way."""
    log.exception("analysing %s failed", document.id)
    return Analysis(document=document, warnings=[
        f"{CODING_FAILED}: analysis failed ({type(exc).__name__}: {exc}); stored without events"])


def coding_failure(analysis: Analysis) -> InputFailure | None:
    """The E401 failure an analysis carries as a warning (its coding raised), if any."""
    failed = [w for w in analysis.warnings if w.startswith(CODING_FAILED)]
    if not failed:
        return None
    return InputFailure(analysis.document.path or analysis.document.url or analysis.document.id, CODING_FAILED,
                        failed[0].split(": ", 1)[1])


def after_store_safely(store: Store, analyses: Sequence[Analysis], *, deliver_for: float = WEBHOOK_BUDGET,
                       notify: Callable[[Any], None] | None = None) -> list[str]:
    """Link the stored analyses and raise watch alerts (``tidings.across.watch``), then give queued webhooks at
    most ``deliver_for`` seconds. Nothing here can cost a stored document: failures come back as notes."""
    notes: list[str] = []
    if not analyses:
        return notes
    try:
        from tidings.across import watch
    except ImportError:
        return notes
    try:
        watch.after_store(store, analyses, **({"notify": notify} if notify is not None else {}))
    except Exception as exc:
        log.exception("linking or watch rules failed")
        notes.append(f"linking/watch rules failed ({type(exc).__name__}: {exc}); run `tidings link` to retry")
    deliver_pending = getattr(watch, "deliver_pending", None)
    if deliver_pending is not None and deliver_for > 0:
        try:
            deliver_pending(store, budget=deliver_for)
        except Exception as exc:
            log.exception("webhook delivery failed")
            notes.append(f"webhook delivery failed ({type(exc).__name__}: {exc})")
    return notes


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
    """Stored events matching the filters (see :meth:`tidings.store.database.Store.events`)."""
    store = open_store(db, create=False)
    try:
        given: dict[str, Any] = {k: v for k, v in filters.items() if v not in (None, [], ())}
        return store.events(**given)
    finally:
        store.close()


def get_event(db: str | None, event_id: str) -> tuple[Event, Document | None] | None:
    """One event by id (or unique id prefix) and its document."""
    store = open_store(db, create=False)
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


def export(db: str | None, fmt: str, out: Path | str, *, force: bool = False, as_of: dt.date | None = None) -> int:
    """Write every stored event to ``out`` in ``fmt`` (with ``as_of``, only those reported by that day: the
    data as it stood then). A symbolic link as ``out`` is refused unless ``force`` (writing through it would
    overwrite whatever it points to); a directory is refused too."""
    import sys

    from tidings.core.errors import InputError
    from tidings.store.export import FORMATS, export_events

    if fmt.lower().lstrip(".") not in FORMATS:   # before opening anything: the mistake is the format
        raise InputError(f"Unknown export format {fmt!r}.", code="E302", hint=f"Use one of: {', '.join(FORMATS)}.")
    if str(out) != "-":
        path = Path(out)
        if path.is_symlink() and not force:
            raise InputError(f"{path} is a symbolic link (to {path.readlink()}); exporting would overwrite "
                             "its target.", code="E314", hint="Give another path, or --force to write through it.")
        if path.is_dir():
            raise InputError(f"{path} is a directory.", code="E314", hint="Give a file name to export to.")
    store = open_store(db, create=False)
    try:
        target = sys.stdout if str(out) == "-" else Path(out)
        # ACLED/GDELT shapes take the source and URL columns from each event's document.
        return export_events(store.iter_events(as_of=as_of), fmt, target, documents=store.document)
    finally:
        store.close()


def list_errors(db: str | None, limit: int = 50) -> list[dict]:
    store = open_store(db, create=False)
    try:
        return store.errors(limit)
    finally:
        store.close()
