"""Toponym recognition: which spans of a parsed document name places, before any resolution.

spaCy's small model finds most place names but misses many (measured on the shared geo dev sets:
recall 0.57 on LGL). Each step below adds or repairs candidates; each can be switched off for an
ablation (``TIDINGS_PLACE_STEPS_OFF=demonyms,orgs``):

- ``entities``: GPE/LOC/FAC entities of the NER and the gazetteer ruler, less a ruler place that
  the statistical NER saw inside a longer person or organisation name ("Georgia Stevens", "United
  Russia", "Real Madrid");
- ``context``: proper nouns the NER missed whose syntax says "place" ("withdrew from Wad Madani");
- ``strip``: a leading "the" and a trailing "'s" are not part of the name;
- ``demonyms``: adjectival country forms ("a Turkish policeman", "U.S. troops") name their country;
- ``orgs``: a place at the head of an organisation or facility name ("Metcalfe County Sheriff's
  Office", "Enfield Council");
- ``containment``: "Edmonton, Kentucky", "Pandi, Bulacan": the second name qualifies the first;
- ``datelines``: "BEIRUT —", "KHARTOUM, Dec 5 (Reuters) -": the place of filing (never an actor);
- ``sites``: streets, squares, bridges and facilities no gazetteer holds ("Hutcheson Road"): level
  ``site``, placed at the town the text puts them in;
- ``modifiers``: a town's name modifying a noun that the NER left untagged ("a Columbia woman",
  "the Gainesville sewer system"); weak evidence, kept only when the place lies in the state (or
  a big town of the country) the document's other places are in;
- ``diseases``: a place in the name of a disease or strain ("Reston ebolavirus", "Lassa fever",
  "Japanese encephalitis") is dropped: it says where the disease was first found, not where the
  reported event is;
- ``lists``: a name coordinated with a place the other steps found ("Nyeri, Wajir and Garissa",
  "Hamar and Lillehammer") whatever label the NER gave it, when the gazetteer knows it: the NER
  tags unfamiliar towns PERSON or ORG, but a list's members are of one kind;
- ``affiliations``: a legislator's party and home in the US press convention ("Sen. Ann Lee, D-Ohio",
  "Rep. Tom Bakk (DFL-Cook)"): the town or state after the party letter is a place the NER splits
  off or misses;
- ``doc_context`` (resolution, not recognition): every name resolved in the context of the
  document's other places (:func:`tidings.stages.places.resolve_document`); off, each name alone.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

import numpy
from spacy.attrs import DEP, ORTH, POS
from spacy.symbols import PROPN as _PROPN
from spacy.symbols import appos as _APPOS
from spacy.symbols import pobj as _POBJ
from spacy.tokens import Doc, Token
from spacy.tokens import Span as SpacySpan

from tidings.stages.nlp import DATELINE, DATELINE_REACH, NER_SPANS, entity_of
from tidings.stages.places import fold

if TYPE_CHECKING:
    from tidings.stages.actors import ActorDictionary
    from tidings.stages.places import Gazetteer

__all__ = ["STEPS", "Toponym", "find_toponyms", "steps_enabled"]

log = logging.getLogger("tidings")

STEPS: Final = ("entities", "context", "strip", "demonyms", "orgs", "containment", "datelines", "sites",
                 "modifiers", "diseases", "lists", "affiliations", "doc_context")
#: steps whose toponyms are kept only when their place fits the document's other places
WEAK_STEPS: Final = frozenset({"modifiers"})
PLACE_LABELS: Final = frozenset({"GPE", "LOC", "FAC"})
_LOCATIVE_PREPS = {"in", "at", "near", "from", "into", "outside", "inside", "around", "across", "towards", "toward",
                   "through", "via", "to"}
_PLACE_NOUNS = {"town", "city", "village", "district", "province", "region", "governorate", "port", "capital",
                "state", "county", "area", "camp", "neighbourhood", "neighborhood", "suburb", "municipality",
                "island", "community", "township", "hamlet", "commune", "settlement"}
# names the NER wraps around a place: a ruler place strictly inside one of these is part of a name
_NAME_LABELS = frozenset({"PERSON", "ORG", "FAC", "WORK_OF_ART", "EVENT", "PRODUCT", "LAW"})
_LEADING = ("the ", "The ", "THE ")
_POSSESSIVE = ("'s", "’s", "'", "’")


@dataclass(frozen=True)
class Toponym:
    """A place name in the text: character span, the name to look up and how it was found."""

    start: int                       # character offsets into the document text
    end: int
    text: str                        # the name as written (what the span covers)
    step: str                        # which recognition step found it
    label: str = "GPE"
    qualifier: str | None = None     # "Kentucky" in "Edmonton, Kentucky"
    country3: str | None = None      # demonyms: the country they name, no lookup needed
    lookup: str | None = None        # what to look up when it differs from the span ("Sichuan province")
    token_start: int = -1
    token_end: int = -1
    adjective: bool = False          # "Turkish police": an adjectival form, not the place's name
    unlisted: bool = False           # "the village of Cellardyke": a settlement the gazetteer lacks

    @property
    def query(self) -> str:
        """The string to resolve: qualified names keep their qualifier."""
        name = self.lookup or self.text
        return f"{name}, {self.qualifier}" if self.qualifier else name


def steps_enabled() -> frozenset[str]:
    """All steps, less those named in ``TIDINGS_PLACE_STEPS_OFF`` (comma-separated; for ablations)."""
    off = {s.strip() for s in os.environ.get("TIDINGS_PLACE_STEPS_OFF", "").split(",") if s.strip()}
    return frozenset(s for s in STEPS if s not in off)


def find_toponyms(doc: Doc, gazetteer: Gazetteer, actors: ActorDictionary,
                  steps: frozenset[str] | None = None) -> list[Toponym]:
    """The document's place names, without overlaps, in text order."""
    steps = steps_enabled() if steps is None else steps
    finders = (("datelines", lambda: _datelines(doc, gazetteer)),
               ("affiliations", lambda: _affiliations(doc, gazetteer)), ("entities", lambda: _entities(doc, gazetteer)),
               ("context", lambda: _contextual(doc, gazetteer, actors)), ("orgs", lambda: _org_places(doc, gazetteer)),
               ("demonyms", lambda: _demonyms(doc)), ("sites", lambda: _sites(doc)),
               ("modifiers", lambda: _modifiers(doc, gazetteer, actors)))
    found: list[Toponym] = []
    for step, finder in finders:   # most reliable first: the first to claim a stretch of text keeps it
        if step not in steps:
            continue
        try:
            found += finder()
        except Exception:   # a step that fails loses its own toponyms, never the others'
            log.exception("toponym step %s failed", step)
    if "strip" in steps:
        text = doc.text   # read once: ``Doc.text`` joins every token each time
        found = [_strip(t, doc, text) for t in found]
    kept = _without_overlaps(found)
    if "lists" in steps:
        try:
            kept = _without_overlaps(kept + _list_members(doc, kept, gazetteer, actors))
        except Exception:   # a step that fails loses its own toponyms, never the others'
            log.exception("toponym step lists failed")
    unlisted = {t.text for t in kept if t.unlisted}
    if unlisted:   # "the town of Pangandaran ... toured Pangandaran": the name is that village throughout
        kept = [replace(t, unlisted=True) if t.text in unlisted and t.label in PLACE_LABELS else t for t in kept]
    if "diseases" in steps:
        kept = [t for t in kept if not _names_a_disease(t, doc)]
    if "containment" in steps:
        kept = _containment(doc, kept, gazetteer)
    return kept


