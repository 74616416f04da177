"""Who says so: the document's chain of sources and the speaker of each statement.

A chain runs from the article's outlet to the original speaker: ``RBK-Ukraine → The New York Times →
officials (anonymous)``. It has two parts. The *document chain* comes from metadata (the outlet)
and from sentences about the article itself ("This was reported by X citing Y", a "(Reuters) -"
dateline). The *sentence chain* comes from reporting verbs whose content clause holds the event
("officials said …", "NYT reports", "X told journalists that …", "according to X"), nested
outermost first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from spacy.tokens import Doc, Token
from spacy.tokens import Span as SpacySpan

from tidings.core.records import Document, Source, Span
from tidings.core.settings import LANGUAGE_DIR
from tidings.stages.nlp import entity_of, sentences

__all__ = ["Attribution", "Cues", "attribute_document", "chain_for", "document_chain", "find_attributions", "load_cues",
           "merge_chains"]

_DATELINE = re.compile(r"^\s*[A-Z][A-Za-z .,'/-]{1,60}\((?P<agency>[A-Z][\w .&-]{1,30})\)\s*[-—–]")


@dataclass(frozen=True)
class Cues:
    """Word lists for attribution and modality, read from ``data/en/cues.json``."""

    reporting_verbs: frozenset[str]
    hearer_verbs: frozenset[str]
    anonymous_heads: frozenset[str]
    anonymity_phrases: tuple[str, ...]
    official_heads: frozenset[str]
    analyst_heads: frozenset[str]
    media_heads: frozenset[str]
    outlets: dict[str, tuple[str, str]]      # folded alias → (canonical name, kind)
    hedge_words: frozenset[str]
    hedge_verbs: frozenset[str]
    negation_words: frozenset[str]
    negating_verbs: frozenset[str]
    negating_nouns: frozenset[str]
    future_words: frozenset[str]
    future_verbs: frozenset[str]
    historical_adverbs: frozenset[str]
    historical_preps: frozenset[str]
    historical_nouns: frozenset[str]
    aspectual_verbs: frozenset[str]
    control_verbs: frozenset[str]
    social_media: tuple[str, ...]
    outlet_names: tuple[tuple[str, str, str], ...] = ()   # (alias as written, canonical name, kind)
    conditional_markers: frozenset[str] = frozenset()
    future_nouns: frozenset[str] = frozenset()
    future_adjectives: frozenset[str] = frozenset()
    accusation_verbs: frozenset[str] = frozenset()
    hedging_speech: frozenset[str] = frozenset()     # "claimed", "alleged": what follows is not established
    non_agent_subjects: frozenset[str] = frozenset()
    extras: dict[str, object] = field(default_factory=dict)

    def outlet_aliases(self) -> dict[str, tuple[str, str]]:
        """Every alias as written (with and without a leading "The") → (canonical name, kind)."""
        out: dict[str, tuple[str, str]] = {}
        for alias, name, kind in self.outlet_names:
            out[alias] = (name, kind)
            if alias.startswith("The "):
                out[alias[4:]] = (name, kind)
            elif alias[:1].isupper() and " " in alias:
                out["the " + alias] = (name, kind)
                out["The " + alias] = (name, kind)
        return out

    def outlet(self, text: str) -> tuple[str, str] | None:
        """Canonical name and kind of a news outlet or agency, if ``text`` names one."""
        return self.outlets.get(_fold(text))


def _fold(text: str) -> str:
    text = text.lower().strip().strip("\"'“”‘’")
    text = re.sub(r"^the\s+", "", text)
    return re.sub(r"[\s\-‐–]+", " ", text)


def _words(data: dict[str, object], key: str) -> frozenset[str]:
    value = data.get(key, [])
    if isinstance(value, dict):
        items: Iterable[object] = [w for group in value.values() for w in (group if isinstance(group, list) else [])]
    else:
        items = value if isinstance(value, list) else []
    return frozenset(str(w).lower() for w in items if isinstance(w, str))


@lru_cache(maxsize=4)
def load_cues(data_dir: Path = LANGUAGE_DIR) -> Cues:
    """Read ``cues.json``; see ``data/README.md`` for its fields."""
    data = json.loads((data_dir / "cues.json").read_text("utf-8"))
    outlets: dict[str, tuple[str, str]] = {}
    written: list[tuple[str, str, str]] = []
    for row in data.get("outlets", []):
        name, kind = row["name"], row.get("kind", "outlet")
        for alias in [name, *row.get("aliases", [])]:
            outlets[_fold(alias)] = (name, kind)
            written.append((alias, name, kind))
    return Cues(
        reporting_verbs=_words(data, "reporting_verbs"),
        hearer_verbs=_words(data, "hearer_verbs"),
        anonymous_heads=_words(data, "anonymous_heads"),
        anonymity_phrases=tuple(sorted(_words(data, "anonymity_phrases"))),
        official_heads=_words(data, "official_heads"),
        analyst_heads=_words(data, "analyst_heads"),
        media_heads=_words(data, "media_heads"),
        outlets=outlets,
        outlet_names=tuple(written),
        hedge_words=_words(data, "hedge_words"),
        hedge_verbs=_words(data, "hedge_verbs"),
        negation_words=_words(data, "negation_words"),
        negating_verbs=_words(data, "negating_verbs"),
        negating_nouns=_words(data, "negating_nouns"),
        future_words=_words(data, "future_words"),
        future_verbs=_words(data, "future_verbs"),
        historical_adverbs=_words(data, "historical_adverbs"),
        historical_preps=_words(data, "historical_preps"),
        historical_nouns=_words(data, "historical_nouns"),
        aspectual_verbs=_words(data, "aspectual_verbs"),
        control_verbs=_words(data, "control_verbs"),
        social_media=tuple(sorted(_words(data, "social_media"))),
        conditional_markers=frozenset(m for m in _words(data, "conditional") if " " not in m),
        future_nouns=_words(data, "future_nouns"),
        future_adjectives=frozenset(w.lower() for w in data.get("intent", {}).get("adjectives", [])),
        accusation_verbs=_words(data, "accusation_verbs"),
        hedging_speech=frozenset(w.lower() for w in data.get("reporting_verbs", {}).get("hedging", []))
        if isinstance(data.get("reporting_verbs"), dict) else frozenset(),
        non_agent_subjects=_words(data, "non_agent_subjects"),
    )


@dataclass(frozen=True)
class Attribution:
    """A speaker and the tokens their statement covers in one sentence."""

    source: Source
    cue: int                  # token index of the reporting verb / "according"
    scope: frozenset[int]     # token indices the statement covers
    depth: int                # 0 = outermost


def _span(doc: Doc, start: int, end: int) -> Span:
    """A record Span for doc tokens [start, end)."""
    s = doc[start:end]
    return Span(start=s.start_char, end=s.end_char, text=s.text)


_TRIM_DEPS = {"relcl", "acl", "punct", "advcl", "prep", "cc"}


def _phrase(token: Token) -> SpacySpan:
    """The noun phrase of ``token``: its subtree without relative clauses and trailing punctuation."""
    doc = token.doc
    keep = [token]
    stack = [c for c in token.children if c.dep_ not in _TRIM_DEPS or (c.dep_ == "prep" and c.i < token.i)]
    while stack:
        child = stack.pop()
        keep.append(child)
        stack.extend(c for c in child.children if c.dep_ not in ("relcl", "acl"))
    start, end = min(t.i for t in keep), max(t.i for t in keep) + 1
    while end - 1 > start and (doc[end - 1].is_punct or doc[end - 1].is_space):
        end -= 1
    while start < end - 1 and (doc[start].is_punct or doc[start].lower_ in ("the", "a", "an")):
        start += 1
    return doc[start:end]


def _describe(phrase: SpacySpan, sentence: SpacySpan, cues: Cues, verb: Token | None) -> Source:
    """Classify a speaker phrase into a Source (outlet, official, analyst, anonymous, …)."""
    person = _person_in(phrase.root)
    if person is not None and not (person.start >= phrase.start and person.end <= phrase.end):
        # "the leader of the group X, Abu Mohammad al-Julani": the person is the speaker's name.
        phrase = phrase.doc[min(phrase.start, person.start):max(phrase.end, person.end)]
        if len(phrase) > 12:
            phrase = person
    text = phrase.text
    known = _known_outlet(phrase, cues)
    span = Span(start=phrase.start_char, end=phrase.end_char, text=text)
    if known:
        return Source(name=known[0], kind=known[1], anonymous=False, span=span)  # type: ignore[arg-type]
    head = phrase.root
    named = any(t.ent_type_ in ("PERSON", "ORG", "GPE", "NORP") and t.pos_ == "PROPN" for t in phrase)
    names_person = any(t.ent_type_ == "PERSON" for t in phrase)
    sent_lower = sentence.text.lower()
    anonymous = (not named and head.lemma_.lower() in cues.anonymous_heads) or (
        not names_person and any(p in sent_lower for p in cues.anonymity_phrases)
    )
    lemma = head.lemma_.lower()
    words = {t.lemma_.lower() for t in phrase}
    kind = "person"
    if verb is not None and any(m in sent_lower for m in cues.social_media):
        kind = "social_media"
    elif words & cues.analyst_heads:
        kind = "analyst"
    elif lemma in cues.media_heads and (lemma != "agency" or words & {"news", "press", "wire"}):
        kind = "outlet"  # a news agency, not an intelligence or space agency
    elif words & cues.official_heads:
        kind = "official"
    elif head.ent_type_ in ("ORG", "GPE"):
        kind = "government" if head.ent_type_ == "GPE" else "organization"
    if anonymous:
        kind = "anonymous" if kind == "person" else kind
    return Source(name=text, kind=kind, anonymous=anonymous, span=span)  # type: ignore[arg-type]


def _person_in(head: Token) -> SpacySpan | None:
    """A PERSON entity in the speaker's appositions or ``of``-phrases."""
    for token in head.subtree:
        if token.ent_type_ == "PERSON" and token.ent_iob_ == "B" and token.dep_ in ("appos", "compound", "pobj",
                                                                                     "nsubj", "ROOT"):
            ent = entity_of(token)
            if ent is not None:
                return ent
        if token.dep_ == "appos" and token.ent_type_ == "PERSON":
            return entity_of(token)
    return None


