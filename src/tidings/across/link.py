"""Across articles: which events are the same real-world event, and how many independent sources say so.

Why it works the way it does:

* **Clusters are connected components of a pairwise "same event" test** (:func:`pair_level`). A component
  does not depend on the order documents arrive in, so linking is order-independent; it is also local, so
  a new document only touches the clusters its candidates belong to (**incremental**), and removing a
  document only re-examines the clusters it was in.
* **Candidates come from an index, not a scan.** Every member row keeps its type family, phase, the
  country part of its actor codes and a date window of at most :data:`MAX_WINDOW_DAYS`; the lookup is a
  few ranges on ``(family, phase, source_key, date_lo)``.
* **Two strengths of link.** *Strong*: the same place and overlapping dates (or, for an undated event,
  the same place and a matching source actor). *Weak*: everything that might be the same event told
  differently — a town ≤ :data:`NEAR_KM` away, a country vs. a city in it, a missing place, dates a few
  days apart, places far apart on the same day. Weak links are only taken between two different documents, and only
  when they are the *only* candidate pair between those two documents (mutual uniqueness): a report of
  "rebels captured Homs" links to another report's Homs event, never also to its Hama event. That keeps
  vague places from chaining distinct events together, and still lets contradictions (date, place)
  surface inside a cluster instead of being split into two clusters that nobody compares.
* **Independent sources are counted by origin** (:func:`origin_of`): the original speaker behind the last
  news organisation in an attribution chain. Named speakers are one origin whoever relays them; anonymous
  speakers cannot be told apart, so they are one origin per organisation that heard them
  ("The New York Times/anonymous"); an outlet's unattributed claim is dropped when the same outlet also
  names where it got the story. Near-duplicate texts (syndicated copies, shingle resemblance ≥
  :data:`NEAR_DUPLICATE`) count once.
* **Reporting differs; the differences are kept.** What the linker knows about types (symmetric,
  compatible, modes that matter, date slack by granularity, casualty words) is data in
  ``data/plover.json`` (``linking``). A city within the country another report names, a date a day or two
  off, "Iranian personnel" within IRN, a party's denial: each is a (weak) link, and the disagreement it
  carries becomes a contradiction of the cluster — with both sides' sources and sentences — rather than
  a split. Every accepted link is stored with why it was taken (:class:`Match`, ``cluster_links``).
* **As of.** A report is known from its publication date (else the day it was stored); clusters as they
  stood on a day are the components of the stored links among the reports known by then.
* **Cluster ids are stable.** An id is derived from the cluster's first member and never changes when
  members are added; when two clusters merge, the older id survives and the other becomes an alias.

Tables (``linked_documents``, ``clusters``, ``cluster_members``, ``cluster_aliases``, ``cluster_links``) live in the store's
database, written with SQLAlchemy Core only (no dialect-specific SQL).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tidings.core.codebook import LinkingRules, codebook
from tidings.core.records import Actor, Event, Source, When
from tidings.store.database import Store
from tidings.store.schema import (
    aliases_table,
    clusters_table,
    documents_table,
    events_table,
    linked_documents_table,
    links_table,
    members_table,
)

__all__ = [
    "Cluster", "Contradiction", "LinkReport", "Match", "Member", "assess", "casualties", "cluster",
    "cluster_of", "clusters", "clusters_as_of", "clusters_of", "clusters_table", "family_of",
    "link_documents", "link_pending", "links_of", "member_of", "origin_of", "pair_level",
    "resemblance", "sketch", "timeline",
]

NEAR_KM = 50.0                # places this close may be one place told differently (a weak link)
FAR_KM = 100.0                # members this far apart contradict each other
_NEAR_DEGREES = NEAR_KM / 111.0 * 1.01   # latitudes further apart than this are more than NEAR_KM apart
UNDATED_LOOKBACK_DAYS = 7     # an undated event happened within this many days before publication
MAX_WINDOW_DAYS = 14          # longest date window a member keeps (bounds the candidate index range)
NEAR_DUPLICATE = 0.8          # shingle resemblance above which two texts are copies of one report
SKETCH_SIZE = 64              # bottom-k MinHash sketch size
SHINGLE_WORDS = 4
SIMILAR = 0.25                # content-word overlap of two event sentences that supports a link told vaguely
VERY_SIMILAR = 0.4            # ... that carries a link whose places or actors disagree (then a contradiction)
WEAK, STRONG = 1, 2
_BATCH_DOCUMENTS = 200        # documents per write transaction

_PEOPLE = "*"   # sector of a bare country code that names a people ("Nigerians"), not the state
_ASSERTING = frozenset({"asserted", "reported", "hedged"})
_NEWS_KINDS = frozenset({"outlet", "agency"})
_FEATURE_RANK = {"site": 3, "city": 2, "admin1": 1, "country": 0}


#: What linking knows about types (``linking`` in ``data/plover.json``): knowledge is data.
Rules = LinkingRules


def rules() -> Rules:
    """Linking's type rules, from the codebook (read once)."""
    return codebook().linking


Phase = Literal["current", "future", "historical"]

# ------------------------------------------------------------------------------------------------ members

@dataclass(frozen=True, slots=True)
class Member:
    """One event as the linker sees it: the values linking compares, flattened (one row of cluster_members)."""

    event_id: str
    doc_id: str
    family: str
    phase: str
    type: str
    modality: str
    origin: str
    origin_label: str
    seq: int = 0
    cluster_id: str = ""
    mode: str | None = None
    cameo: str | None = None
    confidence: float = 0.5
    dated: bool = False
    date_lo: dt.date | None = None
    date_hi: dt.date | None = None
    when_start: dt.date | None = None
    when_end: dt.date | None = None
    granularity: str = "unknown"
    source_code: str | None = None
    source_name: str | None = None
    source_country: str | None = None
    source_sector: str | None = None
    target_code: str | None = None
    target_name: str | None = None
    target_country: str | None = None
    target_sector: str | None = None
    place_gid: int | None = None
    place_name: str | None = None
    place_country3: str | None = None
    place_admin1: str | None = None
    place_feature: str | None = None
    place_lat: float | None = None
    place_lon: float | None = None
    origin_org: str | None = None
    origin_anonymous: bool = False
    evidence: str = ""
    source_key: str | None = None    # the code's country part: coded actors of different countries never match,
    target_key: str | None = None    # so candidates are looked up per key (an index range each)
    #: The event's own casualty figures (tidings.stages.casualties), JSON {kind: [count, evidence, source]}.
    casualties: str | None = None

    @property
    def asserting(self) -> bool:
        return self.modality in _ASSERTING


_MEMBER_FIELDS = tuple(f.name for f in fields(Member))
assert set(_MEMBER_FIELDS) == set(members_table.c.keys()), "Member and cluster_members must match"


def family_of(type_: str, mode: str | None = None, cameo: str | None = None) -> str:
    """The family of types that can describe one real-world act (``linking.compatible_types`` in
    ``data/plover.json``: COERCE/seize and ASSAULT, a capture; RETREAT/withdraw and an evacuation of people),
    named by the group's first type; a type in no group is its own family."""
    return _family_key(type_, mode, cameo)[0]


@functools.lru_cache(maxsize=4096)
def _family_key(type_: str, mode: str | None, cameo: str | None) -> tuple[str, bool]:
    """(family, listed): the most specific key wins (TYPE#cameo prefix, then TYPE/mode, then TYPE);
    ``listed`` says a compatibility group names this type (and mode or CAMEO code) explicitly."""
    families = rules().families
    keys = [f"{type_}#{cameo[:n]}" for n in range(len(cameo), 1, -1)] if cameo else []
    keys += [f"{type_}/{mode}", type_]
    for key in keys:
        if key in families:
            return families[key], True
    return type_, False


def _compatible_types(a: Member, b: Member) -> bool:
    """One family, and two different types only where a compatibility group lists both (so RETREAT/release
    is not an evacuation although RETREAT/withdraw is)."""
    if a.type == b.type:
        return True
    return _family_key(a.type, a.mode, a.cameo)[1] and _family_key(b.type, b.mode, b.cameo)[1]


def phase_of(modality: str) -> Phase:
    """Future statements and background history are not today's events: they only link among themselves."""
    return "future" if modality == "future" else "historical" if modality == "historical" else "current"


def member_of(event: Event, *, outlet: str | None, published: dt.date | None) -> Member:
    """Flatten an event (and what its document says: outlet, publication date) for linking."""
    dated, lo, hi = _window(event, published)
    origin, org, anonymous, label = origin_of(event.attribution, outlet)
    src, tgt, place = event.source_actor, event.target_actor, event.place
    if src is None and event.modality == "negated" and origin.startswith("named:"):
        # "we did not sign": a denial that names no actor is the speaker denying its own part
        src = Actor(name=label)
    sentence = event.evidence.get("sentence")
    return Member(
        event_id=event.id, doc_id=event.doc_id, family=family_of(event.type, event.mode, event.cameo),
        phase=phase_of(event.modality), type=event.type, mode=event.mode, cameo=event.cameo,
        modality=event.modality, confidence=event.confidence, dated=dated, date_lo=lo, date_hi=hi,
        when_start=event.when.start or event.when.end, when_end=event.when.end or event.when.start,
        granularity=event.when.granularity,
        source_code=src.code if src else None, source_name=src.name if src else None,
        source_country=src.country if src else None, source_sector=_sector(src),
        target_code=tgt.code if tgt else None, target_name=tgt.name if tgt else None,
        target_country=tgt.country if tgt else None, target_sector=_sector(tgt),
        place_gid=place.geonameid if place else None, place_name=place.name if place else None,
        place_country3=(place.country3 or place.country) if place else None,
        place_admin1=place.admin1_code if place else None, place_feature=place.feature if place else None,
        place_lat=place.lat if place else None, place_lon=place.lon if place else None,
        origin=origin, origin_org=org, origin_anonymous=anonymous, origin_label=label,
        source_key=_key(src), target_key=_key(tgt),
        evidence=(sentence.text.strip() if sentence else "")[:500], casualties=_figures_json(event))