_DISEASE_WORDS: Final = frozenset({"virus", "ebolavirus", "fever", "flu", "influenza", "encephalitis", "disease",
                                   "syndrome", "strain", "variant", "virus's"})


_TITLES: Final = frozenset({"mr", "mrs", "ms", "miss", "dr", "sir", "dame", "lord", "lady", "rev", "prof"})
_LIST_LABELS: Final = frozenset({"", "PERSON", "ORG", "NORP", "GPE", "LOC", "FAC"})


def _list_members(doc: Doc, kept: list[Toponym], gazetteer: Gazetteer, actors: ActorDictionary) -> list[Toponym]:
    """Conjuncts of a found place ("Nyeri, Wajir and Garissa"): proper names in a coordination with a
    place name that no step took, when the gazetteer knows them and no actor has that name.

    A list is walked in text order, so each member found extends the list for the next. Adjectival
    forms ("French and Spanish") never seed a list, and the member must be a capitalised proper name
    of its own (one NER name or a run of proper nouns), not a common word.
    """
    placed: set[int] = {i for t in kept if not t.adjective and t.label != "NORP" and t.step != "datelines"
                        for i in range(t.token_start, t.token_end)}
    if not placed:
        return []
    taken = {i for t in kept for i in range(t.token_start, t.token_end)}
    # surnames of the document's multi-word person names ("Anthony Brown" makes a later "Brown" a person)
    people: dict[str, set[int]] = {}
    for s, e, label in _ner_spans(doc):
        if label == "PERSON" and e - s > 1 and not any(t.lower_ in _PLACE_NOUNS for t in doc[s:e]):
            people.setdefault(doc[e - 1].text, set()).add(s)
    out: list[Toponym] = []
    array = doc.to_array([POS])
    for i in numpy.nonzero(array == _PROPN)[0]:
        token = doc[int(i)]
        if token.i in taken or not token.text[:1].isupper() or not token.is_alpha:
            continue
        linked = token.dep_ == "conj" and token.head.i in placed or any(
            c.dep_ == "conj" and c.i in placed for c in token.children)
        if not linked:
            continue
        span = entity_of(token)
        if span is None or span.label_ not in _LIST_LABELS or any(t.text in (",", "and", "or") for t in span):
            start = token.i
            while start > 0 and doc[start - 1].pos_ == "PROPN" and doc[start - 1].dep_ == "compound" \
                    and doc[start - 1].i not in taken:
                start -= 1
            span = doc[start:token.i + 1]
        if any(i in taken for i in range(span.start, span.end)) or span[0].lower_ == "the":
            continue
        if people.get(span[-1].text, set()) - {span.start} or span.start > 0 and doc[span.start - 1].lower_.rstrip(".") in _TITLES:
            continue   # "Farrin and Brown" after "Anthony Brown"; "Mr Savino"
        if span.end < len(doc) and doc[span.end].tag_ == "NNS":
            continue   # "Henderson and Ellis counties", "Reese Road and Claflin schools": they name other things
        text = span.text
        if _common_word(text) or actors.resolve(text) is not None or not gazetteer.is_place(text):
            continue
        out.append(_from_span(span, "lists", "GPE"))
        placed.update(range(span.start, span.end))
        taken.update(range(span.start, span.end))
    return out


