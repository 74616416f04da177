"""The Engine: the one place that knows the order of the stages.

``ingest → nlp (spaCy, batched) → mentions (actors, places, times) → attribution → events → casualties``.
The model and the data tables are loaded once per process and shared by every call.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

from spacy.tokens import Doc

from tidings import when as time_rules
from tidings.actors import ActorDictionary
from tidings.attribution import attribute_document, document_chain, load_cues
from tidings.casualties import attach_casualties, load_rules
from tidings.coder import NONE as NONE_LABEL
from tidings.events import TriggerTable, codable, code_as, code_sentence, retyped
from tidings.ingest import InputFailure, read_text
from tidings.intent import recode_intentions
from tidings.mentions import DocContext
from tidings.nlp import load_nlp, sentences
from tidings.places import Gazetteer, outlet_country
from tidings.records import Analysis, Document, Event, Source
from tidings.settings import Settings

if TYPE_CHECKING:
    from tidings.coder import LearnedCoder

__all__ = ["CHUNK_CHARS", "CODING_FAILED", "FUTURE_PUBLICATION", "Engine", "StageTimer", "analyze", "default_engine", "split_text"]

log = logging.getLogger("tidings")
#: Warning prefix (and error code) of a document whose coding raised: a bug, stored and reported.
CODING_FAILED = "E401"
#: Warning prefix of a document whose inferred publication date lies after the day it was ingested (rejected).
FUTURE_PUBLICATION = "E402"
#: Texts longer than this are parsed in parts cut at paragraph or sentence ends, then joined into one Doc
#: whose offsets are those of the whole text (spaCy refuses texts over ``nlp.max_length`` with E088, and its
#: memory grows with the length of one call). Articles are far shorter; only the rare huge text is split.
#: The longest text analysed at all is :data:`tidings.ingest.MAX_CHARS` (longer ones are refused, E119).
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
                from tidings.errors import InputError

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
        """Run every stage after NLP on ``doc``, a parse of ``document.text`` by :attr:`nlp`.

        Public for runners that manage their own ``nlp.pipe`` stream (the Ray and local batch engines).
        """
        timer = self.timer
        warnings: list[str] = []
        with timer.stage("time"):
            document, note = _with_publication_date(document)
            if note:
                warnings.append(note)
            anchor_kind = "inferred" if document.published_inferred else "published"
        with timer.stage("places"):
            ctx = DocContext.build(doc, document.published, anchor_kind, self.actors, self.gazetteer,
                                   outlet_country(url=document.url, outlet=document.outlet, meta=document.meta))
        with timer.stage("attribution"):
            doc_chain = document_chain(doc, document, self.cues)
        per_sentence: list[list[Event]] = []
        spans = list(sentences(doc))
        with timer.stage("attribution"):
            sentence_attributions = attribute_document(spans, self.cues)
        for number, sentence in enumerate(spans):
            attributions = sentence_attributions[number]
            with timer.stage("events"):
                per_sentence.append(code_sentence(sentence, number, ctx, self.triggers, self.cues, attributions,
                                                  doc_chain, self.settings.coder, document.id))
            with timer.stage("actors"):
                ctx.note_subject(sentence)
        if self.learned is not None:
            with timer.stage("learned"):
                per_sentence = self._learned_pass(spans, per_sentence, sentence_attributions, ctx, doc_chain,
                                                  document.id)
        events = [event for found in per_sentence for event in found]
        if self.settings.strict_plover:
            with timer.stage("events"):
                events = recode_intentions(doc, events, self.cues, doc_chain)
        with timer.stage("casualties"):
            events = attach_casualties(doc, events, self.casualty_rules)
        with timer.stage("actors"):
            for event in events:
                for role, actor in (("source", event.source_actor), ("target", event.target_actor)):
                    if actor is not None:
                        ctx.record_actor(actor, role, event.sentence)
        for link in doc_chain:
            if link.span is not None:
                from tidings.records import Mention

                ctx.mentions.append(Mention(kind="source", span=link.span, label=link.kind,
                                            value={"name": link.name, "anonymous": link.anonymous}))
        if document.published is None:
            warnings.append("no publication date: relative dates are left unresolved")
        return Analysis(document=document, events=_dedupe(events), mentions=ctx.mentions,
                        document_chain=doc_chain, warnings=warnings)

    def _learned_pass(self, spans: list, per_sentence: list[list[Event]], attributions: list,
                      ctx: DocContext, doc_chain: list[Source], doc_id: str) -> list[list[Event]]:
        """The learned layer (:mod:`tidings.coder`) judges every rule event and every sentence the rules left
        empty whose main verb has an actor for subject or object, in one encoder call: rule events are kept
        (with the model's confidence), retyped or dropped; an empty sentence the model is sure of is coded on
        its main verb (:func:`tidings.coder.decide`)."""
        learned = self.learned
        assert learned is not None
        rows: list[tuple[int, Event | None]] = []
        for number, (sentence, found) in enumerate(zip(spans, per_sentence, strict=True)):
            if found:
                rows.extend((number, event) for event in found)
            elif codable(sentence, ctx, self.cues):
                rows.append((number, None))
        if not rows:
            return per_sentence
        found_types = [sorted({e.type for e in per_sentence[number]}) for number, _ in rows]
        numbers = sorted({number for number, _ in rows})
        vectors = learned.encode([spans[number].text for number in numbers])
        position = {number: i for i, number in enumerate(numbers)}
        verdicts = learned.judge_vectors(vectors[[position[number] for number, _ in rows]],
                                         [event.type if event else None for _, event in rows], found_types)
        out: list[list[Event]] = [[] for _ in spans]
        for (number, event), verdict in zip(rows, verdicts, strict=True):
            coded = learned.decide(event.type if event else None, verdict.label, verdict.probability)
            if coded == NONE_LABEL:
                continue   # dropped, or nothing to add
            why = {**verdict.why(), "model_name": learned.name}
            if event is None:
                added = code_as(spans[number], number, ctx, coded, self.cues, attributions[number],
                                doc_chain, self.settings.coder, doc_id, self.triggers.intent_lemmas)
                out[number].extend(e.model_copy(update={"confidence": round(verdict.probability, 3),
                                                        "why": {**e.why, **why}}) for e in added)
                continue
            if coded != event.type:
                out[number].append(retyped(event, coded, round(verdict.probability, 3), why))
                continue
            confidence = verdict.probability if verdict.label == event.type else verdict.probability_of(event.type)
            out[number].append(event.model_copy(update={"confidence": round(confidence, 3),
                                                        "why": {**event.why, **why}}))
        return out

_FORKED_ENGINE: Engine | None = None


def _code_batch_in_worker(batch: list[Document]) -> list[Analysis]:
    assert _FORKED_ENGINE is not None, "worker started without an engine"
    return list(_FORKED_ENGINE._run_batch(batch))


def _load_learned(settings: Settings) -> LearnedCoder | None:
    """The learned layer, unless the rules-only coder was asked for (``--coder rules``)."""
    if settings.coder_mode == "rules":
        return None
    from tidings.coder import LearnedCoder

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


def _with_publication_date(document: Document, today: dt.date | None = None) -> tuple[Document, str | None]:
    """Infer a missing publication date from the text, marking it inferred.

    An inferred date after the ingest day (``today``, UTC, one day of slack for time zones) is rejected: no
    report is published after it is read, so such a date can only be a misreading ("2030" in a 2017 text)
    and would anchor every relative date of the article in the future. The date is kept unknown and the
    warning (code :data:`FUTURE_PUBLICATION`) says why."""
    if document.published is not None:
        return document, None
    date, reason = time_rules.infer_publication_date(document.text)
    if date is None:
        return document, None
    latest = (today or dt.datetime.now(dt.UTC).date()) + dt.timedelta(days=1)
    if date > latest:
        return document, (f"{FUTURE_PUBLICATION}: publication date inferred as {date.isoformat()} ({reason}) is "
                          f"after the ingest day; left unknown")
    return (document.model_copy(update={"published": date, "published_inferred": True}),
            f"publication date inferred as {date.isoformat()}: {reason}")


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