def _figures_json(event: Event) -> str | None:
    """The event's count of each casualty kind (:meth:`Event.count`), with the evidence and the speaker of
    the figure that gives it; background totals are not the event's and are left out."""
    out: dict[str, list[Any]] = {}
    for kind in ("killed", "injured", "missing", "arrested"):
        count = event.count(kind)
        if count is None:
            continue
        figure = next(c for c in event.casualties if c.kind == kind and not c.background
                      and (c.low if c.low is not None else c.high) == count)
        out[kind] = [count, figure.span.text, figure.source]
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")) if out else None


def _sector(actor: Actor | None) -> str | None:
    """The actor's sector; for a bare country code naming a group ("Nigerians" coded NGA, kind group),
    :data:`_PEOPLE`: the people of the country, not its state."""
    if actor is None:
        return None
    if actor.code and len(actor.code) == 3 and actor.kind == "group" and actor.country and not actor.sector:
        return _PEOPLE
    return actor.sector


def _key(actor: Actor | None) -> str | None:
    """The country part of an actor's code (the candidate index key); none for codes of no country."""
    return actor.code[:3] if actor is not None and actor.code and actor.country else None


def _window(event: Event, published: dt.date | None) -> tuple[bool, dt.date | None, dt.date | None]:
    """(dated, lo, hi): the days the event may have happened on, at most MAX_WINDOW_DAYS long.

    An undated event happened shortly before publication. A denial's date is usually when the denial was
    made, so a negated event is treated as undated too (it then needs strong actor and place agreement).
    Ranges longer than two weeks are too vague to date a match: they keep their last two weeks, undated.
    """
    start, end = event.when.start or event.when.end, event.when.end or event.when.start
    if start is not None and end is not None and event.modality != "negated":
        if (end - start).days <= MAX_WINDOW_DAYS:
            return True, start, end
        return False, end - dt.timedelta(days=MAX_WINDOW_DAYS), end
    if published is None:
        if start is None or end is None:
            return False, None, None
        return False, max(start, end - dt.timedelta(days=MAX_WINDOW_DAYS)), end
    lo, hi = published - dt.timedelta(days=UNDATED_LOOKBACK_DAYS), published
    if start is not None and end is not None:
        lo, hi = min(lo, start), max(hi, end)
    return False, max(lo, hi - dt.timedelta(days=MAX_WINDOW_DAYS)), hi


def origin_of(chain: Sequence[Source], outlet: str | None = None) -> tuple[str, str | None, bool, str]:
    """(key, organisation, anonymous, label) of the origin behind an attribution chain.

    The organisation is the last news outlet or agency in the chain (RBK-Ukraine citing The New York Times
    → The New York Times): the ones before it only relay. The origin is the speaker it quotes last:

    * a named speaker is one origin whoever relays it (``named:…``);
    * anonymous speakers cannot be told apart, so they are one origin per organisation (``anon:…``);
    * no speaker: the organisation's own reporting (``org:…``).
    """
    links = list(chain) or ([Source(name=outlet, kind="outlet")] if outlet else [])
    if not links:
        return "unknown", None, False, "unknown"
    org_at = max((i for i, s in enumerate(links) if s.kind in _NEWS_KINDS), default=None)
    org = links[org_at].name if org_at is not None else outlet
    speakers = links[org_at + 1:] if org_at is not None else links
    if not speakers:
        return f"org:{_norm(org or '')}", org, False, org or "unknown"
    speaker = speakers[-1]
    if speaker.anonymous:
        return f"anon:{_norm(org or '')}", org, True, f"{org or 'unknown'}/anonymous"
    return f"named:{_norm(speaker.name)}", org, False, speaker.name


_ARTICLE = re.compile(r"^(the)\s+")
_SPACES = re.compile(r"\s+")


def _norm(name: str) -> str:
    return _ARTICLE.sub("", _SPACES.sub(" ", name.casefold()).strip())


# ------------------------------------------------------------------------------------------------ matching

def _actor_relation(a_code: str | None, a_name: str | None, a_country: str | None, a_sector: str | None,
                    b_code: str | None, b_name: str | None, b_country: str | None, b_sector: str | None
                    ) -> int | None:
    """2 same actor, 1 related (the hierarchy: a state ⊇ its organs ⊇ a named unit, by code prefix; or the
    same country and sector; or an uncoded actor of the coded one's country: "Iranian personnel" within
    IRN), 0 different, None unknown."""
    if not (a_code or a_name) or not (b_code or b_name):
        return None
    if a_code and b_code:
        if a_code == b_code:
            return 2
        for x_code, x_country, y_code in ((a_code, a_country, b_code), (b_code, b_country, a_code)):
            if x_country is None and len(x_code) == 3:   # a sector of no known country ("gangs": CRM)
                return 1 if y_code[3:6] == x_code or y_code[:3] == x_code else 0
        if a_code[:3] != b_code[:3]:   # different countries (and the candidate lookup relies on it)
            return 0
        (short, short_sector), (long_, _) = sorted(((a_code, a_sector), (b_code, b_sector)), key=lambda x: len(x[0]))
        if long_.startswith(short):
            if len(short) == 3 and short_sector == _PEOPLE:
                return 1      # "Nigerians", "Iranians": the people of a country, whoever among them acts
            bare_state = len(short) == 3
            return 1 if not bare_state or long_[3:6] in codebook().state_sectors else 0
        if a_country and a_sector and (a_country, a_sector) == (b_country, b_sector):
            return 1
        return 0
    if a_name and b_name and _norm(a_name) == _norm(b_name):
        return 2
    if a_country and b_country and (a_code or b_code):
        # an uncoded group of the coded side's country ("Iranian personnel", sector MIL): within the state
        # (a bare country code) when its sector is a state organ, within an organ of the same sector; a
        # person or a group of no known sector is nothing to go on
        coded = a_code or b_code or ""
        sector = b_sector if a_code else a_sector
        if a_country != b_country:
            return None   # an uncoded actor's country is a guess: positive evidence only
        if sector and (sector == coded[3:6] or (len(coded) == 3 and sector in codebook().state_sectors)):
            return 1
    return None   # two uncoded names: nothing to go on


def _actors(a: Member, b: Member) -> tuple[bool, bool]:
    """(compatible, strong): no known actor contradicts and at least one agrees; strong when the source
    actors agree. Symmetric types may name the parties the other way round ("Lavrov met Fidan"); then
    either party agreeing is strong. Symmetric in a and b, like everything pair_level uses."""
    direct, crossed = _relations(a, b)
    if crossed is None or _agree(direct):
        return _agree(direct), bool(direct[0])
    return _agree(crossed), bool(crossed[0] or crossed[1])


Relations = tuple[int | None, int | None]


def _relations(a: Member, b: Member) -> tuple[Relations, Relations | None]:
    """(source~source, target~target) and, for two symmetric types, (source~target, target~source)."""
    direct = (_actor_relation(a.source_code, a.source_name, a.source_country, a.source_sector,
                              b.source_code, b.source_name, b.source_country, b.source_sector),
              _actor_relation(a.target_code, a.target_name, a.target_country, a.target_sector,
                              b.target_code, b.target_name, b.target_country, b.target_sector))
    symmetric = rules().symmetric
    if a.type not in symmetric or b.type not in symmetric:
        return direct, None
    crossed = (_actor_relation(a.source_code, a.source_name, a.source_country, a.source_sector,
                               b.target_code, b.target_name, b.target_country, b.target_sector),
               _actor_relation(a.target_code, a.target_name, a.target_country, a.target_sector,
                               b.source_code, b.source_name, b.source_country, b.source_sector))
    return direct, crossed


def _agree(relations: Relations) -> bool:
    return 0 not in relations and any(relations)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _contains(area: Member, other: Member) -> bool:
    if area.place_feature == "country":
        return bool(area.place_country3) and area.place_country3 == other.place_country3
    if area.place_feature == "admin1":
        return (bool(area.place_admin1) and area.place_admin1 == other.place_admin1
                and area.place_country3 == other.place_country3)
    return False


def place_relation(a: Member, b: Member) -> Literal["same", "near", "contains", "far", "unknown"]:
    """How two members' places relate: the same place, two places ≤ NEAR_KM apart, one containing the
    other (a country or admin1 area), far apart, or unknown (a side has no place)."""
    if a.place_name is None or b.place_name is None:
        return "unknown"
    if a.place_gid is not None and a.place_gid == b.place_gid:
        return "same"
    areas = ("country", "admin1")
    if a.place_feature in areas or b.place_feature in areas:
        return "contains" if _contains(a, b) or _contains(b, a) else "far"
    if None not in (a.place_lat, a.place_lon, b.place_lat, b.place_lon):
        if abs(a.place_lat - b.place_lat) > _NEAR_DEGREES:  # type: ignore[operator]
            return "far"     # a degree of latitude is 111 km everywhere: no trigonometry needed
        near = distance_km(a.place_lat, a.place_lon, b.place_lat, b.place_lon) <= NEAR_KM  # type: ignore[arg-type]
        return "near" if near else "far"
    return "same" if _norm(a.place_name) == _norm(b.place_name) else "far"


def date_slack(a: Member, b: Member) -> int:
    """Days two dated reports may differ by and still be one event: by the coarser granularity of the two
    (``linking.date_slack_days``: a day ±2 for reporting lag, wider for a week or a month)."""
    slack = rules().date_slack
    default = slack.get("unknown", 2)
    return max(slack.get(a.granularity, default), slack.get(b.granularity, default))


def date_relation(a: Member, b: Member) -> Literal["overlap", "near", "window", "far"]:
    """overlap / near (both dated, within :func:`date_slack`) / window (an undated side, windows overlap) / far."""
    if a.date_lo is None or b.date_lo is None or a.date_hi is None or b.date_hi is None:
        both_open = a.date_lo is None and b.date_lo is None
        return "window" if both_open else "far"
    gap = (max(a.date_lo, b.date_lo) - min(a.date_hi, b.date_hi)).days
    if gap <= 0:
        return "overlap" if a.dated and b.dated else "window"
    if a.dated and b.dated and gap <= date_slack(a, b):
        return "near"
    return "far"