def _names_a_disease(t: Toponym, doc: Doc) -> bool:
    """ "Reston ebolavirus", "Lassa fever", "Spanish flu", "Japanese encephalitis": a place in the name of a
    disease or strain says where it was first found, not where the reported event is."""
    if t.step == "datelines" or t.token_end < 0 or t.token_end >= len(doc):
        return False
    following = doc[t.token_end]
    return following.lower_ in _DISEASE_WORDS and not following.text.isupper()


# --------------------------------------------------------------------------- steps


def _from_span(span: SpacySpan, step: str, label: str | None = None) -> Toponym:
    return Toponym(span.start_char, span.end_char, span.text, step, label or span.label_ or "GPE",
                   token_start=span.start, token_end=span.end)


def _ner_spans(doc: Doc) -> list[tuple[int, int, str]]:
    return sorted(doc.user_data.get(NER_SPANS, ()))


def _containing(ner: list[tuple[int, int, str]], starts: list[int], token: int) -> tuple[int, int, str] | None:
    """The NER name that covers token ``token``: the names never overlap, so one bisection finds it
    (a scan of every name for every entity was quadratic on a long text)."""
    i = bisect.bisect_right(starts, token) - 1
    return ner[i] if i >= 0 and ner[i][0] <= token < ner[i][1] else None


def _inside_name(span: SpacySpan, ner: list[tuple[int, int, str]], starts: list[int] | None = None) -> bool:
    """A place the ruler found inside a longer name of the statistical NER.

    Inside a person's name it is a given name ("Georgia Stevens"); at the end of an organisation's
    name, after another capitalised word of the name, it is part of the name ("United Russia").
    At the head of a name ("Queensland Police Service") or after "of"/"in" it is still a place.
    """
    doc = span.doc
    found = _containing(ner, starts if starts is not None else [n[0] for n in ner], span.start)
    for start, end, label in [found] if found is not None else []:
        if label not in _NAME_LABELS or end - start <= len(span) or not (start <= span.start and span.end <= end):
            continue
        if label in ("PERSON", "PRODUCT"):
            return True   # "Georgia Stevens", "Toyota Corolla"
        before = doc[span.start - 1] if span.start > start else None
        if span.end == end and before is not None and before.text[:1].isupper() and before.lower_ != "the" \
                and not (before.text.isupper() and len(before.text) > 1):
            return True   # "United Russia"; but "CTV Winnipeg", a broadcaster's station, names the city
    return False


_AREA_WORDS: Final = frozenset({"County", "Parish", "Borough", "Township", "Province", "Governorate", "Oblast",
                                "District", "Region", "City", "Prefecture"})


def _entities(doc: Doc, gazetteer: Gazetteer) -> list[Toponym]:
    ner = _ner_spans(doc)
    starts = [n[0] for n in ner]
    out = []
    for ent in doc.ents:
        if ent.label_ not in PLACE_LABELS:
            continue
        if ent.ent_id_ and ner and _inside_name(ent, ner, starts) or _dedication(ent):
            continue
        if ent.label_ == "FAC" and not ent.ent_id_ and len(ent) > 1 \
                and all(t.text in _GENERIC_SITE_WORDS for t in ent[:-1]):
            continue   # "City Hall", "County Road": no name, no place
        parts = _comma_parts(ent, gazetteer)
        if parts:
            out += parts
            continue
        span = _with_suffix(_with_area_word(_with_prefix(ent, gazetteer), gazetteer), gazetteer)
        if (span.start, span.end) == (ent.start, ent.end):
            unlisted = ent.label_ != "FAC" and _settlement_named(ent.root, ent) and not gazetteer.is_place(ent.text)
            out.append(replace(_from_span(ent, "entities"), unlisted=unlisted))
            continue
        # a longer written name the gazetteer lacks ("Vest-Agder") is looked up by the part it knows
        lookup = None if gazetteer.is_place(span.text) else ent.text
        out.append(replace(_from_span(span, "entities", ent.label_), lookup=lookup))
    return out


#: words that end a place's own name after the name they follow ("Ilocos Sur", "Davao del Sur")
_NAME_LINKS: Final = frozenset({"del", "de", "do", "da", "la", "el"})


def _with_suffix(ent: SpacySpan, gazetteer: Gazetteer) -> SpacySpan:
    """ "Ilocos" + "Sur", "Long" + "Island", "Davao" + "del Sur": the ruler matched the first part of a
    longer name the NER left untagged. Taken only when the gazetteer knows the whole as a name of its
    own, and the words after are capitalised and no other entity's."""
    doc = ent.doc
    for n in (3, 2, 1):
        end = ent.end + n
        if end > len(doc):
            continue
        after = doc[ent.end:end]
        if not after[-1].text[:1].isupper() or any(
                not (t.text[:1].isupper() or t.lower_ in _NAME_LINKS) or not t.is_alpha or t.is_sent_start
                or (t.ent_type_ and t.ent_iob_ == "B") for t in after):
            continue
        longer = doc[ent.start:end]
        if after[-1].text in _INSTITUTION_WORDS or end < len(doc) and doc[end].lower_ in _FACILITY_NOUNS:
            continue   # "Michigan Center for ...", "London City airport": an institution's name
        if gazetteer.has_name(longer.text) and not _name_goes_on(longer):
            return longer
    return ent


_INSTITUTION_WORDS: Final = frozenset({"Center", "Centre", "Institute", "University", "College", "Hospital",
                                       "School", "Council", "Department", "Office", "Club"})
