"""Batch runs over large corpora: the same Engine, on local processes or on a Ray cluster (``tidings batch``).

Why it looks the way it does:

* **One pipeline.** Both runners call the Engine the CLI and the API use; only who runs it changes. Locally,
  one ``nlp.pipe(..., n_process=N)`` stream feeds spaCy's worker processes (parsing is ~85% of the time)
  while the main process codes events. On Ray, ``map_batches`` with a callable class loads the model once per
  actor, and actors code whole documents. Outputs are the same, event for event (tests/test_scale.py).
* **Streaming, in windows.** Inputs are read lazily (JSONL, Parquet, directories of text/HTML/JSONL, URLs);
  Ray gets them ``window`` documents at a time (``ray.data.from_items``), so memory stays flat on the driver
  and the documents reach a remote cluster through its object store, with no shared file system needed.
* **Resumable.** Results are flushed every ``flush_every`` documents, and before a window is run, documents
  already in *every* output are skipped: ids in the store (``Store.existing_document_ids``) or in a Parquet
  directory's ``manifest.jsonl``, which lists a part's documents only after the part file is complete. An
  interrupted run re-run with the same arguments redoes nothing finished and duplicates nothing.
* **Failures are records.** Unreadable inputs go to the store's errors table or ``errors.jsonl``; a document
  the Engine chokes on is stored without events with its E401 row — the same code as ``tidings analyze``,
  whatever the runner or the number of workers (:func:`tidings.service.crashed`); the batch goes on.
* **One workflow.** A store output writes through :func:`tidings.service.record`, the call behind
  ``tidings analyze``, the API and feed following: batch output is linked and fires watch rules too.

Ray is optional: ``pip install 'tidings[scale]'``. ``RAY_ADDRESS`` or ``ray_address`` points at a running
cluster (tidings must be installed there); without one a local Ray is started with ``workers`` CPUs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tidings.core.errors import InputError
from tidings.core.records import Analysis, Document
from tidings.read import InputFailure, InputItem, read_inputs, read_text

if TYPE_CHECKING:
    from tidings.pipeline import Engine

__all__ = ["ENGINES", "BatchStats", "ParquetSink", "StoreSink", "iter_documents", "open_sink", "run_batch"]

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
PARQUET_SUFFIXES = (".parquet", ".pq")
DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")
FLUSH_EVERY = 256          # documents per write (and per Parquet part): the most an interruption can cost
READ_CHUNK = 500           # documents looked up at once among the finished ones
RAY_WINDOW = 2_000         # documents handed to Ray per Dataset


@dataclass
class BatchStats:
    """Progress of a run; ``rate`` is analysed documents per second since the start."""

    read: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    events: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


# ------------------------------------------------------------------------------------------------ inputs

def iter_documents(inputs: Sequence[str | Path]) -> Iterator[InputItem]:
    """Every document of every input: Parquet files (a ``text`` column, optional ``title``, ``url``,
    ``outlet``, ``published``), directories (their Parquet files too), and whatever ``read_inputs`` reads."""
    for source in inputs:
        path = Path(source)
        if path.is_file() and path.suffix.lower() in PARQUET_SUFFIXES:
            yield from read_parquet(path)
        elif path.is_dir():
            yield from read_inputs([path])
            for child in sorted(p for p in path.rglob("*") if p.suffix.lower() in PARQUET_SUFFIXES):
                yield from read_parquet(child)
        else:
            yield from read_inputs([source])


def read_parquet(path: Path, batch_rows: int = 1_000) -> Iterator[InputItem]:
    """Row groups one at a time, so a large file never sits in memory whole."""
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        yield InputFailure(str(path), "E109", f"not a readable Parquet file ({exc})")
        return
    names = set(handle.schema_arrow.names)
    if "text" not in names:
        yield InputFailure(str(path), "E109", "a Parquet input needs a string column 'text'")
        return
    wanted = [c for c in ("text", "title", "url", "outlet", "published") if c in names]
    number = 0
    for batch in handle.iter_batches(batch_size=batch_rows, columns=wanted):
        for row in batch.to_pylist():
            number += 1
            text = row.get("text")
            if not isinstance(text, str):
                yield InputFailure(f"{path}:{number}", "E109", "'text' must be a string")
                continue
            yield read_text(text, ref=f"{path}:{number}", kind="parquet", published=row.get("published"),
                            outlet=row.get("outlet"), url=row.get("url"), title=row.get("title"))


# ----------------------------------------------------------------------------------------------- outputs

class Sink(Protocol):
    """Where results go; it also says which documents it already has (for resuming)."""

    def finished(self, doc_ids: Sequence[str]) -> set[str]: ...
    def write(self, analyses: list[Analysis], failures: list[InputFailure]) -> None: ...
    def close(self) -> None: ...


class StoreSink:
    """The store (SQLite or PostgreSQL): idempotent saves, failures into the errors table."""

    def __init__(self, url: str) -> None:
        from tidings.store.database import Store

        self.store = Store(url)
        self.label = self.store.url

    def finished(self, doc_ids: Sequence[str]) -> set[str]:
        return self.store.existing_document_ids(doc_ids)

    def write(self, analyses: list[Analysis], failures: list[InputFailure]) -> None:
        from tidings import service

        # Store (a refused document costs only itself), E401 rows, link, watch rules: as `tidings analyze`.
        for note in service.record(self.store, analyses, failures=failures).notes:
            log.warning("%s", note)

    def close(self) -> None:
        self.store.close()


class ParquetSink:
    """A directory of Parquet parts: ``events/part-NNNNN.parquet`` (the export's flat columns),
    ``documents/part-NNNNN.parquet``, ``errors.jsonl`` and ``manifest.jsonl``, the resume record."""

    def __init__(self, directory: str | Path) -> None:
        self.root = Path(directory)
        self.label = str(self.root)
        (self.root / "events").mkdir(parents=True, exist_ok=True)
        (self.root / "documents").mkdir(parents=True, exist_ok=True)
        self.manifest = self.root / "manifest.jsonl"
        self._done: set[str] = set()
        self._parts = 0
        if self.manifest.exists():
            for line in self.manifest.read_text("utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._done.update(entry["documents"])
                    self._parts = max(self._parts, int(entry["part"]) + 1)

    def finished(self, doc_ids: Sequence[str]) -> set[str]:
        return self._done.intersection(doc_ids)

    def write(self, analyses: list[Analysis], failures: list[InputFailure]) -> None:
        from tidings.service import coding_failure

        coded = [c for c in map(coding_failure, analyses) if c is not None]   # E401: kept without events
        if failures or coded:
            with (self.root / "errors.jsonl").open("a", encoding="utf-8") as handle:
                for f in [*failures, *coded]:
                    handle.write(json.dumps({"ref": f.ref, "code": f.code, "message": f.message}) + "\n")
        analyses = [a for a in analyses if a.document.id not in self._done]
        if not analyses:
            return
        part = f"{self._parts:05d}"
        self._write_part(part, analyses)
        # Listed only once both files are whole: a crash before this line leaves a part that is rewritten.
        ids = [a.document.id for a in analyses]
        with self.manifest.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"part": part, "documents": ids,
                                     "events": sum(len(a.events) for a in analyses)}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._done.update(ids)
        self._parts += 1

    def _write_part(self, part: str, analyses: list[Analysis]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from tidings.store.export import export_events

        events_path = self.root / "events" / f"part-{part}.parquet"
        export_events((e for a in analyses for e in a.events), "parquet", events_path.with_suffix(".tmp"))
        os.replace(events_path.with_suffix(".tmp"), events_path)
        rows = [_document_row(a) for a in analyses]
        table = pa.Table.from_pylist(rows, schema=_DOCUMENT_SCHEMA())
        docs_path = self.root / "documents" / f"part-{part}.parquet"
        pq.write_table(table, docs_path.with_suffix(".tmp"), compression="zstd")
        os.replace(docs_path.with_suffix(".tmp"), docs_path)

    def close(self) -> None:
        pass


def _DOCUMENT_SCHEMA() -> Any:
    import pyarrow as pa

    s = pa.string()
    return pa.schema([("id", s), ("title", s), ("url", s), ("outlet", s), ("published", pa.date32()),
                      ("published_inferred", pa.bool_()), ("source_kind", s), ("path", s), ("language", s),
                      ("events", pa.int64()), ("chain", s), ("warnings", s)])


def _document_row(analysis: Analysis) -> dict[str, Any]:
    doc = analysis.document
    return {"id": doc.id, "title": doc.title, "url": doc.url, "outlet": doc.outlet, "published": doc.published,
            "published_inferred": doc.published_inferred, "source_kind": doc.source_kind, "path": doc.path,
            "language": doc.language, "events": len(analysis.events),
            "chain": json.dumps([s.model_dump(mode="json") for s in analysis.document_chain], ensure_ascii=False),
            "warnings": json.dumps(analysis.warnings, ensure_ascii=False)}


def open_sink(target: str) -> Sink:
    """``sqlite:///…``/``postgresql://…`` or a ``.db`` file → the store; anything else → a Parquet directory."""
    if "://" in target:
        return StoreSink(target)
    if target.lower().endswith(DB_SUFFIXES):
        return StoreSink(f"sqlite:///{target}")
    return ParquetSink(target)


# ----------------------------------------------------------------------------------------------- running

Result = Analysis | InputFailure


def run_batch(inputs: Sequence[str | Path], outputs: Sequence[str], *, engine: str = "local", workers: int = 1,
              batch_size: int = 32, ray_address: str | None = None, window: int = RAY_WINDOW,
              flush_every: int = FLUSH_EVERY, local_engine: Engine | None = None,
              on_progress: Callable[[BatchStats], None] | None = None) -> BatchStats:
    """Analyse every input document not already in every output; write results to all outputs.

    ``engine``: ``local`` (spaCy processes; ``local_engine`` reuses a loaded Engine) or ``ray``.
    ``on_progress`` is called after each flush with the running :class:`BatchStats`.
    """
    if engine not in ENGINES:
        raise InputError(f"Unknown engine {engine!r}.", code="E310", hint="Use --engine local or --engine ray.")
    if not outputs:
        raise InputError("No output given.", code="E311", hint="Pass --out a database URL or a directory.")
    runner = _ray_runner(workers, batch_size, ray_address, window) if engine == "ray" else None
    sinks = [open_sink(o) for o in outputs]
    stats = BatchStats()
    try:
        todo = _to_do(iter_documents(inputs), sinks, stats)
        results = runner(todo) if runner else _run_local(todo, workers, batch_size, local_engine)
        _write_results(results, sinks, stats, flush_every, on_progress)
    finally:
        for sink in sinks:
            sink.close()
    return stats


def _to_do(items: Iterator[InputItem], sinks: Sequence[Sink], stats: BatchStats) -> Iterator[InputItem]:
    """Input failures pass through (to be recorded); documents finished in every sink, or met before in this
    run, are skipped; the rest go on to be analysed."""
    seen: set[str] = set()
    while chunk := list(islice(items, READ_CHUNK)):
        stats.read += len(chunk)
        docs = [i for i in chunk if isinstance(i, Document)]
        finished = _finished_everywhere(sinks, [d.id for d in docs])
        for item in chunk:
            if isinstance(item, InputFailure):
                yield item
            elif item.id in finished or item.id in seen:
                stats.skipped += 1
            else:
                seen.add(item.id)
                yield item


def _finished_everywhere(sinks: Sequence[Sink], doc_ids: list[str]) -> set[str]:
    finished = set(doc_ids)
    for sink in sinks:
        finished &= sink.finished(doc_ids)
    return finished


def _write_results(results: Iterable[Result], sinks: Sequence[Sink], stats: BatchStats, flush_every: int,
                   on_progress: Callable[[BatchStats], None] | None) -> None:
    """Collect results and flush them to every sink; what is collected is flushed even on an interruption."""
    from tidings.service import coding_failure

    analyses: list[Analysis] = []
    failures: list[InputFailure] = []

    def flush() -> None:
        for sink in sinks:
            sink.write(analyses, failures)
        stats.done += len(analyses)
        stats.failed += len(failures) + sum(coding_failure(a) is not None for a in analyses)
        stats.events += sum(len(a.events) for a in analyses)
        analyses.clear()
        failures.clear()
        if on_progress is not None:
            on_progress(stats)

    try:
        for result in results:
            (failures if isinstance(result, InputFailure) else analyses).append(result)  # type: ignore[arg-type]
            if len(analyses) + len(failures) >= flush_every:
                flush()
    finally:
        if analyses or failures:
            flush()


# --------------------------------------------------------------------------------------------- local run

def _run_local(items: Iterator[InputItem], workers: int, batch_size: int, engine: Engine | None
               ) -> Iterator[Result]:
    """One process: Engine.analyze_many in batches. Several: one spaCy pipe stream over ``workers``
    processes (started once for the whole run), events coded here as parsed documents come back."""
    if engine is None:
        from tidings import pipeline

        engine = pipeline.Engine()
    documents = _passing_failures(items)
    if workers <= 1:
        for batch in iter(lambda: list(islice(documents, batch_size)), []):
            yield from analyze_safely(engine, batch)
        yield from documents.failures_left()
        return
    # Texts too long for one spaCy call are parsed here, in parts (Engine.parse), not in the workers' stream.
    documents.divert_longer_than(_chunk_chars())
    stream = engine.nlp.pipe(((d.text, d) for d in documents), as_tuples=True, batch_size=batch_size,
                             n_process=workers)
    for parsed, document in stream:
        yield from documents.failures_left()
        yield from _long_ones(engine, documents)
        yield _code_safely(engine, document, parsed)
    yield from documents.failures_left()
    yield from _long_ones(engine, documents)


def _chunk_chars() -> int:
    from tidings import pipeline

    return pipeline.CHUNK_CHARS


def _long_ones(engine: Engine, documents: _passing_failures) -> Iterator[Result]:
    for document in documents.long_left():
        yield from analyze_safely(engine, [document])


class _passing_failures:
    """Documents of a result stream, one at a time; the failures met on the way wait in a list for the
    caller to pass them on (a pipe takes documents only)."""

    def __init__(self, items: Iterator[InputItem]) -> None:
        self._items = items
        self._failures: list[InputFailure] = []
        self._long: list[Document] = []
        self._max_chars: int | None = None

    def divert_longer_than(self, chars: int) -> None:
        """Documents over ``chars`` characters wait in a list too (see :meth:`long_left`)."""
        self._max_chars = chars

    def __iter__(self) -> Iterator[Document]:
        return self

    def __next__(self) -> Document:
        for item in self._items:
            if isinstance(item, InputFailure):
                self._failures.append(item)
            elif self._max_chars is not None and len(item.text) > self._max_chars:
                self._long.append(item)
            else:
                return item
        raise StopIteration

    def failures_left(self) -> list[InputFailure]:
        out, self._failures = self._failures, []
        return out

    def long_left(self) -> list[Document]:
        out, self._long = self._long, []
        return out


def analyze_safely(engine: Engine, documents: list[Document]) -> list[Result]:
    """``engine.analyze_many``; should a document crash it, the batch is redone one by one and the culprit
    becomes an E401 analysis without events (:func:`tidings.service.crashed`) instead of stopping the run."""
    try:
        return list(engine.analyze_many(documents, batch_size=len(documents) or 1))
    except Exception:  # noqa: BLE001 - any bug in any stage; the one document is reported below
        results: list[Result] = []
        for document in documents:
            try:
                results.append(engine.analyze(document))
            except Exception as exc:  # noqa: BLE001
                results.append(_crashed(document, exc))
        return results


def _code_safely(engine: Engine, document: Document, parsed: Any) -> Result:
    try:
        return engine.code(document, parsed)   # the Engine's own coding stages, on a doc parsed elsewhere
    except Exception as exc:  # noqa: BLE001
        return _crashed(document, exc)


def _crashed(document: Document, exc: Exception) -> Analysis:
    from tidings.service import crashed

    return crashed(document, exc)


# ----------------------------------------------------------------------------------------------- Ray run

class RayAnalyzer:
    """The callable class for ``map_batches``: one Engine (one model load) per Ray actor."""

    def __init__(self) -> None:
        from tidings.pipeline import Engine

        self.engine = Engine()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        documents = [Document.model_validate_json(text) for text in batch["document"]]
        out: dict[str, list[Any]] = {"analysis": [], "failure": []}
        for result in analyze_safely(self.engine, documents):
            if isinstance(result, InputFailure):
                out["analysis"].append("")
                out["failure"].append(json.dumps([result.ref, result.code, result.message]))
            else:
                out["analysis"].append(result.model_dump_json())
                out["failure"].append("")
        return out


def _ray_runner(workers: int, batch_size: int, address: str | None, window: int
                ) -> Callable[[Iterator[InputItem]], Iterator[Result]]:
    """Start (or join) Ray now, so a missing extra or an unreachable cluster fails before any work."""
    from tidings.core.extras import require

    ray = require("ray", "scale", "The Ray engine", code="E312", error=InputError, alternative="use --engine local")
    _init_ray(ray, workers, address)

    def run(items: Iterator[InputItem]) -> Iterator[Result]:
        while window_items := list(islice(items, window)):
            yield from (i for i in window_items if isinstance(i, InputFailure))
            documents = [i for i in window_items if isinstance(i, Document)]
            if documents:
                yield from _run_window(ray, documents, workers, batch_size)

    return run


def _init_ray(ray: Any, workers: int, address: str | None) -> None:
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    env = {k: v for k, v in os.environ.items() if k.startswith("TIDINGS_")}
    options: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
                               "ignore_reinit_error": True}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=max(1, workers), include_dashboard=False, **options)
    ray.data.DataContext.get_current().enable_progress_bars = False


def _run_window(ray: Any, documents: list[Document], workers: int, batch_size: int) -> Iterator[Result]:
    dataset = ray.data.from_items([{"document": d.model_dump_json()} for d in documents])
    analysed = dataset.map_batches(RayAnalyzer, batch_size=batch_size, batch_format="numpy",
                                   compute=ray.data.ActorPoolStrategy(size=max(1, workers)), num_cpus=1)
    for row in analysed.iter_rows():
        if row["failure"]:
            ref, code, message = json.loads(row["failure"])
            yield InputFailure(ref, code, message)
        else:
            yield Analysis.model_validate_json(row["analysis"])


def shutdown_ray() -> None:
    """Stop the Ray this process started (tests; the CLI exits anyway)."""
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()