_STOP: frozenset[str] | None = None
_TOKEN = re.compile(r"[^\W\d_]{3,}")


def _content_words(text: str) -> frozenset[str]:
    global _STOP
    if _STOP is None:
        from spacy.lang.en.stop_words import STOP_WORDS

        _STOP = frozenset(STOP_WORDS) | {"said", "says", "told", "reported", "according", "officials", "official"}
    return frozenset(w[:6] for w in _TOKEN.findall(text.casefold()) if w not in _STOP)   # a crude stem


@functools.lru_cache(maxsize=65536)
def _words(text: str) -> frozenset[str]:
    return _content_words(text)


def similarity(a: Member, b: Member) -> float:
    """Content-word overlap (Jaccard, crude stems) of the two events' sentences: supporting evidence only —
    two reports of one event share words ("evacuat", "personnel", "border") more than two events do."""
    wa, wb = _words(a.evidence), _words(b.evidence)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


@dataclass(frozen=True)
class Match:
    """How two events compare, field by field, and what that makes of them (see :func:`assess`)."""

    level: int
    type: str = ""
    actors: str = ""
    place: str = ""
    date: str = ""
    similarity: float = 0.0
    rule: str = ""

    def why(self) -> dict[str, Any]:
        return {"level": "strong" if self.level == STRONG else "weak" if self.level == WEAK else "none",
                "rule": self.rule, "type": self.type, "actors": self.actors, "place": self.place,
                "date": self.date, "similarity": round(self.similarity, 2)}


def _type_relation(a: Member, b: Member) -> str:
    if a.type == b.type:
        return "same" if a.mode == b.mode or not (a.mode and b.mode) else "same type, modes differ"
    return f"compatible ({a.type}{'/' + a.mode if a.mode else ''} ~ {b.type}{'/' + b.mode if b.mode else ''})"


def _actor_text(direct: Relations, crossed: Relations | None, swapped: bool) -> str:
    names = {2: "same", 1: "related", 0: "different", None: "unknown"}
    rel = crossed if swapped and crossed is not None else direct
    text = f"source {names[rel[0]]}, target {names[rel[1]]}"
    return text + " (parties named the other way round)" if swapped else text


def assess(a: Member, b: Member) -> Match:
    """Whether two events are one real-world event, and why (symmetric in a and b; see the module doc).

    Strong: same place and overlapping dates; or, undated, same place and agreeing source actors. Weak
    (taken only when unique between two documents): what reporting blurs — a city inside the country or
    region another report names, a nearby town, dates within the granularity's slack, a party's denial
    without a place, a missing place or conflicting sources where the sentences say much the same."""
    if a.family != b.family or a.phase != b.phase or a.event_id == b.event_id:
        return _NO_MATCH
    if a.type == b.type and a.type in rules().mode_matters and a.mode and b.mode and a.mode != b.mode:
        return _NO_MATCH
    if not _compatible_types(a, b):
        return _NO_MATCH
    place, when = place_relation(a, b), date_relation(a, b)
    if (a.doc_id == b.doc_id and a.evidence and a.evidence == b.evidence and a.type == b.type
            and place in ("same", "contains", "unknown") and when in ("overlap", "window") and not _turned(a, b)):
        # one sentence, one act told in parts: coordinated parties ("the army and the RSF signed"), or the
        # perpetrator in one clause and the dead in another ("drones struck the market, killing 21")
        return Match(STRONG, type="same", actors="parts of one sentence", place=place, date=when, similarity=1.0,
                     rule="one sentence of one report")
    direct, crossed = _relations(a, b)
    swapped = crossed is not None and not _agree(direct) and _agree(crossed)
    rel = crossed if swapped and crossed is not None else direct
    compatible, strong_actor = _agree(rel), bool(rel[0] or (swapped and rel[1]))
    if not compatible and not (rel[0] == 0 and rel[1] and a.target_key and a.target_key == b.target_key):
        return _NO_MATCH
    sim = -1.0

    def similar() -> float:
        nonlocal sim
        if sim < 0:
            sim = similarity(a, b) if a.evidence and b.evidence else 0.0
        return sim

    level, rule = _decide(a, b, compatible, strong_actor, rel, place, when, similar)
    if not level:
        return _NO_MATCH
    gap = _gap(a, b)
    return Match(level, type=_type_relation(a, b), actors=_actor_text(direct, crossed, swapped), place=place,
                 date=when + (f" ({gap} day{'s' if gap > 1 else ''} apart)" if gap else ""), similarity=similar(), rule=rule)


_NO_MATCH = Match(0)


def _decide(a: Member, b: Member, compatible: bool, strong_actor: bool, rel: Relations, place: str, when: str,
            similar: Any) -> tuple[int, str]:
    if not compatible:
        # Reports that name different perpetrators of one strike ("government jets" / "Russian jets"):
        # everything else must agree, and the sentences be much alike; the clash is then a contradiction.
        if place in ("same", "near") and when in ("overlap", "near") and similar() >= VERY_SIMILAR:
            return WEAK, "sources disagree, all else agrees"
        return 0, ""
    denial = (a.modality == "negated") != (b.modality == "negated")
    if when == "overlap":
        if place == "same":
            return STRONG, "same place, dates overlap"
        if place in ("near", "contains"):
            return WEAK, f"place {place}, dates overlap"
        if strong_actor:
            return WEAK, "same actors and day, places differ"
        return 0, ""
    if when == "near":
        # two blurred fields at once (another town nearby and another day) is another event: Hama, then Homs
        if strong_actor and place in ("same", "contains"):
            return WEAK, f"place {place}, dates within the slack"
        if strong_actor and place == "unknown" and similar() >= SIMILAR:
            return WEAK, "no place, dates within the slack, similar sentences"
        return 0, ""
    if when == "window" and strong_actor:
        if place == "same":
            return STRONG, "undated: same place and source"
        if place == "near" or (place == "contains" and similar() >= SIMILAR / 2):
            return WEAK, f"undated: place {place}, same source"
        if place == "unknown" and denial and (rel[0] == 2 or all(rel)) and similar() >= SIMILAR / 2:
            return WEAK, "a party's denial"
        if place == "unknown" and ((rel == (2, 2) and similar() >= SIMILAR / 2) or similar() >= SIMILAR):
            return WEAK, "undated, no place: the same actors or similar sentences"
    return 0, ""


def _turned(a: Member, b: Member) -> bool:
    """One's target is the other's source: an act and the act against its doer (the navy foiled the
    pirates who attacked the ship) — two acts, even in one sentence. A people and a group of it ("Turkish
    drones … killing people" with both coded by the country) is not that: the act against its doer needs
    the doer itself or its state hierarchy, not the nationality they share."""
    for (code, name, country, sector), (o_code, o_name, o_country, o_sector) in (
            ((a.source_code, a.source_name, a.source_country, a.source_sector),
             (b.target_code, b.target_name, b.target_country, b.target_sector)),
            ((a.target_code, a.target_name, a.target_country, a.target_sector),
             (b.source_code, b.source_name, b.source_country, b.source_sector))):
        relation = _actor_relation(code, name, country, sector, o_code, o_name, o_country, o_sector)
        if relation == 2 or (relation == 1 and _PEOPLE not in (sector, o_sector)):
            return True
    return False


def _gap(a: Member, b: Member) -> int:
    if None in (a.when_start, a.when_end, b.when_start, b.when_end):
        return 0
    return max(0, (max(a.when_start, b.when_start) - min(a.when_end, b.when_end)).days)  # type: ignore[type-var,operator]


def pair_level(a: Member, b: Member) -> int:
    """0, WEAK or STRONG: how surely two events are one real-world event (symmetric; see :func:`assess`)."""
    return assess(a, b).level


def accepted_links(ours: Sequence[Member], theirs: Sequence[Member]) -> list[tuple[Member, Member]]:
    """Links between the events of two documents: every strong pair; a weak pair only when it is the one
    pair linking those two events to the other document at all (mutual uniqueness, see the module doc)."""
    return [(a, b) for a, b, _ in accepted_matches(ours, theirs)]


def accepted_matches(ours: Sequence[Member], theirs: Sequence[Member]) -> list[tuple[Member, Member, Match]]:
    """:func:`accepted_links` with the :class:`Match` of each. Among weak pairs that are not unique, the
    sentence similarity decides when one pair is clearly the most alike for both its events (the best by a
    margin in its row and its column): that is the supporting evidence text gives."""
    if ours and theirs and ours[0].doc_id == theirs[0].doc_id:
        return [(a, b, m) for i, a in enumerate(ours) for b in ours[i + 1:] if (m := assess(a, b)).level == STRONG]
    found = {(i, j): m for i, a in enumerate(ours) for j, b in enumerate(theirs) if (m := assess(a, b)).level}
    rows: dict[int, list[float]] = defaultdict(list)
    cols: dict[int, list[float]] = defaultdict(list)
    for (i, j), m in found.items():
        rows[i].append(m.similarity)
        cols[j].append(m.similarity)
    out = []
    for (i, j), m in found.items():
        if m.level == STRONG or (len(rows[i]) == 1 and len(cols[j]) == 1):
            out.append((ours[i], theirs[j], m))
        elif m.similarity >= SIMILAR and _clearly_best(m.similarity, rows[i]) and _clearly_best(m.similarity, cols[j]):
            out.append((ours[i], theirs[j], replace(m, rule=m.rule + "; the most similar sentence")))
    return out


def _clearly_best(value: float, values: list[float]) -> bool:
    others = sorted(values, reverse=True)
    others.remove(value)
    return not others or value >= others[0] + 0.1


# ------------------------------------------------------------------------------------------------ near-duplicates

_WORD = re.compile(r"\w+")