_FACILITY_NOUNS: Final = frozenset({"airport", "council", "hall", "police", "hospital", "school", "university",
                                    "college", "stadium", "station", "office", "department"})


_DESCRIPTORS: Final = frozenset({"North", "South", "East", "West", "Central", "Upper", "Lower", "Greater", "Northern",
                                 "Southern", "Eastern", "Western", "Downtown", "Old", "Inner", "Outer"})


def _with_prefix(ent: SpacySpan, gazetteer: Gazetteer) -> SpacySpan:
    """ "New" + "London": the ruler matched the shorter name inside a longer one the NER left untagged.

    Only when the gazetteer knows the longer name as a name of its own (one of a place's names or
    alternates). So a descriptor ("North Texas") that says which part of a place is left out, but
    "Inner Mongolia", "South Cotabato", "Central Java" are names. A word joined by a hyphen
    ("KwaZulu-Natal", "Al-Minya") is part of the name, see :func:`_hyphen_prefix`.
    """
    doc = ent.doc
    joined = _hyphen_prefix(ent, gazetteer)
    if joined is not None:
        return joined
    for n in (2, 1):
        start = ent.start - n
        if start < 0:
            continue
        before = doc[start:ent.start]
        if any(not t.text[:1].isupper() or not t.is_alpha or t.is_stop or t.pos_ not in ("PROPN", "ADJ")
               or t.ent_type_ or t.is_sent_start and t.text not in _DESCRIPTORS for t in before):
            continue
        longer = doc[start:ent.end]
        if not gazetteer.has_name(longer.text):
            continue
        if before[0].pos_ == "PROPN" and before[0].text not in _DESCRIPTORS or not _name_goes_on(longer):
            return longer   # "New London Police": "New" is the name's; "North Arlington Neighbors" is not
    return ent


def _name_goes_on(span: SpacySpan) -> bool:
    """A capitalised word follows: the longer name heads another one ("Dublin City Council", "North
    Arlington Neighbors", "East Washington Street"), so the shorter reading is kept."""
    doc = span.doc
    return span.end < len(doc) and doc[span.end].text[:1].isupper() and doc[span.end].is_alpha


#: prefixes glued by a hyphen that qualify a name rather than belong to it ("Mid-Jutland", "Trans-Pacific")
_HYPHEN_QUALIFIERS: Final = frozenset({"Mid", "Trans", "Pan", "Anti", "Pro", "Ex", "Post", "Pre", "Non", "Sub",
                                       "Inter", "Intra", "Neo", "Pseudo", "Greater", "Upper", "Lower"})
#: the Arabic article, written with a hyphen in most transliterations ("Al-Minya", "El-Fasher")
_ARTICLES: Final = frozenset({"Al", "El", "al", "el", "Ad", "Ar", "As", "Az", "An", "Ash", "At"})


def _hyphen_prefix(ent: SpacySpan, gazetteer: Gazetteer) -> SpacySpan | None:
    """ "KwaZulu-Natal", "Vest-Agder", "Al-Minya": a capitalised word glued to a place by a hyphen is
    part of its name (the tokenizer splits at the hyphen and the ruler matched the tail).

    Not when the first word is a place or people itself ("Fargo-Moorhead", "Asia-Pacific",
    "Egyptian-US": two places), an abbreviation ("DFL-Minneapolis": party and town), or a qualifier
    ("Mid-Jutland"). The caller resolves the whole name when the gazetteer knows it, else the tail.
    """
    doc = ent.doc
    if ent.start < 2 or doc[ent.start - 1].text not in ("-", "‑") or doc[ent.start - 1].whitespace_ \
            or doc[ent.start - 2].whitespace_:
        return None
    first = doc[ent.start - 2]
    longer = doc[ent.start - 2:ent.end]
    if gazetteer.has_name(longer.text):
        return longer
    word = first.text
    if word in _ARTICLES:
        return longer
    if not (word[:1].isupper() and word.isalpha() and len(word) >= 3 and not word.isupper()) \
            or word in _HYPHEN_QUALIFIERS or word in _DESCRIPTORS or first.ent_type_ in ("NORP", "PERSON") \
            or gazetteer.is_place(word) or _common_word(word):
        return None
    return longer


def _comma_parts(ent: SpacySpan, gazetteer: Gazetteer) -> list[Toponym]:
    """ "Washington, D.C." as one entity: two names, the second containing the first (see containment)."""
    comma = next((t.i for t in ent if t.text == ","), None)
    if comma is None or comma == ent.start or comma + 1 >= ent.end:
        return []
    doc = ent.doc
    head, qual = doc[ent.start:comma], doc[comma + 1:ent.end]
    if not (gazetteer.is_place(head.text) and gazetteer.is_place(qual.text)):
        return []
    return [_from_span(head, "entities", ent.label_), _from_span(qual, "entities", ent.label_)]


_DEDICATED: Final = frozenset({"church", "cathedral", "basilica", "chapel", "monastery", "convent", "abbey",
                               "shrine", "parish", "school", "college", "hospital", "order"})
_SAINTS: Final = frozenset({"saint", "st.", "st", "san", "santa", "sainte"})


def _dedication(ent: SpacySpan) -> bool:
    """A saint's name of a building, not a town: "the church of Saint Peter and Saint Paul", "St. Paul's".

    (A Cairo church bombing was once placed in Saint Paul, Minnesota.)
    """
    doc = ent.doc
    if ent[0].lower_ not in _SAINTS:
        return False
    if ent.end < len(doc) and doc[ent.end].lower_ in ("'s", "’s"):
        return True
    root = ent.root
    for _ in range(3):   # "Saint Peter and Saint Paul": the second saint is a conjunct of the first
        if root.dep_ != "conj":
            break
        root = root.head
    return root.dep_ == "pobj" and root.head.lower_ == "of" and root.head.head.lemma_.lower() in _DEDICATED


