"""The Engine: the one place that knows the order of the stages.

``read → nlp (spaCy, batched) → publication date → names (places, times, actors) → attribution → events →
learned layer → intentions (strict PLOVER) → casualties → mentions``: the parse here, the rest the components registered in
:data:`STAGES` (:mod:`tidings.stages.components`), each called as ``stage(doc, state)``.
The model and the data tables are loaded once per process and shared by every call.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

from spacy.tokens import Doc

from tidings.core.records import Analysis, Document, Event
from tidings.core.settings import Settings
from tidings.read import InputFailure, read_text
from tidings.stages.actors import ActorDictionary
from tidings.stages.attribution import load_cues
from tidings.stages.casualties import load_rules
from tidings.stages.components import (
    FUTURE_PUBLICATION,
    Attributions,
    Casualties,
    DocState,
    Events,
    Gather,
    Intentions,
    Learned,
    Mentions,
    Names,
    PublicationDate,
    Stage,
)
from tidings.stages.events import TriggerTable
from tidings.stages.parser import load_nlp
from tidings.stages.places import Gazetteer

if TYPE_CHECKING:
    from tidings.stages.coder import LearnedCoder

__all__ = ["CHUNK_CHARS", "CODING_FAILED", "FUTURE_PUBLICATION", "STAGES", "Engine", "StageTimer", "analyze",
           "default_engine", "split_text"]

log = logging.getLogger("tidings")
#: Warning prefix (and error code) of a document whose coding raised: a bug, stored and reported.
CODING_FAILED = "E401"
#: Texts longer than this are parsed in parts cut at paragraph or sentence ends, then joined into one Doc
#: whose offsets are those of the whole text (spaCy refuses texts over ``nlp.max_length`` with E088, and its
#: memory grows with the length of one call). Articles are far shorter; only the rare huge text is split.
#: The longest text analysed at all is :data:`tidings.read.MAX_CHARS` (longer ones are refused, E119).
CHUNK_CHARS = 100_000


class StageTimer:
    """Accumulates wall time per stage, so benchmarks can show which stage is slowest."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