def _known_outlet(phrase: SpacySpan, cues: Cues) -> tuple[str, str] | None:
    found = cues.outlet(phrase.text)
    if found:
        return found
    for ent in phrase.ents:
        found = cues.outlet(ent.text)
        if found:
            return found
    # "the American newspaper The New York Times": try every suffix of the phrase.
    for i in range(len(phrase)):
        found = cues.outlet(phrase[i:].text)
        if found:
            return found
    return None


def _speaker_token(verb: Token) -> Token | None:
    speaker = _own_speaker(verb)
    if speaker is None and verb.dep_ in ("advcl", "conj", "xcomp") and verb.tag_ in ("VBG", "VBD", "VBZ", "VBP", "VB") \
            and not any(c.dep_ in ("mark", "nsubjpass", "auxpass") for c in verb.children):
        # "X spoke out on Tuesday, arguing that …", "X said …, citing …", "X rose and said …": the participle or
        # the conjoined verb shares the subject of the verb it hangs on.
        speaker = _own_speaker(verb.head)
    return speaker


def _own_speaker(verb: Token) -> Token | None:
    for child in verb.children:
        if child.dep_ in ("nsubj", "nsubjpass") and not (child.dep_ == "nsubjpass" and child.lower_ in ("it", "this")):
            if child.dep_ == "nsubjpass":
                continue  # "Evacuations are reported …": the subject is the content, not the speaker
            return child
        if child.dep_ == "agent":
            for pobj in child.children:
                if pobj.dep_ == "pobj":
                    return pobj
    return None