def _with_area_word(ent: SpacySpan, gazetteer: Gazetteer) -> SpacySpan:
    """ "Lexington" + "County": the ruler's city pattern stops short of the county's name."""
    doc = ent.doc
    if ent.end < len(doc) and doc[ent.end].text in _AREA_WORDS:
        longer = doc[ent.start:ent.end + 1]
        place = gazetteer.resolve(longer.text)
        if place is not None and (fold(place.name) == fold(longer.text) or (
                place.feature in ("admin1", "admin2") and doc[ent.end].text != "City")):
            return longer
    return ent


def _contextual(doc: Doc, gazetteer: Gazetteer, actors: ActorDictionary) -> list[Toponym]:
    """Proper names the NER missed or mislabelled but whose context says "place": the object of a
    locative preposition ("withdrew from Wad Madani", "near Djibo") or "the town of Kidal"."""
    found: list[Toponym] = []
    # Select candidates in the token arrays; creating a Token object per word is the costly part.
    array = doc.to_array([POS, DEP])
    wanted = numpy.isin(array[:, 1], [_POBJ, _APPOS]) & (array[:, 0] == _PROPN)
    for i in numpy.nonzero(wanted)[0]:
        token = doc[int(i)]
        if token.ent_type_ in PLACE_LABELS:
            continue
        head = token.head
        locative = head.lower_ in _LOCATIVE_PREPS or (
            head.lower_ == "of" and head.head.lemma_.lower() in _PLACE_NOUNS) or (
            token.dep_ == "appos" and head.lemma_.lower() in _PLACE_NOUNS)
        if not locative:
            continue
        span = entity_of(token)
        if span is None:
            start = token.i
            while start > 0 and doc[start - 1].pos_ == "PROPN" and doc[start - 1].dep_ == "compound":
                start -= 1
            span = doc[start:token.i + 1]
        named_kind = head.lower_ == "of" and head.head.lemma_.lower() in _PLACE_NOUNS
        if span.label_ in ("PERSON",) and head.lower_ not in _LOCATIVE_PREPS and not named_kind:
            continue   # but "the town of Camborne", "the island of Bohol" say "place" whatever the NER thinks
        if span.label_ in ("DATE", "TIME", "EVENT") or _common_word(span.text):
            continue   # "in May", "through Thursday", "at Christmas"
        text = span.text
        if actors.resolve(text) is not None:
            continue
        if not gazetteer.is_place(text):
            if _settlement_named(token, span):
                found.append(replace(_from_span(span, "context", "GPE"), unlisted=True))
            continue
        found.append(_from_span(span, "context", "GPE"))
    return found


#: nouns whose "of" names a settlement; unlike "area" or "state", what follows is a village or town
_SETTLEMENTS: Final = frozenset({"village", "town", "city", "hamlet", "community", "suburb", "township",
                                 "settlement", "municipality", "commune"})


def _settlement_named(token: Token, span: SpacySpan) -> bool:
    """ "the village of Cellardyke", "the villages of Bumbacari and ...": a settlement noun's "of" names
    a place even when no gazetteer holds it (small villages; measured on the three geo dev sets, 72
    of 74 such names are gold toponyms). Capitalised words only, not a person's name, not a
    common word."""
    head = token.head
    return (token.dep_ == "pobj" and head.lower_ == "of" and head.head.lemma_.lower() in _SETTLEMENTS
            and head.head.pos_ == "NOUN" and span.label_ in ("", "GPE", "LOC")
            and all(t.text[:1].isupper() and (t.is_alpha or "-" in t.text or "'" in t.text) for t in span)
            and not _common_word(span.text))


def _org_places(doc: Doc, gazetteer: Gazetteer) -> list[Toponym]:
    """Places inside organisation and facility names: "Laurel County Sheriff's Office", "Enfield Council",
    "Children's Hospital of Manitoba" (Mordecai 3's error study: the largest cheap recall gain).

    Two positions only: the head of the name, followed by more of the name, and the object of a
    final "of". "Real Madrid" and "United Russia" (a place at the end, no "of") stay organisations;
    a head that is also an everyday word ("Union", "Independence") never counts, nor does a known
    actor or outlet (their ruler id) or a hamlet.
    """
    out = []
    for ent in doc.ents:
        if ent.label_ not in ("ORG", "FAC") or ent.ent_id_ or len(ent) < 2:
            continue
        parts = _hyphen_parts(ent, gazetteer)
        if parts:
            out += parts
            continue
        first = ent.start + (1 if doc[ent.start].lower_ == "the" else 0)
        head = _leading_place(doc, first, ent.end, gazetteer)
        if head is not None:
            out.append(Toponym(head.start_char, head.end_char, head.text, "orgs", "GPE",
                               token_start=head.start, token_end=head.end))
        of = max((t.i for t in ent if t.lower_ == "of"), default=-1)
        if of > first and of + 1 < ent.end:
            tail = doc[of + 1:ent.end]
            if tail[0].lower_ == "the":
                tail = doc[of + 2:ent.end]
            if len(tail) and _good_place(tail, gazetteer):
                out.append(Toponym(tail.start_char, tail.end_char, tail.text, "orgs", "GPE",
                                   token_start=tail.start, token_end=tail.end))
    return out