class Engine:
    """Loads the model once and analyses documents, one at a time or in batches."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.timer = StageTimer()
        with self.timer.stage("load"):
            self.actors = ActorDictionary.load(self.settings.data_dir / "actors")
            self.gazetteer = Gazetteer.open(self.settings.cache_dir)
            self.cues = load_cues(self.settings.data_dir)
            self.triggers = TriggerTable.load(self.settings.data_dir)
            self.casualty_rules = load_rules(self.settings.data_dir)
            self.nlp = load_nlp(self.settings.model, self.settings.data_dir, self.settings.cache_dir)
            self.learned = _load_learned(self.settings)
        self.stages: list[Stage] = [stage for make in STAGES if (stage := make(self)) is not None]

    # --- public ---------------------------------------------------------------------------------
    def analyze(
        self,
        text: str | Document,
        *,
        published: str | dt.date | None = None,
        outlet: str | None = None,
        url: str | None = None,
        title: str | None = None,
    ) -> Analysis:
        """Analyse one text (or Document). Raises ``InputError`` for input that cannot be analysed."""
        if isinstance(text, Document):
            document = text
        else:
            item = read_text(text, published=published, outlet=outlet, url=url, title=title)
            if isinstance(item, InputFailure):
                from tidings.core.errors import InputError

                raise InputError(item.message, code=item.code)
            document = item
        return next(iter(self.analyze_many([document])))

    def analyze_many(self, documents: Iterable[Document], *, batch_size: int | None = None,
                     n_process: int | None = None) -> Iterator[Analysis]:
        """Analyse documents in batches through ``nlp.pipe``; yields one Analysis per document, in order."""
        size = batch_size or self.settings.batch_size
        processes = n_process or self.settings.n_process
        batches = _batched(documents, size)
        if processes > 1:
            yield from self._run_parallel(batches, processes)
            return
        for batch in batches:
            yield from self._run_batch(batch)

    def _run_parallel(self, batches: Iterator[list[Document]], processes: int) -> Iterator[Analysis]:
        """Whole-pipeline workers: each forked process runs every stage on its batches, so the Python stages
        scale with the processes too (spaCy's own ``n_process`` would parallelise the parser only)."""
        import multiprocessing
        from collections import deque
        from concurrent.futures import Future, ProcessPoolExecutor

        global _FORKED_ENGINE
        _FORKED_ENGINE = self  # inherited by the forked workers: no second model load
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            in_flight: deque[Future[list[Analysis]]] = deque()
            for batch in batches:
                in_flight.append(pool.submit(_code_batch_in_worker, batch))
                if len(in_flight) >= 2 * processes:
                    yield from in_flight.popleft().result()
            while in_flight:
                yield from in_flight.popleft().result()

    # --- stages ---------------------------------------------------------------------------------
    def _run_batch(self, batch: list[Document]) -> Iterator[Analysis]:
        with self.timer.stage("nlp"):
            docs = self._parse_batch(batch)
        for document, doc in zip(batch, docs, strict=True):
            if isinstance(doc, Exception):
                yield _failed(document, "parsing", doc)
                continue
            try:
                yield self.code(document, doc)
            except Exception as exc:
                log.exception("coding failed for document %s", document.id)
                yield _failed(document, "coding", exc)

    def parse(self, text: str) -> Doc:
        """The spaCy parse of ``text`` of any length: texts over :data:`CHUNK_CHARS` are parsed in parts cut
        at paragraph or sentence ends and joined, so offsets stay those of ``text`` (``doc.text == text``)."""
        if len(text) <= CHUNK_CHARS:
            return self.nlp(text)
        parts = list(self.nlp.pipe((text[start:end] for start, end in split_text(text, CHUNK_CHARS)),
                                   batch_size=1))
        with warnings.catch_warnings():   # W102: from_docs drops plain user_data; _join_user_data keeps it
            warnings.simplefilter("ignore", UserWarning)
            doc = Doc.from_docs(parts, ensure_whitespace=False)
        _join_user_data(doc, parts)
        return doc

    def _parse_batch(self, batch: list[Document]) -> list[Doc | Exception]:
        """One ``nlp.pipe`` over the ordinary texts; long ones through :meth:`parse`. Should the pipe raise,
        each document is parsed alone, so a failure costs only the document that caused it."""
        short = [d.text for d in batch if len(d.text) <= CHUNK_CHARS]
        try:
            parsed = iter(list(self.nlp.pipe(short, batch_size=max(1, len(short)))))
        except Exception:
            log.exception("parsing a batch failed; parsing its documents one by one")
            parsed = None
        out: list[Doc | Exception] = []
        for document in batch:
            try:
                if parsed is not None and len(document.text) <= CHUNK_CHARS:
                    out.append(next(parsed))
                else:
                    out.append(self.parse(document.text))
            except Exception as exc:
                log.exception("parsing failed for document %s", document.id)
                out.append(exc)
        return out

    def code(self, document: Document, doc: Doc) -> Analysis:
        """Run every registered stage after NLP (:data:`STAGES`) on ``doc``, a parse of ``document.text`` by
        :attr:`nlp`, each on the state the one before returned.

        Public for runners that manage their own ``nlp.pipe`` stream (the Ray and local batch engines).
        """
        state = DocState(document=document)
        for stage in self.stages:
            with self.timer.stage(stage.name):
                state = stage(doc, state)
        warnings = list(state.warnings)
        if state.document.published is None:
            warnings.append("no publication date: relative dates are left unresolved")
        return Analysis(document=state.document, events=_dedupe(state.events), mentions=state.mentions,
                        document_chain=state.doc_chain, warnings=warnings)


#: The stages after the parse, in the order they run: the one place that knows it. Each entry makes its
#: component from the engine's loaded tables and settings, or None where the settings leave it out (the
#: learned layer under ``--coder rules``). A new stage is a component (:class:`tidings.stages.components.Stage`)
#: and a line here.
STAGES: tuple[Callable[[Engine], Stage | None], ...] = (
    lambda engine: PublicationDate(),
    lambda engine: Names(engine.actors, engine.gazetteer),
    lambda engine: Attributions(engine.cues),
    lambda engine: Events(engine.triggers, engine.cues, engine.settings.coder),
    lambda engine: Learned(engine.learned, Events(engine.triggers, engine.cues, engine.settings.coder))
    if engine.learned is not None else None,
    lambda engine: Gather(),
    lambda engine: Intentions(engine.cues) if engine.settings.strict_plover else None,
    lambda engine: Casualties(engine.casualty_rules),
    lambda engine: Mentions(),
)


_FORKED_ENGINE: Engine | None = None


def _code_batch_in_worker(batch: list[Document]) -> list[Analysis]:
    assert _FORKED_ENGINE is not None, "worker started without an engine"
    return list(_FORKED_ENGINE._run_batch(batch))


def _load_learned(settings: Settings) -> LearnedCoder | None:
    """The learned layer, unless the rules-only coder was asked for (``--coder rules``)."""
    if settings.coder_mode == "rules":
        return None
    from tidings.stages.coder import LearnedCoder

    return LearnedCoder(settings.model_dir)


def _failed(document: Document, stage: str, exc: Exception) -> Analysis:
    return Analysis(document=document, warnings=[
        f"{CODING_FAILED}: {stage} failed ({type(exc).__name__}: {exc}); stored without events"])


def _join_user_data(doc: Doc, parts: list[Doc]) -> None:
    """Carry the components' token-span lists (``[(start, end, ...), ...]``, e.g. the statistical NER's
    spans in ``tidings_ner_spans``) over to the joined Doc, shifted by the tokens of the parts before."""
    offset = 0
    for part in parts:
        for key, value in part.user_data.items():
            if isinstance(key, str) and isinstance(value, list) and all(
                    isinstance(v, tuple) and len(v) >= 2 and isinstance(v[0], int) and isinstance(v[1], int)
                    for v in value):
                doc.user_data.setdefault(key, []).extend((v[0] + offset, v[1] + offset, *v[2:]) for v in value)
        offset += len(part)


def split_text(text: str, limit: int) -> list[tuple[int, int]]:
    """``(start, end)`` parts covering ``text`` exactly, each at most ``limit`` characters, cut after the last
    paragraph break before the limit, else the last line break, else the last sentence end, else the last
    space (a text with none of these is cut at the limit)."""
    parts: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        window = text[start + limit // 2:end]   # never a tiny part: cut in the second half of the window
        for pattern in _CUTS:
            found = None
            for found in pattern.finditer(window):
                pass
            if found is not None:
                end = start + limit // 2 + found.end()
                break
        parts.append((start, end))
        start = end
    parts.append((start, len(text)))
    return parts


_CUTS = (re.compile(r"\n\s*\n\s*"), re.compile(r"\n\s*"), re.compile(r"[.!?][\"'”’)\]]*\s+"), re.compile(r"\s+"))


def _batched(documents: Iterable[Document], size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for document in documents:
        batch.append(document)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _dedupe(events: list[Event]) -> list[Event]:
    """Drop exact repeats (same id) that two triggers of one phrase can produce."""
    seen: set[str] = set()
    out = []
    for event in events:
        if event.id not in seen:
            seen.add(event.id)
            out.append(event)
    return out


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    """The process-wide engine behind :func:`analyze` (created on first use)."""
    return Engine()


def analyze(
    text: str | Document,
    *,
    published: str | dt.date | None = None,
    outlet: str | None = None,
    url: str | None = None,
    title: str | None = None,
) -> Analysis:
    """Analyse one news text: ``tidings.analyze(text, published="2024-12-07")``."""
    return default_engine().analyze(text, published=published, outlet=outlet, url=url, title=title)