def _is_expletive_passive(verb: Token) -> bool:
    """"It is noted that …": the article's own voice, not a source."""
    return any(c.dep_ == "nsubjpass" and c.lower_ == "it" for c in verb.children)


def find_attributions(sentence: SpacySpan, cues: Cues, last_speaker: Source | None = None) -> list[Attribution]:
    """Every speaker in ``sentence`` and the tokens their statement covers."""
    found: list[Attribution] = []
    for token in sentence:
        lemma = token.lemma_.lower()
        if lemma == "accord" and token.lower_ == "according":
            found.extend(_according_to(token, sentence, cues))
        elif token.pos_ in ("VERB", "AUX") and lemma in cues.reporting_verbs:
            att = _reporting_verb(token, sentence, cues, last_speaker)
            if att is not None:
                found.append(att)
    # Depth: an attribution inside another's scope is nested deeper.
    ranked = []
    for att in found:
        depth = sum(1 for other in found if other is not att and att.cue in other.scope)
        ranked.append(Attribution(att.source, att.cue, att.scope, depth))
    return sorted(ranked, key=lambda a: a.depth)


def attribute_document(spans: list[SpacySpan], cues: Cues) -> list[list[Attribution]]:
    """Each sentence's attributions, with quotations carried across sentences.

    A pronoun speaker ("he said") is the last named speaker. A sentence inside a quotation that runs over
    several sentences ('"We will not retreat," the minister said. "Our forces hold the bridge."') has no
    reporting verb of its own; it is the statement of the speaker of the quotation's attributed part, in the
    sentence before it or, failing that, after it ("…" — opening the quote — then '…," she said').
    """
    found: list[list[Attribution]] = []
    last_speaker: Source | None = None
    for sentence in spans:
        attributions = find_attributions(sentence, cues, last_speaker)
        named = [a.source for a in attributions if not a.source.anonymous]
        if named:
            last_speaker = named[-1]
        found.append(attributions)
    marks = _quote_marks(spans)
    for number, sentence in enumerate(spans):
        ends_inside, whole = marks[number]
        if not whole or found[number]:
            continue
        # The quotation runs into the next sentence, which names its speaker ('"… . …," she said') — else the
        # sentence continues the quotation of the sentence before ('"…," X said. "…"').
        candidates = ([number + 1] if ends_inside else []) + [number - 1]
        for other in candidates:
            if 0 <= other < len(spans) and found[other] and _has_quote(spans[other]):
                speaker = found[other][0].source
                found[number] = [Attribution(speaker, -1, frozenset(t.i for t in sentence), 0)]
                break
    return found