def _hyphen_parts(ent: SpacySpan, gazetteer: Gazetteer) -> list[Toponym]:
    """ "Fargo-Moorhead", "Minneapolis-St. Paul": twin towns written as one name are two places."""
    doc = ent.doc
    dash = next((t.i for t in ent if t.text == "-"), None)
    if dash is None or dash == ent.start or dash + 1 >= ent.end or doc[dash].whitespace_ \
            or doc[dash - 1].whitespace_:
        return []
    left, right = doc[ent.start:dash], doc[dash + 1:ent.end]
    if not (_good_place(left, gazetteer, 10_000) and _good_place(right, gazetteer, 10_000)):
        return []
    return [Toponym(p.start_char, p.end_char, p.text, "orgs", "GPE", token_start=p.start, token_end=p.end)
            for p in (left, right)]


def _leading_place(doc: Doc, first: int, end: int, gazetteer: Gazetteer) -> SpacySpan | None:
    for stop in range(min(end - 1, first + 4), first, -1):
        head = doc[first:stop]
        if head[-1].lower_ in _TYPE_WORDS and head[-1].text not in _AREA_WORDS:
            continue   # "Lansing State Journal": "State" belongs to the paper's name
        if doc[stop - 1].is_punct or doc[stop].is_punct and doc[stop].lower_ != "'s":
            continue
        if _good_place(head, gazetteer):
            return head
    return None


def _good_place(span: SpacySpan, gazetteer: Gazetteer, town: int = 100_000) -> bool:
    """A name inside an organisation's name counts as a place only when it is unmistakably one:
    a country, a state or province, a county named with its "County", or a city of 100,000 people
    (measured: smaller towns inside names were mostly surnames and words — "Nadia", "Lions")."""
    if not all(t.text[:1].isupper() or t.lower_ in ("of", "de", "la") for t in span) or _common_word(span.text):
        return False
    if all(t.lower_ in _TYPE_WORDS or t.text in _AREA_WORDS or t.is_stop for t in span):
        return False   # "The City Council", "State Board": a type word is no name
    if not gazetteer.is_place(span.text):
        return False
    place = gazetteer.resolve(span.text)
    if place is None:
        return False
    if place.feature == "admin2":
        return span[-1].text in _AREA_WORDS
    return place.feature in ("country", "admin1") or (place.population or 0) >= town


def _common_word(text: str) -> bool:
    from tidings.stages.nlp import is_common_word

    return is_common_word(text)


_MODIFIER_DEPS: Final = frozenset({"compound", "poss", "nmod", "amod"})


def _modifiers(doc: Doc, gazetteer: Gazetteer, actors: ActorDictionary) -> list[Toponym]:
    """ "A Columbia woman", "Torrington businesses", "DeKalb's plan": an untagged proper noun modifying a
    common noun. Candidates only: the caller keeps those whose place fits the document."""
    out = []
    for i in numpy.nonzero(doc.to_array(POS) == _PROPN)[0]:
        token = doc[int(i)]
        if token.dep_ not in _MODIFIER_DEPS or token.head.pos_ != "NOUN" or token.ent_type_ not in ("", "ORG"):
            continue
        start = token.i
        while start > 0 and token.i - start < 2 and doc[start - 1].pos_ == "PROPN" and doc[start - 1].dep_ == "compound" \
                and doc[start - 1].ent_type_ in ("", "ORG"):
            start -= 1
        span = doc[start:token.i + 1]
        if not all(t.text[:1].isupper() and t.is_alpha for t in span) or _common_word(span.text) \
                or any(t.is_stop or t.lower_ in _TYPE_WORDS for t in span):
            continue
        if not gazetteer.is_place(span.text) or actors.resolve(span.text) is not None:
            continue
        out.append(_from_span(span, "modifiers", "GPE"))
    return out


_NOMINAL_DEPS: Final = frozenset({"pobj", "nsubj", "nsubjpass", "dobj", "conj", "appos", "poss", "attr"})


def _demonyms(doc: Doc) -> list[Toponym]:
    """Country adjectives the actor ruler labelled NORP with the country's code: "Turkish police".

    Only attributive uses (the word modifies a noun) and singular forms: "Palestinians" are people.
    Abbreviations ("U.S.", "UK") are places in any use; used as nouns they are labelled GPE.
    """
    out = []
    ner = [(s, e, label) for s, e, label in _ner_spans(doc) if label != "NORP"]
    starts = [n[0] for n in ner]
    for ent in doc.ents:
        code = ent.ent_id_
        if ent.label_ != "NORP" or len(code) != 3 or not code.isupper():
            continue
        last = ent[-1]
        # "U.S.", "UK": the ruler tags the abbreviation NORP, but "in the U.S." names the country itself
        after = doc[last.i + 1] if last.i + 1 < len(doc) else None
        letters = ent.text.replace(".", "")
        abbreviation = (letters.isupper() and len(letters) <= 4 and not (after is not None and after.is_currency)
                        and last.dep_ in _NOMINAL_DEPS | {"amod", "compound", "nmod"})   # not "US $50 million"
        if last.dep_ == "conj" and last.head.ent_type_ == "NORP":
            last = last.head   # "the French and Spanish governments": the second adjective modifies through the first
        if not abbreviation and (last.tag_ in ("NNS", "NNPS") or last.dep_ not in ("amod", "compound", "nmod")
                                 or last.head.pos_ not in ("NOUN", "PROPN") or ent.start <= last.head.i < ent.end):
            continue   # "Palestinians" are people, "in Turkish" a language
        name = _containing(ner, starts, ent.start)
        if name is not None and name[0] + (doc[name[0]].lower_ == "the") < ent.start and ent.end <= name[1]:
            continue   # "North American Free Trade": inside a name; "the Georgian Interior Ministry" names Georgia
        nominal = abbreviation and last.dep_ not in ("amod", "compound", "nmod")
        out.append(Toponym(ent.start_char, ent.end_char, ent.text, "demonyms", "GPE" if nominal else "NORP",
                           country3=code, token_start=ent.start, token_end=ent.end, adjective=not abbreviation))
    return out