def sketch(text: str) -> list[int]:
    """Bottom-k MinHash sketch of the text's word shingles: resemblance of two texts from 64 numbers each.

    Why not ``datasketch`` (the usual MinHash/LSH library): its MinHash holds 128 permutation hashes per
    text and its LSH index lives in memory, while here the sketch is a column of ``linked_documents``,
    compared only for the few documents that share an event candidate (linking already blocks by type,
    date and place), so no index is needed; one blake2b hash per shingle and a bottom-k cut are a dozen lines, are
    exact below 64 shingles (short wire items), and stay stable across library versions — a stored sketch
    must mean the same thing years later."""
    words = _WORD.findall(text.casefold())
    n = min(SHINGLE_WORDS, max(1, len(words)))
    shingles = {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}
    hashes = {int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") for s in shingles}
    return sorted(hashes)[:SKETCH_SIZE]


def resemblance(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of two texts' shingle sets (exact for texts of < 64 shingles)."""
    if not a or not b:
        return 0.0
    set_a, set_b = set(a), set(b)
    union = sorted(set_a | set_b)[:SKETCH_SIZE]
    return sum(1 for h in union if h in set_a and h in set_b) / len(union)


def _encode_sketch(hashes: Sequence[int]) -> str:
    return "".join(f"{h:016x}" for h in hashes)


def _decode_sketch(text: str) -> list[int]:
    return [int(text[i:i + 16], 16) for i in range(0, len(text), 16)]


# ------------------------------------------------------------------------------------------------ summaries

@dataclass(frozen=True)
class Contradiction:
    """Members that disagree, each side with its value, its origin (who says so) and its evidence sentence:
    ``kind`` modality (asserted vs. denied), denial (a party to the event denies it), date (no overlap),
    place (> 100 km apart), actor (different perpetrators named) or casualties (different figures)."""

    kind: str
    members: list[str]
    values: list[str]
    sources: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "members": list(self.members), "values": list(self.values),
                "sources": list(self.sources), "evidence": list(self.evidence)}


def _contradiction(kind: str, members: Sequence[Member], values: Sequence[str]) -> Contradiction:
    return Contradiction(kind, [m.event_id for m in members], list(values), [m.origin_label for m in members],
                         [m.evidence for m in members])


@dataclass(frozen=True)
class Corroboration:
    independent_sources: int
    anonymous_only: bool
    origins: list[str]


@dataclass(frozen=True)
class DocInfo:
    """What linking needs of a document besides its events."""

    doc_id: str
    outlet: str | None
    published: dt.date | None
    sketch: list[int]
    ingested: dt.date | None = None     # when it was stored (analysed): first reported, without a publication date

    @property
    def reported(self) -> dt.date | None:
        """When this report was first known: its publication date, else when it was stored."""
        return self.published or self.ingested


def corroboration(members: Sequence[Member], docs: dict[str, DocInfo]) -> Corroboration:
    """Distinct independent origins among the members that report the event (a denial is no support;
    a cluster of denials, plans or history counts all); near-duplicate documents count once."""
    members = [m for m in members if m.asserting] or list(members)
    counted = _representative_docs({m.doc_id for m in members}, docs)
    origins: dict[str, Member] = {}
    for m in sorted(members, key=lambda m: m.event_id):
        if m.doc_id in counted:
            origins.setdefault(m.origin, m)
    # organisations that name their source in any report, a syndicated copy included: the copy may be the
    # one counted (under the reprinting outlet's name) while a blog cites the wire that wrote it
    cited_orgs = {_norm(m.origin_org) for m in members if not m.origin.startswith("org:") and m.origin_org}
    kept = {key: m for key, m in origins.items() if not (key.startswith("org:") and key[4:] in cited_orgs)}
    labels = sorted(m.origin_label for m in kept.values())
    anonymous = bool(kept) and all(m.origin_anonymous for m in kept.values())
    return Corroboration(len(kept), anonymous, labels)


def _representative_docs(doc_ids: set[str], docs: dict[str, DocInfo]) -> set[str]:
    """One document per group of near-duplicates (the earliest published, then lowest id)."""
    ordered = sorted(doc_ids, key=lambda d: (docs[d].published or dt.date.max, d) if d in docs else (dt.date.max, d))
    kept: list[str] = []
    for doc_id in ordered:
        mine = docs[doc_id].sketch if doc_id in docs else []
        if not any(resemblance(mine, docs[k].sketch if k in docs else []) >= NEAR_DUPLICATE for k in kept):
            kept.append(doc_id)
    return set(kept)


def contradictions(members: Sequence[Member]) -> list[Contradiction]:
    """Disagreements inside a cluster, surfaced rather than averaged away (each between documents): a
    denial against reports (modality), and a party to the event denying it (denial); dates that do not
    overlap; places more than FAR_KM apart; different perpetrators; different casualty figures."""
    found: list[Contradiction] = []
    asserting = [m for m in members if m.asserting]
    negated = [m for m in members if m.modality == "negated"]
    if asserting and negated:
        involved = sorted(asserting + negated, key=lambda m: m.event_id)
        found.append(_contradiction("modality", involved, [m.modality for m in involved]))
        parties = sorted((m for m in negated if _is_party(m, asserting)), key=lambda m: m.event_id)
        if parties:
            found.append(_contradiction("denial", parties, [
                f"denied by {m.source_name or m.origin_label}" for m in parties]))
    dated = [m for m in asserting if m.dated]
    clash = _involved(dated, lambda a, b: a.date_hi < b.date_lo or b.date_hi < a.date_lo)  # type: ignore[operator]
    if clash:
        found.append(_contradiction("date", clash, [_date_text(m) for m in clash]))
    placed = [m for m in asserting if m.place_name is not None]
    clash = _involved(placed, _places_clash)
    if clash:
        found.append(_contradiction("place", clash, [str(m.place_name) for m in clash]))
    coded = [m for m in asserting if m.source_code]
    by_doc = _by_doc(coded)
    # documents disagree on the perpetrator when none of the actors one names fits any the other names
    # (a report naming both parties of a joint act does not disagree with one naming either)
    clash = _involved(coded, lambda a, b: all(_sources_clash(x, y) for x in by_doc[a.doc_id] for y in by_doc[b.doc_id]))
    if clash:
        found.append(_contradiction("actor", clash, [f"{m.source_name} [{m.source_code}]" for m in clash]))
    figures = {m.event_id: casualties(m) for m in asserting}
    for kind in sorted({k for f in figures.values() for k in f}):
        counted = [m for m in asserting if kind in figures[m.event_id]]
        clash = _involved(counted, lambda a, b, k=kind: figures[a.event_id][k][0] != figures[b.event_id][k][0])
        if clash:
            # each side keeps its own figure, its evidence (the figure's words) and who says so
            found.append(Contradiction(
                "casualties", [m.event_id for m in clash], [f"{figures[m.event_id][kind][0]} {kind}" for m in clash],
                [m.origin_label for m in clash],
                [figures[m.event_id][kind][1] or m.evidence for m in clash]))
    return found


def casualties(member: Member) -> dict[str, list[Any]]:
    """A member's casualty figures, ``{kind: [count, evidence, source]}``, as the casualties stage found them
    (``{}`` for members linked by an older tidings, before figures were kept)."""
    return json.loads(member.casualties) if member.casualties else {}


def _is_party(denial: Member, reports: Sequence[Member]) -> bool:
    """The denying member's actor (or the speaker it quotes) is a party to the event the reports describe."""
    for m in reports:
        for code, name in ((m.source_code, m.source_name), (m.target_code, m.target_name)):
            rel = _actor_relation(denial.source_code, denial.source_name, None, None, code, name, None, None)
            if rel:
                return True
            if name and denial.origin_label and _norm(name) in _norm(denial.origin_label):
                return True
    return False


def _sources_clash(a: Member, b: Member) -> bool:
    """Two reports name different perpetrators (for symmetric types, not merely the parties swapped)."""
    direct, crossed = _relations(a, b)
    return direct[0] == 0 and (crossed is None or not _agree(crossed))


def _involved(members: Sequence[Member], clash: Any) -> list[Member]:
    """Members in at least one clashing pair from two different documents (one document that names two
    dates or places is telling two events, or its coder mis-attached one: not sources disagreeing)."""
    hit = {m.event_id: m for i, a in enumerate(members) for b in members[i + 1:]
           if a.doc_id != b.doc_id and clash(a, b) for m in (a, b)}
    return sorted(hit.values(), key=lambda m: m.event_id)


def _places_clash(a: Member, b: Member) -> bool:
    if place_relation(a, b) != "far":
        return False
    if None in (a.place_lat, a.place_lon, b.place_lat, b.place_lon):
        return True
    return distance_km(a.place_lat, a.place_lon, b.place_lat, b.place_lon) > FAR_KM  # type: ignore[arg-type]


def _date_text(m: Member) -> str:
    if m.when_start == m.when_end:
        return str(m.when_start)
    return f"{m.when_start}..{m.when_end}"


@dataclass(frozen=True)
class Choice:
    """The best-supported values of a cluster, each named by a member that carries it."""

    type: str
    mode: str | None
    modality: str
    representative: str
    source: tuple[str, str] | None      # (event id, role it plays there): symmetric types may swap roles
    target: tuple[str, str] | None
    place: str | None
    when: tuple[dt.date, dt.date, str] | None


def choose_canonical(members: Sequence[Member]) -> Choice:
    """Majority where values are alternatives, the most specific where one value refines another
    (IRN vs. IRNMIL, Syria vs. Damascus, a week vs. a day in it). Ties break on content, not arrival."""
    pool = [m for m in members if m.asserting] or list(members)
    confidence: dict[str, float] = defaultdict(float)
    for m in pool:
        confidence[m.type] += m.confidence
    types = Counter(m.type for m in pool)
    type_ = min(types, key=lambda t: (-types[t], -confidence[t], t))
    modes = Counter(m.mode for m in pool if m.type == type_ and m.mode)
    mode = min(modes, key=lambda x: (-modes[x], x)) if modes else None
    modalities = Counter(m.modality for m in pool)
    order = ("asserted", "reported", "hedged", "negated", "future", "historical")
    modality = min(modalities, key=lambda x: (-modalities[x], order.index(x)))
    representative = min((m for m in pool if m.type == type_), key=lambda m: (-m.confidence, m.event_id))
    oriented = [(_oriented(m, representative), m) for m in pool]
    return Choice(type_, mode, modality, representative.event_id, _best_actor(oriented, "source"),
                  _best_actor(oriented, "target"), _best_place(pool), _best_when(pool))


def _oriented(m: Member, like: Member) -> Member:
    """For symmetric types, ``m`` with source and target swapped when it names the parties the other way
    round from ``like`` ("Lavrov met Fidan" against "Fidan met Lavrov")."""
    if m.type not in rules().symmetric or m is like:
        return m
    swapped = _swapped(m)
    direct = _actors(replace(m, type=""), like)[1]      # type "": the relation as written, no swapping
    crossed = _actors(replace(swapped, type=""), like)[1]
    return swapped if not direct and crossed else m


def _swapped(m: Member) -> Member:
    return replace(m, **{f"{a}_{what}": getattr(m, f"{b}_{what}") for a, b in (("source", "target"),
                   ("target", "source")) for what in ("code", "name", "country", "sector")})


def _best_actor(oriented: Sequence[tuple[Member, Member]], role: str) -> tuple[str, str] | None:
    """The best-supported actor in ``role`` and where to find it: (event id, role in that event)."""
    carriers = [(o, m) for o, m in oriented if getattr(o, f"{role}_code") or getattr(o, f"{role}_name")]
    if not carriers:
        return None

    def key(m: Member) -> str:
        return getattr(m, f"{role}_code") or f"name:{_norm(getattr(m, f'{role}_name'))}"

    def supports(general: str, specific: str) -> bool:
        return general == specific or (not general.startswith("name:") and specific.startswith(general))

    values = {key(o) for o, _ in carriers}
    support = {v: sum(1 for o, _ in carriers if supports(key(o), v)) for v in values}
    best = min(values, key=lambda v: (-support[v], -len(v), v))
    o, m = min(((o, m) for o, m in carriers if key(o) == best), key=lambda p: (-p[1].confidence, p[1].event_id))
    swapped = o is not m
    return m.event_id, ({"source": "target", "target": "source"}[role] if swapped else role)


def _best_place(pool: Sequence[Member]) -> str | None:
    placed = [m for m in pool if m.place_name is not None]
    if not placed:
        return None

    def support(p: Member) -> int:
        return sum(1 for m in placed if place_relation(m, p) == "same" or _contains(m, p))

    best = min(placed, key=lambda p: (-support(p), -_FEATURE_RANK.get(p.place_feature or "", 2),
                                      p.place_name or "", -p.confidence, p.event_id))
    return best.event_id


def _best_when(pool: Sequence[Member]) -> tuple[dt.date, dt.date, str] | None:
    dated = [m for m in pool if m.dated and m.when_start and m.when_end]
    if not dated:
        return None

    def support(r: Member) -> int:
        return sum(1 for m in dated if m.when_start <= r.when_start and r.when_end <= m.when_end)  # type: ignore[misc,operator]

    best = min(dated, key=lambda r: (-support(r), (r.when_end - r.when_start).days, r.when_start, r.event_id))  # type: ignore[operator]
    return best.when_start, best.when_end, best.granularity  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------ public records

@dataclass(frozen=True)
class Cluster:
    """One real-world event as reported across documents."""

    id: str
    type: str
    mode: str | None
    modality: str
    size: int
    documents: int
    independent_sources: int
    anonymous_only: bool
    date_start: dt.date | None
    date_end: dt.date | None
    reported: dt.date | None
    source: str | None
    target: str | None
    place: str | None
    origins: list[str]
    contradictions: list[Contradiction]
    canonical: Event
    members: list[Member] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)     # why members were linked (Match.why)
    history: list[dict[str, Any]] = field(default_factory=list)   # each report's arrival, oldest first

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the cluster, its canonical event and its members with their evidence."""
        return {
            "id": self.id, "type": self.type, "mode": self.mode, "modality": self.modality, "size": self.size,
            "documents": self.documents, "independent_sources": self.independent_sources,
            "anonymous_only": self.anonymous_only,
            "date_start": _iso(self.date_start), "date_end": _iso(self.date_end), "reported": _iso(self.reported),
            "source": self.source, "target": self.target, "place": self.place, "origins": self.origins,
            "contradictions": [c.as_dict() for c in self.contradictions],
            "canonical": json.loads(self.canonical.model_dump_json()),
            "members": [{"event_id": m.event_id, "doc_id": m.doc_id, "type": m.type, "modality": m.modality,
                         "origin": m.origin_label, "date": _date_text(m) if m.dated else None,
                         "place": m.place_name, "evidence": m.evidence} for m in self.members],
            "links": self.links, "history": self.history,
        }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class LinkReport:
    """What one linking run did."""

    linked: int = 0            # documents whose memberships were (re)computed
    unchanged: int = 0         # documents already linked with the same events: nothing to do
    removed: int = 0           # documents no longer in the store: their memberships were dropped
    events: int = 0            # events added as members
    clusters: set[str] = field(default_factory=set)   # clusters created or changed


# ------------------------------------------------------------------------------------------------ linking

def link_documents(store: Store, doc_ids: Iterable[str]) -> LinkReport:
    """Update clusters for these documents: new ones are linked, re-analysed ones re-linked, unchanged ones
    left alone (idempotent), and ids no longer in the store unlinked. Work is proportional to the documents
    given and the clusters they touch, not to the size of the store."""
    report = LinkReport()
    ids = list(dict.fromkeys(doc_ids))
    for start in range(0, len(ids), _BATCH_DOCUMENTS):
        with store.write() as conn:
            linker = _Linker(conn, report)
            for doc_id in ids[start:start + _BATCH_DOCUMENTS]:
                linker.link(doc_id)
            linker.finish()
    return report


def link_pending(store: Store) -> LinkReport:
    """Link every document not linked yet or re-analysed since, and unlink deleted ones."""
    d, ld = documents_table.c, linked_documents_table.c
    new = (sa.select(d.id).select_from(documents_table.outerjoin(linked_documents_table, ld.doc_id == d.id))
           .where(sa.or_(ld.doc_id.is_(None), ld.analysed_at.is_(None), ld.analysed_at != d.analysed_at))
           .order_by(d.key))
    gone = (sa.select(ld.doc_id).select_from(linked_documents_table.outerjoin(documents_table, d.id == ld.doc_id))
            .where(d.id.is_(None)))
    with store.read() as conn:
        pending = list(conn.scalars(new)) + list(conn.scalars(gone))
    return link_documents(store, pending)


# Statements built once: SQLAlchemy then reuses their compiled form, and linking spends its time on
# linking rather than on building SQL (the goal is a few ms per event).
_ld, _m, _c, _a = linked_documents_table.c, members_table.c, clusters_table.c, aliases_table.c
_l = links_table.c
_SELECT_MEMBERS = sa.select(*[members_table.c[name] for name in _MEMBER_FIELDS])
_Q_LINKED = sa.select(_ld.events_hash, _ld.analysed_at).where(_ld.doc_id == sa.bindparam("doc_id"))
# the document and what linking stored of it, in one round trip (statements, not rows, are the cost per event)
_Q_DOCUMENT_LINKED = (sa.select(documents_table.c.outlet, documents_table.c.published, documents_table.c.text,
                                documents_table.c.analysed_at, _ld.doc_id.label("linked"),
                                _ld.events_hash.label("linked_hash"), _ld.analysed_at.label("linked_at"))
                      .select_from(documents_table.outerjoin(linked_documents_table, _ld.doc_id == documents_table.c.id))
                      .where(documents_table.c.id == sa.bindparam("doc_id")))
_Q_EVENTS = (sa.select(events_table.c.data).where(events_table.c.doc_id == sa.bindparam("doc_id"))
             .order_by(events_table.c.position))


def _candidate_query(*key: Any) -> sa.Select[Any]:
    return _SELECT_MEMBERS.where(
        _m.family == sa.bindparam("family"), _m.phase == sa.bindparam("phase"), *key,
        _m.date_lo >= sa.bindparam("lo_min"), _m.date_lo <= sa.bindparam("lo_max"),
        _m.date_hi >= sa.bindparam("hi_min"))


_Q_CANDIDATES = {"any": _candidate_query(), "source": _candidate_query(_m.source_key == sa.bindparam("key")),
                 "unkeyed": _candidate_query(_m.source_key.is_(None)),
                 "target": _candidate_query(_m.target_key == sa.bindparam("key"))}
# Reports naming different perpetrators of one act on one target link only at the same or a near place on
# a close day (see _decide): that lookup is bounded by a box around the place as well (a row without
# coordinates may still be the same place by name, so it stays in).
_Q_CANDIDATES_TARGET_NEAR = _candidate_query(
    _m.target_key == sa.bindparam("key"), _m.dated.is_(True),
    sa.or_(_m.place_gid == sa.bindparam("gid"), _m.place_lat.is_(None),
           sa.and_(_m.place_lat.between(sa.bindparam("lat_lo"), sa.bindparam("lat_hi")),
                   _m.place_lon.between(sa.bindparam("lon_lo"), sa.bindparam("lon_hi")))))
_Q_CANDIDATES_UNDATED = _SELECT_MEMBERS.where(
    _m.family == sa.bindparam("family"), _m.phase == sa.bindparam("phase"), _m.date_lo.is_(None))
_Q_MEMBERS_OF = _SELECT_MEMBERS.where(_m.cluster_id.in_(sa.bindparam("ids", expanding=True)))
_Q_MEMBERS_OF_DOCS = _SELECT_MEMBERS.where(
    _m.doc_id.in_(sa.bindparam("ids", expanding=True)), _m.family == sa.bindparam("family"),
    _m.phase == sa.bindparam("phase"))
_Q_DOC_CLUSTERS = sa.select(_m.cluster_id).where(_m.doc_id == sa.bindparam("doc_id")).distinct()
_Q_DOCS = sa.select(linked_documents_table).where(_ld.doc_id.in_(sa.bindparam("ids", expanding=True)))
_Q_EVENT_DATA = sa.select(events_table.c.id, events_table.c.data).where(
    events_table.c.id.in_(sa.bindparam("ids", expanding=True)))
_Q_TAKEN = sa.select(_c.id).where(_c.id == sa.bindparam("cid"))
_Q_TAKEN_ANY = sa.select(_c.id).where(_c.id.in_(sa.bindparam("ids", expanding=True)))
_Q_SEQS = sa.select(_c.id, _c.seq).where(_c.id.in_(sa.bindparam("ids", expanding=True)))
_D_LINKED = linked_documents_table.delete().where(_ld.doc_id == sa.bindparam("doc_id"))
_D_DOC_MEMBERS = members_table.delete().where(_m.doc_id == sa.bindparam("doc_id"))
_D_ALIASES = aliases_table.delete().where(_a.old_id.in_(sa.bindparam("ids", expanding=True)))
_U_LINKED_AT = (linked_documents_table.update().where(_ld.doc_id == sa.bindparam("b_doc"))
                .values(analysed_at=sa.bindparam("at")))
_U_CLUSTER = clusters_table.update().where(_c.id == sa.bindparam("cid"))
_U_MOVE = members_table.update().where(_m.event_id == sa.bindparam("eid")).values(cluster_id=sa.bindparam("to"))


def _cluster_id(event_id: str, salt: int = 0) -> str:
    text = event_id if salt == 0 else f"{event_id}#{salt}"
    return "c" + hashlib.sha256(text.encode()).hexdigest()[:15]


class _Linker:
    """One write transaction's worth of linking; see :func:`link_documents`."""

    def __init__(self, conn: Connection, report: LinkReport) -> None:
        self.conn = conn
        self.report = report
        self.dirty: set[str] = set()
        self.next_seq = int(conn.scalar(sa.select(sa.func.max(_m.seq))) or 0) + 1

    # -------------------------------------------------------------------- one document
    def link(self, doc_id: str) -> None:
        row = self.conn.execute(_Q_DOCUMENT_LINKED, {"doc_id": doc_id}).first()
        if row is None:
            if self.conn.execute(_Q_LINKED, {"doc_id": doc_id}).first() is not None:
                self._unlink(doc_id)
                self.report.removed += 1
            return
        stored = row if row.linked is not None else None
        data = list(self.conn.scalars(_Q_EVENTS, {"doc_id": doc_id}))
        digest = _events_hash(data)
        if stored is not None and stored.linked_hash == digest:
            if stored.linked_at != row.analysed_at:   # re-analysed, same result: only remember that
                self.conn.execute(_U_LINKED_AT, {"b_doc": doc_id, "at": row.analysed_at})
            self.report.unchanged += 1
            return
        if stored is not None:
            self._unlink(doc_id)
        info = DocInfo(doc_id, row.outlet, row.published, sketch(row.text), _day(row.analysed_at))
        self.conn.execute(linked_documents_table.insert(), [{
            "doc_id": doc_id, "analysed_at": row.analysed_at, "events_hash": digest, "outlet": info.outlet,
            "published": info.published, "sketch": _encode_sketch(info.sketch)}])
        self._add(info, [Event.model_validate_json(d) for d in data])
        self.report.linked += 1

    def _add(self, info: DocInfo, events: list[Event]) -> None:
        new = []
        for event in events:
            member = replace(member_of(event, outlet=info.outlet, published=info.published), seq=self.next_seq)
            self.next_seq += 1
            new.append(member)
        if not new:
            return
        groups = _UnionFind()
        for m in new:
            groups.add(("e", m.event_id))
        why: list[dict[str, Any]] = []
        for a, b, match in accepted_matches(new, new):
            groups.union(("e", a.event_id), ("e", b.event_id))
            why.append(_link_row(a, b, match))
        for theirs in _by_doc(self._candidates(new)).values():
            for a, b, match in accepted_matches(new, theirs):
                groups.union(("e", a.event_id), ("c", b.cluster_id))
                why.append(_link_row(a, b, match))
        if why:
            self.conn.execute(links_table.insert(), why)
        assigned: dict[str, str] = {}
        founding: list[list[Member]] = []
        for component in groups.components():
            mine = sorted((m for m in new if ("e", m.event_id) in component), key=lambda m: m.seq)
            if not mine:
                continue
            found = sorted(c for kind, c in component if kind == "c")
            if found:
                cid = self._merge(found)
                assigned.update((m.event_id, cid) for m in mine)
            else:
                founding.append(mine)
        for mine, cid in zip(founding, self._new_clusters([mine[0] for mine in founding]), strict=True):
            assigned.update((m.event_id, cid) for m in mine)
        self.conn.execute(members_table.insert(), [_row(replace(m, cluster_id=assigned[m.event_id])) for m in new])
        self.dirty.update(assigned.values())
        self.report.events += len(new)

    def _candidates(self, new: Sequence[Member]) -> list[Member]:
        """Members of other documents that could link to ``new``: index ranges per family, phase, actor
        key and merged date window (widened by the slack, and by the longest member window on the low
        side). Complete: every member with a nonzero pair_level to a new one is among them."""
        found: dict[str, Member] = {}
        slack, longest = dt.timedelta(days=rules().max_slack), dt.timedelta(days=MAX_WINDOW_DAYS)
        for (family, phase), group in _by_family(new).items():
            lookups = _lookups(group, family)
            for lo, hi in _windows(group):
                if lo is None or hi is None:
                    batches = [self.conn.execute(_Q_CANDIDATES_UNDATED, {"family": family, "phase": phase})]
                else:
                    window = {"family": family, "phase": phase, "lo_min": lo - slack - longest,
                              "lo_max": hi + slack, "hi_min": lo - slack}
                    batches = [self.conn.execute(_Q_CANDIDATES[kind], {**window, "key": key})
                               for kind, key in lookups]
                for rows in batches:
                    for row in rows:
                        if row.event_id not in found:
                            found[row.event_id] = Member(*row)
            if any(m.type in rules().symmetric for m in group):
                continue     # _lookups already looked the parties up both ways, unbounded by place
            for m in group:   # another perpetrator: only dated, placed reports of the same target
                if m.target_key is None or m.place_name is None or not m.dated or m.date_lo is None or m.date_hi is None:
                    continue
                window = {"family": family, "phase": phase, "key": m.target_key, "lo_min": m.date_lo - slack - longest,
                          "lo_max": m.date_hi + slack, "hi_min": m.date_lo - slack}
                near = _near_box(m)
                rows = (self.conn.execute(_Q_CANDIDATES["target"], window) if near is None else
                        self.conn.execute(_Q_CANDIDATES_TARGET_NEAR, {**window, "gid": m.place_gid, **near}))
                for row in rows:
                    if row.event_id not in found:
                        found[row.event_id] = Member(*row)
        return list(found.values())

    # -------------------------------------------------------------------- clusters
    def _new_cluster(self, first: Member) -> str:
        return self._new_clusters([first])[0]

    def _new_clusters(self, firsts: Sequence[Member]) -> list[str]:
        """Clusters named after their first members (salted only if that id is taken: an event re-added
        after its document was re-analysed, while its old cluster lives on); their rows exist from the start
        and finish() fills in the summaries. One document's new clusters cost three statements together."""
        if not firsts:
            return []
        ids = [_cluster_id(first.event_id) for first in firsts]
        taken = set(self.conn.scalars(_Q_TAKEN_ANY, {"ids": ids}))
        for i, first in enumerate(firsts):
            salt = 0
            while ids[i] in taken or ids[i] in ids[:i]:
                salt += 1
                if salt >= 1000:  # pragma: no cover - a thousand clusters founded by one event id
                    raise RuntimeError(f"no free cluster id for event {first.event_id}")
                ids[i] = _cluster_id(first.event_id, salt)
                if self.conn.execute(_Q_TAKEN, {"cid": ids[i]}).first() is not None:
                    taken.add(ids[i])
        self.conn.execute(_D_ALIASES, {"ids": ids})
        now = _now()
        self.conn.execute(clusters_table.insert(), [{
            "id": cid, "seq": first.seq, "type": first.type, "phase": first.phase, "modality": first.modality,
            "size": 0, "documents": 0, "independent_sources": 0, "anonymous_only": False, "origins": "[]",
            "contradictions": "[]", "canonical": "{}", "updated_at": now} for cid, first in zip(ids, firsts, strict=True)])
        return ids

    def _merge(self, cluster_ids: Sequence[str]) -> str:
        """Fold clusters into the oldest; the others' ids become aliases of it."""
        if len(cluster_ids) == 1:
            return cluster_ids[0]
        seqs = {r.id: r.seq for r in self.conn.execute(_Q_SEQS, {"ids": list(cluster_ids)})}
        survivor = min(cluster_ids, key=lambda cid: (seqs.get(cid, math.inf), cid))
        others = [cid for cid in cluster_ids if cid != survivor]
        self.conn.execute(members_table.update().where(_m.cluster_id.in_(others)).values(cluster_id=survivor))
        self.conn.execute(clusters_table.delete().where(_c.id.in_(others)))
        self.conn.execute(aliases_table.update().where(_a.new_id.in_(others)).values(new_id=survivor))
        self.conn.execute(aliases_table.insert(), [{"old_id": cid, "new_id": survivor} for cid in others])
        self.dirty.difference_update(others)
        self.report.clusters.difference_update(others)
        return survivor

    def _unlink(self, doc_id: str) -> None:
        """Drop a document's members, then split what is left of their clusters where it no longer holds."""
        affected = sorted(self.conn.scalars(_Q_DOC_CLUSTERS, {"doc_id": doc_id}))
        self.conn.execute(_D_DOC_MEMBERS, {"doc_id": doc_id})
        self.conn.execute(_D_LINKED, {"doc_id": doc_id})
        self.conn.execute(links_table.delete().where(sa.or_(_l.a_doc == doc_id, _l.b_doc == doc_id)))
        for cid in affected:
            self._resplit(cid)

    def _resplit(self, cid: str) -> None:
        members = [Member(*r) for r in self.conn.execute(_Q_MEMBERS_OF, {"ids": [cid]})]
        self.report.clusters.add(cid)
        if not members:
            self.conn.execute(clusters_table.delete().where(_c.id == cid))
            self.conn.execute(aliases_table.delete().where(_a.new_id == cid))
            self.dirty.discard(cid)
            return
        docs = sorted({m.doc_id for m in members})
        everyone = [Member(*r) for r in self.conn.execute(_Q_MEMBERS_OF_DOCS, {
            "ids": docs, "family": members[0].family, "phase": members[0].phase})]
        components = sorted(_components(members, _by_doc(everyone)), key=lambda comp: min(m.seq for m in comp))
        self.dirty.add(cid)
        for comp in components[1:]:   # the component holding the oldest member keeps the id
            new_id = self._new_cluster(min(comp, key=lambda m: m.seq))
            self.conn.execute(_U_MOVE, [{"eid": m.event_id, "to": new_id} for m in comp])
            self.dirty.add(new_id)

    # -------------------------------------------------------------------- summaries
    def finish(self) -> None:
        """Recompute the summary of every cluster this transaction touched, in a few set-wise queries."""
        ids = sorted(self.dirty)
        for start in range(0, len(ids), 500):
            self._summarise(ids[start:start + 500])
        self.report.clusters.update(self.dirty)
        self.dirty.clear()

    def _summarise(self, cluster_ids: list[str]) -> None:
        members = _by_cluster(Member(*r) for r in self.conn.execute(_Q_MEMBERS_OF, {"ids": cluster_ids}))
        doc_ids = sorted({m.doc_id for ms in members.values() for m in ms})
        docs = _doc_infos(self.conn, doc_ids)
        choices = {cid: choose_canonical(ms) for cid, ms in members.items()}
        wanted = sorted({x for ch in choices.values() for x in (ch.representative, ch.place,
                        *(pick[0] for pick in (ch.source, ch.target) if pick)) if x})
        events = {r.id: Event.model_validate_json(r.data) for r in self.conn.execute(_Q_EVENT_DATA, {"ids": wanted})}
        params = [_summary_values(cid, ms, choices[cid], docs, events) for cid, ms in members.items()]
        if params:
            self.conn.execute(_U_CLUSTER, params)