_OPEN, _CLOSE, _EITHER = "“«", "”»", '"'
_MARKS = _OPEN + _CLOSE + _EITHER


def _has_quote(sentence: SpacySpan) -> bool:
    return any(c in sentence.text for c in _MARKS)


def _quote_marks(spans: list[SpacySpan]) -> list[tuple[bool, bool]]:
    """For each sentence: whether it ends inside an open quotation, and whether it lies wholly within quotation
    marks (it starts inside one or opens one at its start, and ends inside it or closes it at its end)."""
    out: list[tuple[bool, bool]] = []
    open_ = False
    for sentence in spans:
        text = sentence.text.strip()
        started_inside = open_
        for char in text:
            if char in _OPEN:
                open_ = True
            elif char in _CLOSE:
                open_ = False
            elif char in _EITHER:
                open_ = not open_
        if len(text) > 2000:   # a stray mark must not quote the rest of a long document
            open_ = False
        opens_at_start = text[:1] in tuple(_OPEN + _EITHER)            # "" (an empty sentence) is in neither
        closes_at_end = text.rstrip(".!?'’ ")[-1:] in tuple(_CLOSE + _EITHER)
        few_marks = sum(text.count(c) for c in _MARKS) <= 2
        out.append((open_, few_marks and (started_inside or opens_at_start) and (open_ or closes_at_end)))
    return out