# ", D-Ohio", "(R-Elbow Lake)", ", DFL-Cook,": party letters glued to the member's home town or state
_AFFILIATION: Final = re.compile(
    r"(?:(?<=, )|(?<=\())(?:D|R|I|DFL|Ind|Dem|Rep|GOP)-(?P<place>[A-Z][A-Za-z.’']*(?: [A-Z][A-Za-z.’']*){0,2})"
    r"(?=[,);:\s—–]|$)")


def _affiliations(doc: Doc, gazetteer: Gazetteer) -> list[Toponym]:
    """ "Sen. Ann Lee, D-Ohio", "Rep. Tom Bakk (DFL-Cook)": the place after a party letter is the
    member's home, a place the text names (a US press convention; the tokenizer often keeps
    "D-Ohio" as one word, so the NER never sees the place). Only after a person's name: "(D-Day)"
    after a common noun is no affiliation."""
    out = []
    text = doc.text
    for m in _AFFILIATION.finditer(text):
        name = m.group("place")
        if name.endswith("."):
            whole = gazetteer.resolve(name[:-1])
            if whole is not None and whole.name == name[:-1]:
                name = name[:-1]   # "D-Iowa City." ends a sentence; "D-Calif." is the abbreviation
        if not gazetteer.is_place(name) or _common_word(name) or not _after_a_name(doc, m.start()):
            continue
        start = m.start("place")
        end = start + len(name)
        span = doc.char_span(start, end)
        out.append(Toponym(start, end, name, "affiliations", "GPE",
                           token_start=span.start if span is not None else -1,
                           token_end=span.end if span is not None else -1))
    return out


def _after_a_name(doc: Doc, char: int) -> bool:
    """The party letter at ``char`` follows a person's name ("Tom Walsh, R-", "Ann Cole (D-"), or a
    "both" that shares one ("Sens. Byrd and Rockefeller, both D-")."""
    before = doc.char_span(0, char, alignment_mode="contract")
    if before is None or len(before) < 2:
        return False
    name = doc[before.end - 2]   # the word before the comma or bracket
    return name.lower_ == "both" or name.pos_ == "PROPN" and name.text[:1].isupper()


def _datelines(doc: Doc, gazetteer: Gazetteer) -> list[Toponym]:
    """The place of filing at the head of an article ("BEIRUT —"; "KHARTOUM, Dec 5 (Reuters) -")."""
    out = []
    text = doc.text[:DATELINE_REACH]
    for m in DATELINE.finditer(text):
        city = m.group("city").rstrip(".")
        if len(city.replace(" ", "")) < 3 or not gazetteer.is_place(city):
            continue
        start = m.start("city")
        span = doc.char_span(start, start + len(city), alignment_mode="expand")
        qual = m.group("qual")
        if qual and not gazetteer.is_place(qual.rstrip(".") if len(qual) > 4 else qual):
            qual = None
        out.append(Toponym(start, start + len(city), city, "datelines", "GPE", qualifier=qual,
                           token_start=span.start if span is not None else -1,
                           token_end=span.end if span is not None else -1))
        break
    return out


_TYPE_WORDS: Final = frozenset({"province", "provinces", "state", "region", "district", "governorate", "oblast",
                                "prefecture", "county", "department", "territory", "city", "town", "village"})


_SITE_WORDS: Final = frozenset({
    "Road", "Rd.", "Street", "St.", "Avenue", "Ave.", "Boulevard", "Blvd.", "Highway", "Hwy.", "Drive",
    "Lane", "Square", "Bridge", "Parkway", "Pike", "Turnpike", "Expressway", "Freeway", "Plaza", "Crossing",
    "Airport", "Harbour", "Harbor", "Pier", "Dam", "Camp", "Checkpoint", "Mall"})


_GENERIC_SITE_WORDS: Final = frozenset({
    "County", "State", "National", "International", "Federal", "Interstate", "Street", "Main", "Upper",
    "Lower", "North", "South", "East", "West", "Old", "New", "Royal", "City", "Town", "Village"})


def _sites(doc: Doc) -> list[Toponym]:
    """ "Hutcheson Road", "Tahrir Square", "Kerem Shalom Crossing": a capitalised name ending in a site word.

    The statistical NER labels some of them FAC and misses many; none is in the gazetteer. Numbered
    roads ("Route 61") and bare words ("the Airport") are left out: no name, no place.
    """
    out = []
    # compare hashes in the token array: creating a Token object per word is the costly part
    wanted = [doc.vocab.strings[w] for w in _SITE_WORDS if w in doc.vocab.strings]
    for i in numpy.nonzero(numpy.isin(doc.to_array(ORTH), wanted))[0]:
        token = doc[int(i)]
        if token.i == 0:
            continue
        start = token.i
        while start > 0 and token.i - start < 3 and doc[start - 1].text[:1].isupper() \
                and doc[start - 1].is_alpha and not doc[start - 1].is_stop and doc[start - 1].pos_ == "PROPN" \
                and doc[start - 1].ent_type_ not in ("PERSON", "DATE", "TIME", "NORP"):
            start -= 1
        if start == token.i or doc[start].is_sent_start or all(
                t.text in _GENERIC_SITE_WORDS for t in doc[start:token.i]):
            continue
        span = doc[start:token.i + 1]
        out.append(Toponym(span.start_char, span.end_char, span.text, "sites", "FAC",
                           token_start=span.start, token_end=span.end))
    return out