def _summary_values(cid: str, members: list[Member], choice: Choice, docs: dict[str, DocInfo],
                    events: dict[str, Event]) -> dict[str, Any]:
    """The clusters row of one cluster: canonical event, corroboration, contradictions."""
    support = corroboration(members, docs)
    canonical = _canonical(cid, choice, events)
    published = [p for d in {m.doc_id for m in members} if d in docs and (p := docs[d].reported) is not None]
    src, tgt, place = canonical.source_actor, canonical.target_actor, canonical.place
    return {
        "cid": cid, "type": choice.type, "mode": choice.mode, "phase": members[0].phase,
        "modality": choice.modality, "size": len(members), "documents": len({m.doc_id for m in members}),
        "independent_sources": support.independent_sources, "anonymous_only": support.anonymous_only,
        "date_start": canonical.when.start, "date_end": canonical.when.end, "reported": min(published, default=None),
        "source_code": src.code if src else None, "source_name": src.name if src else None,
        "target_code": tgt.code if tgt else None, "target_name": tgt.name if tgt else None,
        "place_gid": place.geonameid if place else None, "place_name": place.name if place else None,
        "place_country3": (place.country3 or place.country) if place else None,
        "origins": json.dumps(support.origins, ensure_ascii=False),
        "contradictions": json.dumps([c.as_dict() for c in contradictions(members)], ensure_ascii=False),
        "canonical": canonical.model_dump_json(), "updated_at": _now()}