def _according_to(token: Token, sentence: SpacySpan, cues: Cues) -> list[Attribution]:
    pobj = next((g for c in token.children if c.lower_ == "to" for g in c.children if g.dep_ == "pobj"), None)
    if pobj is None:
        return []
    phrase = _phrase(pobj)
    source = _describe(phrase, sentence, cues, None)
    excluded = {t.i for t in token.subtree}
    scope = frozenset(t.i for t in sentence if t.i not in excluded)
    return [Attribution(source, token.i, scope, 0)]


def _reporting_verb(verb: Token, sentence: SpacySpan, cues: Cues, last_speaker: Source | None) -> Attribution | None:
    if _is_expletive_passive(verb):
        return None
    speaker = _speaker_token(verb)
    doc = verb.doc
    if speaker is None:
        passive = any(c.dep_ == "auxpass" for c in verb.children)
        if not passive:
            return None
        source = Source(name="unnamed sources", kind="anonymous", anonymous=True,
                        span=_span(doc, verb.i, verb.i + 1))
        excluded: set[int] = {verb.i}
    else:
        if speaker.pos_ == "PRON" and speaker.lower_ in ("he", "she", "they", "we", "i"):
            if last_speaker is None:
                return None
            source = last_speaker.model_copy(update={"span": _span(doc, speaker.i, speaker.i + 1)})
        elif speaker.pos_ == "PRON" or speaker.lower_ in ("this", "that"):
            return None
        else:
            source = _describe(_phrase(speaker), sentence, cues, verb)
        excluded = {t.i for t in speaker.subtree} | {verb.i}
    if verb.lemma_.lower() in cues.hearer_verbs:
        for child in verb.children:
            if child.dep_ in ("dobj", "dative") and child.pos_ in ("NOUN", "PROPN", "PRON"):
                excluded |= {t.i for t in child.subtree}
    scope = frozenset(t.i for t in _content_tokens(verb) if t.i not in excluded)
    if not scope and verb.dep_ in ("parataxis", "ccomp") and verb.head.i < verb.i and verb.head.pos_ in ("VERB", "AUX"):
        # "Russian troops attacked the town, officials said": the parse hangs the reporting verb under the
        # act it reports; the content is the head's clause without the reporting verb's own subtree.
        own = {t.i for t in verb.subtree}
        scope = frozenset(t.i for t in verb.head.subtree if t.i not in own and t.i not in excluded)
    if verb.dep_ in ("ROOT",) and verb.i > sentence.start and _quote_before(verb, sentence):
        # '"…," officials said.' — the quote before the verb is the content even when the parse
        # attaches part of it elsewhere.
        scope = scope | frozenset(t.i for t in sentence if t.i < verb.i and t.i not in excluded)
    if not scope:
        return None
    return Attribution(source, verb.i, scope, 0)


#: Dependents of a reporting verb that carry what was said: its clause and object ("said [that …]", "reported
#: [three deaths]", quotes hung as parataxis). Adverbials ("after the meeting", "when she resigned"),
#: conjoined verbs and the speaker are not the statement.
_CONTENT_DEPS = frozenset({"ccomp", "xcomp", "parataxis", "dobj", "obj", "attr", "oprd", "dep"})
#: Prepositions whose object is the topic of the statement ("warned of an attack", "spoke about the strike").
_CONTENT_PREPS = frozenset({"about", "of", "over", "against", "on"})


#: Adverbial clauses that are part of what was said — its reason or condition ("said the claim was false,
#: because …", "warned that …, if …") — unlike those that only time the saying ("when she resigned").
_CONTENT_MARKS = frozenset({"because", "since", "if", "unless", "although", "though", "so"})


