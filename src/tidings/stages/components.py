"""The stages after the parse as components: each is called as ``stage(doc, state)`` and returns the state
with its own fields added, so what one document knows flows one way, stage to stage.

:class:`DocState` is that state: a frozen record, copied (never written) by each stage. The components hold
what they were loaded with (tables, models) and no per-document state. :data:`tidings.pipeline.STAGES`
registers them in order; :class:`tidings.pipeline.Engine` runs them and times each under its ``name``.

Why not spaCy's own pipeline components: they write into the ``Doc`` (``Doc._`` extensions) and run inside
``nlp.pipe``, which is the parser's batch loop; ours need the Document's metadata (publication date, outlet)
and produce records, not token annotations, and the learned layer encodes a document's sentences in one call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from spacy.tokens import Doc
from spacy.tokens import Span as SpacySpan

from tidings.core.records import Document, Event, Mention, Source
from tidings.stages import time as time_rules
from tidings.stages.actors import ActorDictionary
from tidings.stages.attribution import Attribution, Cues, attribute_document, document_chain
from tidings.stages.casualties import CasualtyRules, attach_casualties
from tidings.stages.coder import NONE as NONE_LABEL
from tidings.stages.events import Coding, Sentence, TriggerTable, codable, code_as, code_sentence, retyped
from tidings.stages.intent import recode_intentions
from tidings.stages.mentions import DocContext, actor_mention
from tidings.stages.nlp import sentences
from tidings.stages.places import Gazetteer, outlet_country

if TYPE_CHECKING:
    from tidings.stages.coder import LearnedCoder

__all__ = ["FUTURE_PUBLICATION", "Attributions", "Casualties", "DocState", "Events", "Gather", "Intentions", "Learned",
           "Mentions", "Names", "PublicationDate", "Stage"]

#: Warning prefix of a document whose inferred publication date lies after the day it was ingested (rejected).
FUTURE_PUBLICATION = "E402"


@dataclass(frozen=True)
class DocState:
    """What the stages have found in one document so far. Each stage returns a copy with its fields set."""

    document: Document
    warnings: tuple[str, ...] = ()
    names: DocContext | None = None                      # Names: the places, times and actors it names
    doc_chain: list[Source] = field(default_factory=list)           # Attributions: the article's own chain
    sentences: list[SpacySpan] = field(default_factory=list)
    attributions: list[list[Attribution]] = field(default_factory=list)   # per sentence
    per_sentence: list[list[Event]] = field(default_factory=list)         # Events (and Learned): per sentence
    events: list[Event] = field(default_factory=list)                     # Gather, Intentions, Casualties
    mentions: list[Mention] = field(default_factory=list)                 # Mentions: everything named

    def but(self, **changes: object) -> DocState:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def context(self) -> DocContext:
        assert self.names is not None, "the Names stage runs before this one"
        return self.names


class Stage(Protocol):
    """A stage after the parse: ``name`` for the timer, and a call from one state to the next."""

    name: str

    def __call__(self, doc: Doc, state: DocState) -> DocState: ...


class PublicationDate:
    """A missing publication date inferred from the text (:func:`with_publication_date`)."""

    name = "time"

    def __call__(self, doc: Doc, state: DocState) -> DocState:
        document, note = with_publication_date(state.document)
        return state.but(document=document, warnings=(*state.warnings, note) if note else state.warnings)


class Names:
    """The places, times and (on demand) actors the document names, resolved together
    (:class:`tidings.stages.mentions.DocContext`)."""

    name = "places"

    def __init__(self, actors: ActorDictionary, gazetteer: Gazetteer) -> None:
        self.actors = actors
        self.gazetteer = gazetteer

    def __call__(self, doc: Doc, state: DocState) -> DocState:
        document = state.document
        anchor_kind = "inferred" if document.published_inferred else "published"
        names = DocContext.build(doc, document.published, anchor_kind, self.actors, self.gazetteer,
                                 outlet_country(url=document.url, outlet=document.outlet, meta=document.meta))
        return state.but(names=names)


class Attributions:
    """Who speaks: the article's own chain (outlet, the sources it names for everything) and, per sentence,
    the speakers and the tokens they cover (:mod:`tidings.stages.attribution`)."""

    name = "attribution"

    def __init__(self, cues: Cues) -> None:
        self.cues = cues

    def __call__(self, doc: Doc, state: DocState) -> DocState:
        chain = document_chain(doc, state.document, self.cues)
        spans = list(sentences(doc))
        return state.but(doc_chain=chain, sentences=spans, attributions=attribute_document(spans, self.cues))


class Events:
    """The rule coder (:func:`tidings.stages.events.code_sentence`), sentence by sentence in text order: each
    sentence's subject is noted for the pronouns of the sentences after it."""

    name = "events"

    def __init__(self, triggers: TriggerTable, cues: Cues, coder: str) -> None:
        self.triggers = triggers
        self.cues = cues
        self.coder = coder

    def coding(self, state: DocState) -> Coding:
        return Coding(ctx=state.context, cues=self.cues, doc_chain=state.doc_chain, coder=self.coder,
                      doc_id=state.document.id, intent_lemmas=self.triggers.intent_lemmas)

    def __call__(self, doc: Doc, state: DocState) -> DocState:
        coding = self.coding(state)
        per_sentence: list[list[Event]] = []
        for number, span in enumerate(state.sentences):
            per_sentence.append(code_sentence(Sentence(span, number, state.attributions[number]), coding,
                                              self.triggers))
            state.context.note_subject(span)
        return state.but(per_sentence=per_sentence)