def _canonical(cid: str, choice: Choice, events: dict[str, Event]) -> Event:
    """The representative member's event, with the chosen values taken from the members carrying them."""
    base = events[choice.representative]
    when = When() if choice.when is None else When(start=choice.when[0], end=choice.when[1],
                                                   granularity=choice.when[2], anchor="expression")  # type: ignore[arg-type]
    return base.model_copy(update={
        "id": cid, "type": choice.type, "mode": choice.mode, "modality": choice.modality, "when": when,
        "source_actor": _actor_at(events, choice.source), "target_actor": _actor_at(events, choice.target),
        "place": events[choice.place].place if choice.place in events else None})


def _by_cluster(members: Iterable[Member]) -> dict[str, list[Member]]:
    out: dict[str, list[Member]] = defaultdict(list)
    for m in members:
        out[m.cluster_id].append(m)
    return out


def _actor_at(events: dict[str, Event], pick: tuple[str, str] | None) -> Any:
    if pick is None or pick[0] not in events:
        return None
    return getattr(events[pick[0]], f"{pick[1]}_actor")


def _by_family(members: Iterable[Member]) -> dict[tuple[str, str], list[Member]]:
    out: dict[tuple[str, str], list[Member]] = defaultdict(list)
    for m in members:
        out[(m.family, m.phase)].append(m)
    return out


