"""The data model: what flows from one stage to the next.

Every extracted value carries a :class:`Span` into ``Document.text`` so that nothing is
asserted without evidence. Records are pydantic models: typed, validated at the edges and
serialisable to JSON without glue code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CASUALTY_KINDS",
    "MODALITIES",
    "Actor",
    "Analysis",
    "Casualty",
    "Document",
    "Event",
    "Granularity",
    "Mention",
    "Modality",
    "Place",
    "Source",
    "SourceKind",
    "Span",
    "When",
    "content_hash",
]

Modality = Literal["asserted", "reported", "hedged", "negated", "future", "historical"]
MODALITIES: tuple[str, ...] = ("asserted", "reported", "hedged", "negated", "future", "historical")
Granularity = Literal["day", "week", "month", "year", "range", "unknown"]
SourceKind = Literal[
    "outlet", "agency", "government", "official", "analyst", "social_media", "anonymous", "person",
    "organization", "document",
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Span(_Record):
    """Character offsets into ``Document.text`` (end exclusive) and the text they cover."""

    start: int
    end: int
    text: str


class Actor(_Record):
    """Who acts or is acted upon, resolved to a CAMEO-style code where the data allows."""

    code: str | None = None          # e.g. "IRNGOV", "SYRREB"; None when nothing is known
    name: str                        # canonical name ("Iran", "Hayat Tahrir al-Sham")
    country: str | None = None       # ISO 3166 alpha-3
    sector: str | None = None        # GOV, MIL, REB, OPP, CVL, MED, IGO, NGO, BUS, ...
    kind: str = "group"              # state, organization, person, group
    known: bool = True               # False: emitted from the text, not found in the actor data
    span: Span | None = None


class Place(_Record):
    """A geocoded place (GeoNames)."""

    geonameid: int | None = None
    name: str
    country: str | None = None       # ISO 3166 alpha-2
    country3: str | None = None      # ISO 3166 alpha-3
    admin1: str | None = None        # admin1 name ("Homs Governorate")
    admin1_code: str | None = None   # GeoNames admin1 code ("SY.11")
    lat: float | None = None
    lon: float | None = None
    feature: str = "city"            # the level: country, admin1, admin2, city, site (also region, continent)
    population: int | None = None
    precision: str = "exact"         # exact (the place's own point), city (a site at its town's point), or the level
    span: Span | None = None


class When(_Record):
    """A resolved time: a day has ``start == end``."""

    start: dt.date | None = None
    end: dt.date | None = None
    granularity: Granularity = "unknown"
    anchor: str = "none"             # "published", "inferred", "expression", "none"
    relative: bool = False           # True when it could not be anchored to a calendar date
    span: Span | None = None


class Source(_Record):
    """One link of an attribution chain (outlet → … → original speaker)."""

    name: str
    kind: SourceKind = "person"
    anonymous: bool = False
    span: Span | None = None


CasualtyKind = Literal["killed", "injured", "missing", "arrested"]
CASUALTY_KINDS: tuple[str, ...] = ("killed", "injured", "missing", "arrested")
Qualifier = Literal["exact", "approximately", "at_least", "more_than", "up_to", "fewer_than", "range", "vague"]


class Casualty(_Record):
    """A casualty figure an event's sentence gives: "at least 12 people were killed" is killed, low 12, high
    None (open), qualifier at_least. ``low``/``high`` are None where the text leaves that end open ("up to 12"
    has no floor). ``background`` marks a running or historical total ("since 2011 more than 500,000 have
    died"), kept as evidence but never counted as the event's. ``source`` is who says so: the original
    speaker of the event's attribution chain (None: the outlet itself)."""

    kind: CasualtyKind
    low: int | None = None
    high: int | None = None
    qualifier: Qualifier = "exact"
    background: bool = False
    source: str | None = None
    span: Span


class Mention(_Record):
    """Something the stages found in the text: an actor, place, time or source mention."""

    kind: Literal["actor", "place", "time", "source"]
    span: Span
    label: str                       # NER label or stage-specific tag
    value: dict[str, Any] = Field(default_factory=dict)
    sentence: int = 0


class Document(_Record):
    """One article. ``id`` is a hash of the normalised text, so re-ingest is idempotent."""

    id: str
    text: str
    title: str | None = None
    url: str | None = None
    outlet: str | None = None
    published: dt.date | None = None
    published_inferred: bool = False
    language: str = "en"
    source_kind: str = "text"        # text, html, jsonl, stdin, url, feed
    path: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_text(cls, text: str, **fields: Any) -> Document:
        """Build a document, deriving ``id`` from the text."""
        return cls(id=content_hash(text), text=text, **fields)


class Event(_Record):
    """One coded event: who did what to whom, where, when — who says so, and how sure."""

    id: str
    doc_id: str
    type: str                        # PLOVER type, e.g. "RETREAT"
    mode: str | None = None
    contexts: list[str] = Field(default_factory=list)
    cameo: str | None = None         # CAMEO code suggested by the trigger
    source_actor: Actor | None = None
    target_actor: Actor | None = None
    place: Place | None = None
    when: When = Field(default_factory=When)
    modality: Modality = "asserted"
    attribution: list[Source] = Field(default_factory=list)
    confidence: float = 0.5
    evidence: dict[str, Span] = Field(default_factory=dict)
    sentence: int = 0
    coder: str = ""
    #: Why the coder chose this type: the trigger row (``verbs.jsonl:LINE``) and/or the learned layer's top
    #: types with probabilities.
    why: dict[str, Any] = Field(default_factory=dict)
    #: Casualty figures of this event, each with its evidence span (:mod:`tidings.stages.casualties`).
    casualties: list[Casualty] = Field(default_factory=list)

    def count(self, kind: str = "killed") -> int | None:
        """The event's figure of ``kind`` as one number, or None if its text gives none: the largest floor
        among its non-background figures (a figure with no floor, "up to 12", counts its ceiling). The
        floor, because datasets such as ACLED record the lowest figure reported; the largest, because a
        sentence that gives two ("at least 12 ... the toll rose to 15") updates itself."""
        values = [c.low if c.low is not None else c.high for c in self.casualties
                  if c.kind == kind and not c.background]
        known = [v for v in values if v is not None]
        return max(known) if known else None

    @property
    def fatalities(self) -> int | None:
        """People killed in this event according to its text (see :meth:`count`)."""
        return self.count("killed")


class Analysis(_Record):
    """What one call of ``analyze()`` returns."""

    document: Document
    events: list[Event] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)
    document_chain: list[Source] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


_SPACE = re.compile(r"\s+")


def content_hash(text: str) -> str:
    """Stable id of a text: NFC, whitespace collapsed, stripped; first 16 hex chars of sha256."""
    norm = _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:16]
