"""What the stages read of a spaCy parse: sentences, the entity a token is in, datelines, and the two
small components tidings adds to the model (line breaks as sentence ends, the statistical NER's spans kept
before the entity ruler overwrites them). Loading the model with them is :mod:`tidings.stages.parser`.
"""

from __future__ import annotations

import bisect
import re

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Token
from spacy.tokens import Span as SpacySpan

__all__ = ["DATELINE", "ENTITY_RULER", "NER_SPANS", "entity_of", "is_common_word", "sentences"]

ENTITY_RULER = "tidings_entity_ruler"
#: ``doc.user_data`` key: the statistical NER's name spans (start, end, label) before the ruler overwrote them.
NER_SPANS = "tidings_ner_spans"
_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
# "KHARTOUM, Dec 5 (Reuters) -", "NAIROBI, Kenya (AP) —", "EDMONTON, Ky. (WBKO) --", "BEIRUT —"
DATELINE = re.compile(
    r"(?:^|\n|(?<=[.!?:]\s)|(?<=\d\d\d\d\s))[ \t]*(?P<city>[A-Z][A-Z'’.\-]*[A-Z.](?:[ ][A-Z][A-Z'’.\-]*[A-Z.]){0,3})"
    r"(?:,[ ]*(?:(?P<date>" + _MONTHS + r"[ ]+\d{1,2}(?:,[ ]*\d{4})?)|"
    r"(?P<qual>[A-Z][A-Za-z.]*(?:[ ][A-Z][A-Za-z.]*){0,2})))?"
    r"(?:,[ ]*" + _MONTHS + r"[ ]+\d{1,2}(?:,[ ]*\d{4})?)?"
    r"[ ]*(?:\([^()\n]{1,40}\))?[ ]*(?:—|–|--|-|:)[ ]", re.MULTILINE)
#: datelines open an article (or the article after its headline)
DATELINE_REACH = 600
_KEPT_NER_LABELS = frozenset({"PERSON", "ORG", "FAC", "WORK_OF_ART", "EVENT", "PRODUCT", "LAW"})


@Language.component("tidings_line_breaks")
def line_breaks(doc: Doc) -> Doc:
    """A line break ends a sentence: paragraphs in news text never continue across one; nor does a dateline.

    "KHARTOUM, Dec 5 (Reuters) - Sudan's army agreed …": the parser would make the city the subject
    of "agreed"; the dateline is a sentence of its own, so the clause after it parses as written.
    """
    match = DATELINE.search(doc.text[:DATELINE_REACH])
    if match is not None:
        after = doc.char_span(match.end(), match.end() + 1, alignment_mode="expand")
        if after is not None and after.start > 0:
            doc[after.start].is_sent_start = True
    if "\n" not in doc.text:
        return doc
    # Only whitespace tokens can hold a line break; find them in the array, not by creating every Token.
    for i in numpy.nonzero(doc.to_array("IS_SPACE"))[0]:
        if i + 1 < len(doc) and "\n" in doc[int(i)].text:
            doc[int(i) + 1].is_sent_start = True
    return doc


@Language.component("tidings_keep_ner")
def keep_ner(doc: Doc) -> Doc:
    """Remember the NER's multi-word names before the ruler overwrites them.

    The gazetteer ruler turns "Georgia" in "Georgia Stevens" into a place; the toponym finder
    uses these spans to tell a place inside a person's or organisation's name from a place.
    """
    doc.user_data[NER_SPANS] = [(e.start, e.end, e.label_) for e in doc.ents
                                if len(e) > 1 and e.label_ in _KEPT_NER_LABELS]
    return doc


def sentences(doc: Doc) -> list[SpacySpan]:
    """The document's sentences, computed once: ``doc.sents`` walks every token each time it is read."""
    cached = doc.user_data.get("tidings_sentences")
    if cached is None:
        cached = doc.user_data["tidings_sentences"] = list(doc.sents)
    return cached


def entity_of(token: Token) -> SpacySpan | None:
    """The named entity that covers ``token``, if any.

    ``doc.ents`` builds a span for every entity of the document each time it is read, so a scan
    per token was quadratic on a long text; the entities are read once and bisected instead.
    """
    if not token.ent_type_:
        return None
    doc = token.doc
    cached = doc.user_data.get("tidings_ents")
    if cached is None or cached[0] != len(doc):
        ents = list(doc.ents)
        cached = doc.user_data["tidings_ents"] = (len(doc), [e.start for e in ents], ents)
    _, starts, ents = cached
    i = bisect.bisect_right(starts, token.i) - 1
    if i >= 0 and ents[i].start <= token.i < ents[i].end and ents[i].label == token.ent_type:
        return ents[i]
    return next((ent for ent in doc.ents if ent.start <= token.i < ent.end), None)   # entities changed since


def is_common_word(text: str) -> bool:
    """A one-word name that is also an everyday English word ("Union", "Reading", "May")."""
    return _ambiguous_place(text)


def _ambiguous_place(text: str) -> bool:
    """Place names that are also everyday English words are left to the statistical NER."""
    from spacy.lang.en.stop_words import STOP_WORDS

    lower = text.lower()
    return (" " not in text and (lower in STOP_WORDS or lower in _COMMON_WORDS)) or len(text) < 3


# Single-word GeoNames entries that are ordinary capitalised words at the start of a sentence.
_COMMON_WORDS = frozenset(
    ["president", "minister", "police", "army", "government", "officials", "military", "security", "union", "independence", "victoria", "mobile", "reading", "split", "nice", "bath", "march", "may", "june", "august", "university", "justice", "liberty", "commerce", "progress", "unity", "hope", "enterprise", "opportunity", "friendship", "concord", "harmony", "providence", "mission", "central", "north", "south", "east", "west", "middle", "new", "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "media", "press", "power", "state", "republic"]
)