def _lookups(group: Sequence[Member], family: str) -> list[tuple[str, str | None]]:
    """Which actor-key ranges can hold a match (see _actor_relation: coded actors of different countries
    never match): the same source key or none; for symmetric types also the same target key and the
    parties the other way round. (The same target key with another perpetrator is looked up per member,
    near its place: _Linker._candidates.)"""
    sources = {m.source_key for m in group}
    if None in sources:
        return [("any", None)]
    lookups: list[tuple[str, str | None]] = [("source", k) for k in sorted(sources)]   # type: ignore[type-var]
    lookups.append(("unkeyed", None))
    if any(m.type in rules().symmetric for m in group):
        targets = {m.target_key for m in group} - {None}
        lookups += [("target", k) for k in sorted(targets)]   # type: ignore[type-var]
        lookups += [("target", k) for k in sorted(sources - targets)]   # type: ignore[type-var]
        lookups += [("source", k) for k in sorted(targets - sources)]   # type: ignore[type-var]
    return lookups


def _near_box(m: Member) -> dict[str, float] | None:
    """A latitude/longitude box holding every place within NEAR_KM of the member's; None without
    coordinates (then a place of the same name anywhere is the same place: the lookup is not bounded)."""
    if m.place_lat is None or m.place_lon is None:
        return None
    dlat = NEAR_KM / 111.0 * 1.05
    dlon = min(180.0, dlat / max(math.cos(math.radians(min(89.9, abs(m.place_lat) + dlat))), 0.01))
    return {"lat_lo": m.place_lat - dlat, "lat_hi": m.place_lat + dlat,
            "lon_lo": m.place_lon - dlon, "lon_hi": m.place_lon + dlon}


def _windows(group: Sequence[Member]) -> list[tuple[dt.date | None, dt.date | None]]:
    """The members' date windows, overlapping ones merged (one index range each); (None, None) for
    members without any window."""
    spans = sorted((m.date_lo, m.date_hi) for m in group if m.date_lo is not None and m.date_hi is not None)
    merged: list[tuple[dt.date | None, dt.date | None]] = []
    for lo, hi in spans:
        last = merged[-1] if merged else None
        if last is not None and last[1] is not None and lo <= last[1] + dt.timedelta(days=2 * rules().max_slack):
            merged[-1] = (last[0], max(last[1], hi))
        else:
            merged.append((lo, hi))
    if any(m.date_lo is None or m.date_hi is None for m in group):
        merged.append((None, None))
    return merged