def _content_tokens(verb: Token) -> list[Token]:
    """The tokens of what ``verb`` reports: the subtrees of its content dependents."""
    out: list[Token] = []
    for child in verb.children:
        if child.dep_ in _CONTENT_DEPS or (child.dep_ == "prep" and child.lower_ in _CONTENT_PREPS
                                           and not any(g.ent_type_ in ("DATE", "TIME") for g in child.children)) \
                or (child.dep_ == "advcl" and any(m.dep_ == "mark" and m.lower_ in _CONTENT_MARKS
                                                  for m in child.children)):
            out.extend(child.subtree)
    return out


def _quote_before(verb: Token, sentence: SpacySpan) -> bool:
    return any(t.text in ('"', "“", "”") for t in sentence if t.i < verb.i)


def chain_for(token_index: int, attributions: list[Attribution]) -> list[Source]:
    """The speakers whose statements cover ``token_index``, outermost first."""
    return [a.source for a in attributions if token_index in a.scope and a.cue != token_index]


def merge_chains(*chains: Iterable[Source]) -> list[Source]:
    """Concatenate chains, dropping a link that repeats the one before it (same outlet named twice)."""
    merged: list[Source] = []
    for chain in chains:
        for link in chain:
            if merged and _fold(merged[-1].name) == _fold(link.name):
                continue
            if any(_fold(m.name) == _fold(link.name) and m.kind in ("outlet", "agency") for m in merged):
                continue
            merged.append(link)
    return merged


def document_chain(doc: Doc, document: Document, cues: Cues) -> list[Source]:
    """Outlet from metadata, then sources the text names for the whole article."""
    chain: list[Source] = []
    if document.outlet:
        name, kind = cues.outlet(document.outlet) or (document.outlet, "outlet")
        chain.append(Source(name=name, kind=kind, anonymous=False))  # type: ignore[arg-type]
    match = _DATELINE.match(doc.text)
    if match:
        name, kind = cues.outlet(match.group("agency")) or (match.group("agency").strip(), "agency")
        start, end = match.span("agency")
        chain.append(Source(name=name, kind=kind, span=Span(start=start, end=end, text=match.group("agency"))))  # type: ignore[arg-type]
    for sentence in sentences(doc):
        chain.extend(_about_article(sentence, cues))
    return merge_chains(chain)


#: Verbs that say an article was published from another's report ("This was reported by X", "X reported
#: this"): narrower than the reporting verbs, since "Clinton cited it as an example" or "It was first declared
#: by Nixon" are statements inside the story, not the story's provenance.
_PUBLICATION_VERBS = frozenset({"report", "publish", "write", "broadcast", "air", "print"})


def _about_article(sentence: SpacySpan, cues: Cues) -> list[Source]:
    """"This was reported by X citing Y" / "X reported this, citing Y": a sentence about the article.

    The speaker must be named (a pronoun — "He said it over and over", "I write this because" — says nothing
    about where the article comes from) and the verb one of publication."""
    root = sentence.root
    if root.lemma_.lower() not in _PUBLICATION_VERBS:
        return []
    subject = next((c for c in root.children if c.dep_ in ("nsubjpass", "nsubj")), None)
    links: list[Source] = []
    if subject is not None and subject.dep_ == "nsubjpass" and subject.lower_ in ("this", "it"):
        agent = next((g for c in root.children if c.dep_ == "agent" for g in c.children if g.dep_ == "pobj"), None)
        if agent is not None and agent.pos_ != "PRON":
            links.append(_describe(_phrase(agent), sentence, cues, None))
    elif subject is not None and subject.pos_ != "PRON" and any(
            c.lower_ in ("this", "it") and c.dep_ == "dobj" for c in root.children):
        links.append(_describe(_phrase(subject), sentence, cues, None))
    if not links:
        return []
    for token in sentence:
        if token.lemma_.lower() == "cite":
            obj = next((c for c in token.children if c.dep_ == "dobj"), None)
            if obj is not None and obj.pos_ != "PRON":
                links.append(_describe(_phrase(obj), sentence, cues, None))
    return links