class Learned:
    """The learned layer (:mod:`tidings.stages.coder`) judges every rule event and every sentence the rules left
    empty whose main verb has an actor for subject or object, in one encoder call: rule events are kept
    (with the model's confidence), retyped or dropped; an empty sentence the model is sure of is coded on
    its main verb (:func:`tidings.stages.coder.decide`)."""

    name = "learned"

    def __init__(self, learned: LearnedCoder, events: Events) -> None:
        self.learned = learned
        self.events = events

    def __call__(self, doc: Doc, state: DocState) -> DocState:
        learned, spans, per_sentence = self.learned, state.sentences, state.per_sentence
        cues = self.events.cues
        rows: list[tuple[int, Event | None]] = []
        for number, (sentence, found) in enumerate(zip(spans, per_sentence, strict=True)):
            if found:
                rows.extend((number, event) for event in found)
            elif codable(sentence, state.context, cues):
                rows.append((number, None))
        if not rows:
            return state
        coding = self.events.coding(state)
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
                added = code_as(Sentence(spans[number], number, state.attributions[number]), coding, coded)
                out[number].extend(e.model_copy(update={"confidence": round(verdict.probability, 3),
                                                        "why": {**e.why, **why}}) for e in added)
                continue
            if coded != event.type:
                out[number].append(retyped(event, coded, round(verdict.probability, 3), why))
                continue
            confidence = verdict.probability if verdict.label == event.type else verdict.probability_of(event.type)
            out[number].append(event.model_copy(update={"confidence": round(confidence, 3),
                                                        "why": {**event.why, **why}}))
        return state.but(per_sentence=out)


class Gather:
    """The sentences' events in one list, in text order."""

    name = "events"

    def __call__(self, doc: Doc, state: DocState) -> DocState:
        return state.but(events=[event for found in state.per_sentence for event in found])


class Intentions:
    """Stated intentions and refusals recoded as strict PLOVER codes them (:mod:`tidings.stages.intent`), after the
    learned layer; registered only with ``Settings.strict_plover``."""

    name = "events"

    def __init__(self, cues: Cues) -> None:
        self.cues = cues

    def __call__(self, doc: Doc, state: DocState) -> DocState:
        return state.but(events=recode_intentions(doc, state.events, self.cues, state.doc_chain))


class Casualties:
    """Each sentence's casualty figures on its nearest event (:mod:`tidings.stages.casualties`)."""

    name = "casualties"

    def __init__(self, rules: CasualtyRules) -> None:
        self.rules = rules

    def __call__(self, doc: Doc, state: DocState) -> DocState:
        return state.but(events=attach_casualties(doc, state.events, self.rules))


class Mentions:
    """Everything the document names: its places and times (from Names), the actors of its events, and the
    sources of its own attribution chain."""

    name = "actors"

    def __call__(self, doc: Doc, state: DocState) -> DocState:
        mentions = list(state.context.mentions)
        for event in state.events:
            for role, actor in (("source", event.source_actor), ("target", event.target_actor)):
                if actor is not None and (mention := actor_mention(actor, role, event.sentence)) is not None:
                    mentions.append(mention)
        for link in state.doc_chain:
            if link.span is not None:
                mentions.append(Mention(kind="source", span=link.span, label=link.kind,
                                        value={"name": link.name, "anonymous": link.anonymous}))
        return state.but(mentions=mentions)


def with_publication_date(document: Document, today: dt.date | None = None) -> tuple[Document, str | None]:
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