def _components(members: Sequence[Member], by_doc: dict[str, list[Member]]) -> list[list[Member]]:
    """Connected components of the accepted links among ``members`` (each document's full set of members
    in ``by_doc`` decides mutual uniqueness)."""
    inside = {m.event_id for m in members}
    groups = _UnionFind()
    for m in members:
        groups.add(m.event_id)
    docs = sorted(by_doc)
    for i, d1 in enumerate(docs):
        for d2 in docs[i:]:
            for a, b in accepted_links(by_doc[d1], by_doc[d2]):
                if a.event_id in inside and b.event_id in inside:
                    groups.union(a.event_id, b.event_id)
    index = {m.event_id: m for m in members}
    return [[index[x] for x in comp] for comp in groups.components()]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def add(self, x: Any) -> None:
        self.parent.setdefault(x, x)

    def find(self, x: Any) -> Any:
        self.add(x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def components(self) -> list[set[Any]]:
        comps: dict[Any, set[Any]] = defaultdict(set)
        for x in self.parent:
            comps[self.find(x)].add(x)
        return list(comps.values())


def _by_doc(members: Iterable[Member]) -> dict[str, list[Member]]:
    out: dict[str, list[Member]] = defaultdict(list)
    for m in members:
        out[m.doc_id].append(m)
    return out


def _member(row: Any) -> Member:
    """A Member from a row of ``_SELECT_MEMBERS`` (its columns are in field order)."""
    return Member(*row)


def _link_row(a: Member, b: Member, match: Match) -> dict[str, Any]:
    first, second = sorted((a, b), key=lambda m: m.event_id)
    return {"a_event": first.event_id, "b_event": second.event_id, "a_doc": first.doc_id, "b_doc": second.doc_id,
            "level": match.level, "why": json.dumps(match.why(), ensure_ascii=False)}


def links_of(conn: Connection, event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The accepted links among these events, each with why it was taken (``Match.why``)."""
    wanted = set(event_ids)
    out = []
    ids = sorted(wanted)
    for i in range(0, len(ids), 500):
        for r in conn.execute(sa.select(links_table).where(_l.a_event.in_(ids[i:i + 500]))):
            if r.b_event in wanted:
                out.append({"a": r.a_event, "b": r.b_event, **json.loads(r.why)})
    return sorted(out, key=lambda x: (x["a"], x["b"]))


def _row(member: Member) -> dict[str, Any]:
    return {name: getattr(member, name) for name in _MEMBER_FIELDS}


def _events_hash(data: Sequence[str]) -> str:
    """Of the stored event JSON: equal exactly when a re-analysis produced the same events."""
    digest = hashlib.sha256()
    for item in data:
        digest.update(item.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:32]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# ------------------------------------------------------------------------------------------------ reading

def _resolve(conn: Connection, cluster_id: str) -> str:
    alias = conn.scalar(sa.select(aliases_table.c.new_id).where(aliases_table.c.old_id == cluster_id))
    return alias or cluster_id


def _cluster_from_row(row: Any, members: list[Member], conn: Connection | None = None) -> Cluster:
    return Cluster(
        id=row.id, type=row.type, mode=row.mode, modality=row.modality, size=row.size, documents=row.documents,
        independent_sources=row.independent_sources, anonymous_only=bool(row.anonymous_only),
        date_start=row.date_start, date_end=row.date_end, reported=row.reported,
        source=row.source_name, target=row.target_name, place=row.place_name,
        origins=json.loads(row.origins),
        contradictions=[Contradiction(**c) for c in json.loads(row.contradictions)],
        canonical=Event.model_validate_json(row.canonical), members=members,
        links=links_of(conn, [m.event_id for m in members]) if conn is not None and members else [],
        history=_history(conn, members) if conn is not None and members else [])


def clusters(store: Store, *, min_size: int = 1, min_sources: int = 0, type: str | None = None,
             limit: int | None = 100, with_members: bool = False, as_of: dt.date | None = None) -> list[Cluster]:
    """Stored clusters, biggest first (then newest); with ``as_of``, as they stood then (:func:`clusters_as_of`)."""
    if as_of is not None:
        return clusters_as_of(store, as_of, min_size=min_size, min_sources=min_sources, type=type, limit=limit,
                              with_members=with_members)
    c = clusters_table.c
    stmt = sa.select(clusters_table).where(c.size >= min_size, c.independent_sources >= min_sources)
    if type:
        stmt = stmt.where(c.type == type.upper())
    stmt = stmt.order_by(c.size.desc(), c.independent_sources.desc(), c.date_start.desc(), c.id).limit(limit)
    with store.read() as conn:
        rows = list(conn.execute(stmt))
        members = _members_of(conn, [r.id for r in rows]) if with_members else {}
        return [_cluster_from_row(r, members.get(r.id, []), conn if with_members else None) for r in rows]


def cluster(store: Store, cluster_id: str) -> Cluster | None:
    """One cluster with its members, by id or by the id of a cluster merged into it."""
    with store.read() as conn:
        cid = _resolve(conn, cluster_id)
        row = conn.execute(sa.select(clusters_table).where(clusters_table.c.id == cid)).first()
        if row is None:
            return None
        return _cluster_from_row(row, _members_of(conn, [cid]).get(cid, []), conn)


def cluster_of(store: Store, event_id: str) -> str | None:
    """The id of the cluster an event belongs to (None if not linked yet)."""
    with store.read() as conn:
        return conn.scalar(sa.select(members_table.c.cluster_id).where(members_table.c.event_id == event_id))


def clusters_of(conn: Connection, event_ids: Sequence[str]) -> dict[str, str]:
    """event id → cluster id for these events (inside an open connection)."""
    m = members_table.c
    out: dict[str, str] = {}
    for i in range(0, len(event_ids), 500):
        rows = conn.execute(sa.select(m.event_id, m.cluster_id).where(m.event_id.in_(event_ids[i:i + 500])))
        out.update((r.event_id, r.cluster_id) for r in rows)
    return out


def _members_of(conn: Connection, cluster_ids: Sequence[str]) -> dict[str, list[Member]]:
    out: dict[str, list[Member]] = defaultdict(list)
    for i in range(0, len(cluster_ids), 500):
        stmt = (_SELECT_MEMBERS.where(members_table.c.cluster_id.in_(cluster_ids[i:i + 500]))
                .order_by(members_table.c.seq))
        for row in conn.execute(stmt):
            out[row.cluster_id].append(_member(row))
    return out


def iter_members(conn: Connection, where: Sequence[Any] = ()) -> Iterator[Member]:
    """Members matching optional Core terms on ``cluster_members`` (used by graph and watch)."""
    for row in conn.execute(_SELECT_MEMBERS.where(*where)):
        yield _member(row)


def _day(value: dt.datetime | dt.date | None) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else value


def _doc_infos(conn: Connection, doc_ids: Sequence[str]) -> dict[str, DocInfo]:
    out: dict[str, DocInfo] = {}
    ids = list(doc_ids)
    for i in range(0, len(ids), 500):
        for r in conn.execute(_Q_DOCS, {"ids": ids[i:i + 500]}):
            out[r.doc_id] = DocInfo(r.doc_id, r.outlet, r.published, _decode_sketch(r.sketch), _day(r.analysed_at))
    return out


def _history(conn: Connection, members: Sequence[Member]) -> list[dict[str, Any]]:
    """Each report's arrival, oldest first: when it was first reported, by whom, and how many independent
    sources the event had once it was in."""
    docs = _doc_infos(conn, sorted({m.doc_id for m in members}))
    order = sorted(docs.values(), key=lambda d: (d.reported or dt.date.max, d.doc_id))
    out, known = [], []
    for doc in order:
        mine = [m for m in members if m.doc_id == doc.doc_id]
        known += mine
        out.append({"doc_id": doc.doc_id, "outlet": doc.outlet, "reported": _iso(doc.reported),
                    "reported_by": "publication" if doc.published else "ingest",
                    "events": [m.event_id for m in mine], "origins": sorted({m.origin_label for m in mine}),
                    "independent_sources": corroboration(known, docs).independent_sources})
    return out


def clusters_as_of(store: Store, as_of: dt.date, *, min_size: int = 1, min_sources: int = 0,
                   type: str | None = None, limit: int | None = 100, with_members: bool = False) -> list[Cluster]:
    """The clusters as they stood on ``as_of``: only reports first known by then (published, else stored,
    on or before that day), joined by the links among them — a later report that bridged two clusters
    is not there yet — with their independent sources and contradictions as they were."""
    found: list[Cluster] = []
    with store.read() as conn:
        known_docs = [r.doc_id for r in conn.execute(sa.select(_ld.doc_id, _ld.published, _ld.analysed_at))
                      if (r.published or _day(r.analysed_at) or dt.date.max) <= as_of]
        docs = _doc_infos(conn, known_docs)
        members: list[Member] = []
        for i in range(0, len(known_docs), 500):
            members += iter_members(conn, [_m.doc_id.in_(known_docs[i:i + 500])])
        groups = _UnionFind()
        for m in members:
            groups.add(m.event_id)
        linked: set[str] = set()
        for link_ in links_of(conn, [m.event_id for m in members]):
            groups.union(link_["a"], link_["b"])
            linked.update((link_["a"], link_["b"]))
        by_cluster = _by_cluster(members)
        for ms in by_cluster.values():
            if len(ms) > 1 and not any(m.event_id in linked for m in ms):
                # linked before links were stored (an older database): find its links again
                for comp in _components(ms, _by_doc(ms)):
                    first = next(iter(comp))
                    for m in comp:
                        groups.union(first.event_id, m.event_id)
        parts: dict[tuple[str, Any], list[Member]] = defaultdict(list)
        for m in members:
            parts[(m.cluster_id, groups.find(m.event_id))].append(m)
        by_id: dict[str, list[list[Member]]] = defaultdict(list)
        for (cid, _root), part in parts.items():
            by_id[cid].append(sorted(part, key=lambda m: m.seq))
        for cid, comps in sorted(by_id.items()):
            for n, part in enumerate(sorted(comps, key=lambda p: p[0].seq)):
                found.append(_cluster_in_memory(conn, cid if n == 0 else f"{cid}~{n}", part, docs, with_members))
    found = [c for c in found if c.size >= min_size and c.independent_sources >= min_sources
             and (not type or c.type == type.upper())]
    found.sort(key=lambda c: (-c.size, -c.independent_sources, -(c.date_start or dt.date.min).toordinal(), c.id))
    return found[:limit] if limit is not None else found


def _cluster_in_memory(conn: Connection, cid: str, members: list[Member], docs: dict[str, DocInfo],
                       with_members: bool) -> Cluster:
    choice = choose_canonical(members)
    wanted = sorted({x for x in (choice.representative, choice.place,
                                 *(pick[0] for pick in (choice.source, choice.target) if pick)) if x})
    events = {r.id: Event.model_validate_json(r.data) for r in conn.execute(_Q_EVENT_DATA, {"ids": wanted})}
    values = _summary_values(cid, members, choice, docs, events)
    row = type("Row", (), {**values, "id": cid})
    return _cluster_from_row(row, members, conn if with_members else None)


def timeline(store: Store, query: str, *, limit: int | None = 200, as_of: dt.date | None = None) -> list[Cluster]:
    """Clusters about an actor (code prefix or name, as source or target) or at a place (name), oldest
    first; undated ones by the date they were first reported."""
    c = clusters_table.c
    code, name = query.strip().upper(), query.strip().lower()
    upper = code[:-1] + chr(ord(code[-1]) + 1) if code else code
    about = sa.or_(sa.and_(c.source_code >= code, c.source_code < upper),
                   sa.and_(c.target_code >= code, c.target_code < upper),
                   sa.func.lower(c.source_name) == name, sa.func.lower(c.target_name) == name,
                   sa.func.lower(c.place_name) == name)
    if as_of is not None:
        q = query.strip()
        found = [x for x in clusters_as_of(store, as_of, limit=None) if _about(x, code, name, q)]
        found.sort(key=lambda x: (x.date_start or x.reported or dt.date.max, x.id))
        return found[:limit] if limit is not None else found
    stmt = (sa.select(clusters_table).where(about)
            .order_by(sa.func.coalesce(c.date_start, c.reported), c.id).limit(limit))
    with store.read() as conn:
        return [_cluster_from_row(r, []) for r in conn.execute(stmt)]


def _about(found: Cluster, code: str, name: str, query: str) -> bool:
    canonical = found.canonical
    codes = [a.code for a in (canonical.source_actor, canonical.target_actor) if a is not None and a.code]
    names = [x.lower() for x in (found.source, found.target, found.place) if x]
    return any(c.startswith(code) for c in codes if code) or name in names