def _strip(t: Toponym, doc: Doc, doc_text: str) -> Toponym:
    """ "the Middle East" → "Middle East", "Boone County's" → "Boone County", "Sichuan province" → "Sichuan".

    A lower-case type word after the name is a common noun, not part of the name (a capitalised one,
    "Laurel County", is); it still guides the lookup ("Idlib province" is the province).
    """
    text, start, end = t.text, t.start, t.end
    lookup = t.lookup
    words = text.rsplit(" ", 1)
    if len(words) == 2 and words[1] in _TYPE_WORDS and words[0][:1].isupper():
        lookup = lookup or text
        text, end = words[0], start + len(words[0])
    for article in _LEADING:
        if text.startswith(article) and len(text) > len(article) + 1:
            text, start = text[len(article):], start + len(article)
            break
    for suffix in _POSSESSIVE:
        if text.endswith(suffix) and len(text) > len(suffix) + 1 and not text.endswith("s'" if suffix == "'" else "\0"):
            if suffix in ("'", "’") and not text[:-1].endswith("s"):
                continue
            text, end = text[:-len(suffix)], end - len(suffix)
            break
    if "." in text and not text.endswith(".") and doc_text[end:end + 1] == "." and len(text) <= 6:
        text, end = text + ".", end + 1   # "W.Va" + "." : the tokenizer took the abbreviation's period
    if (start, end) == (t.start, t.end):
        return t
    if lookup and lookup.startswith(_LEADING):
        lookup = lookup.split(" ", 1)[1]
    span = doc.char_span(start, end, alignment_mode="expand")
    return replace(t, start=start, end=end, text=text, lookup=lookup,
                   token_start=span.start if span is not None else t.token_start,
                   token_end=span.end if span is not None else t.token_end)


def _without_overlaps(found: list[Toponym]) -> list[Toponym]:
    """The first step to claim a stretch of text keeps it (steps run most reliable first).

    The kept spans never overlap, so sorted by start they are sorted by end too: one bisection
    finds the only two that could overlap a newcomer (a scan of all kept spans was quadratic).
    """
    starts: list[int] = []
    kept: list[Toponym] = []   # sorted by start, pairwise disjoint
    for t in found:
        i = bisect.bisect_left(starts, t.end)   # kept[:i] start before t ends
        if i and kept[i - 1].end > t.start:
            continue
        starts.insert(i, t.start)
        kept.insert(i, t)
    return kept


_QUALIFIER_FEATURES: Final = frozenset({"country", "admin1", "admin2"})


def _containment(doc: Doc, kept: list[Toponym], gazetteer: Gazetteer) -> list[Toponym]:
    """ "Edmonton, Kentucky": a place followed by ", <admin area or country>" lies inside it.

    The qualifier stays a toponym of its own; the first name is resolved inside it. A capitalised
    name the NER missed before such a qualifier ("Pandi, Bulacan") becomes a toponym when the
    gazetteer has it inside that qualifier.
    """
    text = doc.text
    out = list(kept)
    by_start = {t.start: t for t in kept}
    for n, t in enumerate(kept):
        if t.qualifier or t.country3:
            continue
        rest = text[t.end:t.end + 3]
        if not rest.startswith(", "):
            continue
        nxt = by_start.get(t.end + 2)
        if nxt is None or nxt.country3:
            continue
        area = gazetteer.resolve(nxt.text)
        if area is None or area.feature not in _QUALIFIER_FEATURES:
            continue
        out[n] = replace(t, qualifier=nxt.text)
    # capitalised words before ", <qualifier>" that no step found
    starts = [t.start for t in out]   # sorted and disjoint, as _without_overlaps left them
    for t in kept:
        if t.start < 3 or text[t.start - 2:t.start] != ", ":
            continue
        area = gazetteer.resolve(t.text)
        if area is None or area.feature not in ("country", "admin1"):
            continue
        before = doc.char_span(t.start - 2, t.start - 1)
        if before is None:
            continue
        end_tok = before.start
        start_tok = end_tok
        while start_tok > 0 and end_tok - start_tok < 3 and doc[start_tok - 1].pos_ == "PROPN" \
                and doc[start_tok - 1].text[:1].isupper() and not doc[start_tok - 1].ent_type_:
            start_tok -= 1
        if start_tok == end_tok:
            continue
        head = doc[start_tok:end_tok]
        i = bisect.bisect_left(starts, head.end_char)
        if i and out[i - 1].end > head.start_char:
            continue
        place = gazetteer.resolve(f"{head.text}, {t.text}")
        if place is None or place.country != area.country:
            continue
        out.append(Toponym(head.start_char, head.end_char, head.text, "containment", "GPE", qualifier=t.text,
                           token_start=head.start, token_end=head.end))
    return sorted(out, key=lambda t: t.start)
