"""Actor dictionary: which actor a noun phrase names, as a CAMEO-style code.

The facts live in ``data/en/actors/*.jsonl`` (see the README there); this module holds the mechanism:

* :meth:`ActorDictionary.load` reads the files once into a phrase index (a dict from a normalised,
  accent-folded, lower-cased token sequence to what it means), so :meth:`ActorDictionary.resolve` does a
  few dict look-ups per token instead of scanning aliases.
* :meth:`ActorDictionary.resolve` reads a whole noun phrase ("three Iranian officials", "Assad's
  government", "the leader of the Islamist group Hayat Tahrir al-Sham") and prefers the most specific
  reading: a named actor, then country + sector, then country or sector alone.
* :meth:`ActorDictionary.entity_patterns` turns the proper names into spaCy ``EntityRuler`` patterns, so
  that the NER finds "Hayat Tahrir al-Sham" and "Fatemiyoun" as the same spans the resolver knows.

Codes: a state is its ISO alpha-3 code ("IRN"); a state's sector appends a CAMEO agent code ("IRNGOV",
"IRNMIL"); a named non-state group appends a three-letter group id ("LBNREBHEZ"); transnational groups
use CAMEO's ``IMG`` in the country slot ("IMGREBISI"); IGOs and NGOs keep their CAMEO codes ("IGOUNO").
A sector with no country is the sector alone ("REB").
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tidings.core.records import Actor
from tidings.core.settings import LANGUAGE_DIR

__all__ = ["DEFAULT_DATA_DIR", "ActorDataError", "ActorDictionary"]

DEFAULT_DATA_DIR: Final = LANGUAGE_DIR / "actors"

# Which file keeps an alias that two files claim: blockers first (an outlet's name must never code as
# the country in it), then named actors before the countries whose names they contain, hand-written
# tables before generated ones. Files not listed are read afterwards, alphabetically.
FILE_ORDER: Final = (
    "not_actors", "people", "groups", "igos", "states", "countries", "sectors", "sectors_icews",
)

_KINDS: Final = frozenset({"state", "organization", "person", "group", "outlet"})
_FIELDS: Final = frozenset({
    "code", "name", "aliases", "demonyms", "capitals", "terms", "country", "sector", "kind",
    "exact_case", "weak", "identity", "roles", "title", "since", "until", "as_of", "note", "source",
})

# What a phrase's words mean (the role of an index entry).
_NAMED, _STATE, _DEMONYM, _CAPITAL, _TERM, _BLOCK = range(6)
_COUNTRY_ROLES: Final = frozenset({_STATE, _DEMONYM, _CAPITAL})

# Linguistic glue, not facts about actors: how a phrase is built around its head.
_DEPENDENT_PREPOSITIONS: Final = frozenset({"of", "from", "in", "for", "at", "inside", "within"})
_STOP_WORDS: Final = frozenset({
    "to", "against", "with", "on", "near", "over", "by", "into", "toward", "towards", "across", "after",
    "before", "during", "amid", "than", "as", "about", "under", "via", "without", "between", "among",
    "who", "which", "that", "whose", "whom", "where", "when", "while", "said", "says", "say", "told",
})
_CONJUNCTIONS: Final = frozenset({"and", "or", "nor", "plus"})
_DETERMINERS: Final = frozenset({
    "the", "a", "an", "some", "several", "many", "few", "two", "three", "four", "five", "six", "seven",
    "eight", "nine", "ten", "dozens", "hundreds", "thousands", "tens", "senior", "top", "other", "both",
})
# "pro-Iranian militias", "Iranian-backed militias": the country is the patron, not the actor.
_PATRON_PREFIXES: Final = frozenset({"pro", "anti"})
_PATRON_SUFFIXES: Final = frozenset({
    "backed", "allied", "aligned", "sponsored", "funded", "supported", "linked", "affiliated",
    "controlled", "held", "occupied", "based", "leaning", "friendly", "inspired", "trained", "armed",
    "run", "appointed", "installed", "born", "educated", "brokered", "mediated", "made", "bound",
})
_FORMER: Final = frozenset({"former", "ex", "retired", "erstwhile"})
_ELITE: Final = "ELI"
_GOV: Final = "GOV"

_TOKEN: Final = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*['.]?")
_HARD_BREAK: Final = re.compile(r"[()\[\];:]")
_ARTICLE_PARTICLE: Final = re.compile(r"\b(?:al|el|ad|ar|as|ash|an)[-\s](?=\w)", re.IGNORECASE)
_SPECIAL_FOLDS: Final = {
    "’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "ʻ": "'", "ʿ": "'", "ʾ": "'",
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "ı": "i", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L",
    "đ": "d", "Đ": "D", "ß": "s", "æ": "a", "Æ": "A", "œ": "o", "Œ": "O", "þ": "t", "ð": "d",
}


class ActorDataError(ValueError):
    """A line of an actor data file is malformed; the message names the file and line to fix."""


@dataclass(frozen=True, slots=True)
class _Role:
    """One office a person held: the code it gives and when."""

    code: str
    country: str | None
    sector: str | None
    since: dt.date | None = None
    until: dt.date | None = None

    def holds_on(self, day: dt.date) -> bool:
        return (self.since is None or self.since <= day) and (self.until is None or day < self.until)


@dataclass(frozen=True, slots=True)
class _Record:
    """An actor record as loaded from the data."""

    code: str | None
    name: str
    country: str | None
    sector: str | None
    kind: str
    roles: tuple[_Role, ...] = ()

    @property
    def is_state_organ(self) -> bool:
        """A state body (IRGC, Kremlin): its code is exactly country + sector, with no group id.

        Such a record can be re-attributed ("German Foreign Office") or composed with a head noun
        ("Assad's forces"); a named non-state group is always itself.
        """
        return (self.country is not None and self.sector is not None and self.kind != "outlet"
                and self.code == self.country + self.sector)


@dataclass(frozen=True, slots=True)
class _Hit:
    """What an indexed phrase means."""

    role: int
    record: _Record | None
    country: str | None
    sector: str | None
    kind: str
    weak: bool = False
    identity: bool = False
    exact: frozenset[str] | None = None  # accepted spellings when only an exact-case form is an actor


@dataclass(slots=True)
class _Match:
    """A hit found in a phrase: tokens [start, end) and where it sits in the phrase's structure."""

    start: int
    end: int
    hit: _Hit
    region: int = 0      # 0: head of the phrase; 1: after "of"/"in"/"from" (a dependent)
    conjunct: int = 0    # index of the coordinated part ("Russian and Syrian forces")
    possessive: bool = False
    patron: bool = False  # "pro-Iranian", "Iranian-backed": not the actor itself
    former: bool = False


@dataclass(frozen=True, slots=True)
class _Tokens:
    """A phrase split into normalised tokens, with offsets into its (NFC) text.

    ``gaps[i]`` says what separates token i from the one before: nothing or a space, a comma (a new
    conjunct), a hard break ("(", ";", ":": the phrase ends) or a hyphen ("Iranian-backed").
    """

    text: str
    norms: list[str]
    starts: list[int]
    ends: list[int]
    possessive: list[bool]
    gaps: list[int]


_GAP_NONE, _GAP_COMMA, _GAP_HARD, _GAP_HYPHEN = range(4)


class ActorDictionary:
    """Actor records and a phrase index over them; immutable once loaded."""

    def __init__(self, records: Sequence[_Record], index: dict[str, _Hit], max_len: dict[str, int],
                 patterns: list[tuple[str, str, str, bool]], conflicts: list[tuple[str, str, str]],
                 states: dict[str, _Record]) -> None:
        self._records = tuple(records)
        self._index = index
        self._max_len = max_len
        self._patterns = tuple(patterns)
        self._states = states
        #: (phrase, code kept, code dropped) for aliases two records claim; the first file wins.
        self.conflicts: tuple[tuple[str, str, str], ...] = tuple(conflicts)

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, data_dir: Path | None = None) -> ActorDictionary:
        """Load (once per folder, cached) the actor tables in ``data_dir`` (default: the package's)."""
        return _load_cached(Path(data_dir).resolve() if data_dir is not None else DEFAULT_DATA_DIR)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], *, origin: str = "<records>") -> ActorDictionary:
        """Build a dictionary from record dicts in priority order (tests and custom tables)."""
        builder = _Builder()
        for number, raw in enumerate(records, 1):
            builder.add(raw, f"{origin}:{number}")
        return builder.build()

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"<ActorDictionary records={len(self._records)} phrases={len(self._index)}>"

    # ---------------------------------------------------------------- public API
    def entity_patterns(self) -> list[dict[str, str]]:
        """spaCy ``EntityRuler`` phrase patterns for every proper name in the data.

        ``{"label": "GPE"|"NORP"|"ORG"|"PERSON", "pattern": "Hayat Tahrir al-Sham", "id": "SYRREBHTS"}``.
        Patterns are strings, so the ruler tokenises them with the pipeline's own tokenizer. They match
        on ORTH (case-sensitive), hence the spelling variants: as written, capitalised ("Al-Qaeda"),
        accent-free ("Erdogan") and without the Arabic article ("Bashar Assad"). Exact-case names
        ("US", "WHO") appear only as written. A fresh list is returned on each call.
        """
        seen: dict[tuple[str, str], str] = {}
        for alias, label, code, exact_only in self._patterns:
            for form in [alias] if exact_only else _variants(alias, person=label == "PERSON"):
                seen.setdefault((label, form), code)
        return [{"label": label, "pattern": form, "id": code} for (label, form), code in seen.items()]

    def resolve(self, phrase: str, *, context_country: str | None = None,
                as_of: dt.date | None = None) -> Actor | None:
        """The actor a noun phrase names, or None when no word of it is an actor.

        ``context_country`` (ISO alpha-3) completes a sector with no country ("rebels" → "SYRREB");
        ``as_of`` picks the office a person held on that day (Ahmed al-Sharaa: SYRREBHTS before
        2025-01-29, SYRGOV after); without it a person gets the record's main code.
        """
        tokens = _tokenise(phrase)
        if not tokens.norms:
            return None
        matches = self._scan(tokens)
        if not matches:
            return None
        self._structure(tokens, matches)
        return self._decide(tokens, matches, context_country, as_of)

    def unknown(self, name: str, *, label: str | None = None, context_country: str | None = None) -> Actor:
        """An actor the data does not know (``known=False``), with a best guess of country and sector.

        The country comes from a country name, demonym or capital inside the name, else from
        ``context_country``; the sector from title words ("minister", "general", "party"). ``label``
        is the NER label: PERSON → kind person, ORG → organization, NORP → group, GPE/LOC → state.
        """
        tokens = _tokenise(name)
        matches = self._scan(tokens) if tokens.norms else []
        if matches:
            self._structure(tokens, matches)
        live = [m for m in matches if not m.patron and m.region == 0] or [m for m in matches if not m.patron]
        country = next((m.hit.country for m in live if m.hit.role in _COUNTRY_ROLES and m.hit.country), None)
        if country is None:
            country = next((m.hit.country for m in live if m.hit.role == _NAMED and m.hit.country), None)
        country = country or _clean_code(context_country)
        sector = _pick_sector([m for m in live if m.hit.role == _TERM])
        kind = {"PERSON": "person", "ORG": "organization", "NORP": "group", "GPE": "state",
                "LOC": "state", "FAC": "organization"}.get((label or "").upper(), "group")
        code = (country or "") + sector if sector else None
        return Actor(code=code, name=" ".join(name.split()), country=country, sector=sector, kind=kind,
                     known=False)

    def country_code(self, name: str) -> str | None:
        """ISO alpha-3 code of a country named by its name, demonym or capital ("Damascus" → "SYR")."""
        tokens = _tokenise(name)
        norms = list(tokens.norms)
        if norms and norms[0] == "the":
            norms = norms[1:]
        if not norms:
            return None
        hit = self._index.get(" ".join(norms))
        if hit is not None and hit.role in _COUNTRY_ROLES and _exact_ok(hit, tokens, len(tokens.norms) - len(norms),
                                                                        len(tokens.norms)):
            return hit.country
        stripped = name.strip()
        return stripped if stripped in self._states else None

    # ---------------------------------------------------------------- matching
    def _scan(self, tokens: _Tokens) -> list[_Match]:
        """Longest-match, left to right, of indexed phrases over the tokens."""
        norms, index, max_len = tokens.norms, self._index, self._max_len
        n = len(norms)
        matches: list[_Match] = []
        i = 0
        while i < n:
            first = norms[i]
            found = None
            for length in range(min(max_len.get(first, 1), n - i), 0, -1):
                hit = index.get(first if length == 1 else " ".join(norms[i:i + length]))
                if hit is not None and (hit.exact is None or _exact_ok(hit, tokens, i, i + length)):
                    found = _Match(i, i + length, hit, possessive=tokens.possessive[i + length - 1])
                    break
            if found is None:
                i += 1
            else:
                matches.append(found)
                i = found.end
        return matches

    @staticmethod
    def _structure(tokens: _Tokens, matches: list[_Match]) -> None:
        """Assign region and conjunct to each match; flag patrons and 'former'; drop what follows a stop.

        The head of an English noun phrase comes before its first preposition; "of"/"in"/"from" open
        a dependent that can still supply the country ("rebels in Syria"), other prepositions and
        relative clauses end the phrase ("envoy to Syria", "who advises officials").
        """
        norms = tokens.norms
        starts = {m.start: m for m in matches}
        region, conjunct, stopped, former = 0, 0, False, False
        i, n = 0, len(norms)
        keep: list[_Match] = []
        while i < n and not stopped:
            if tokens.gaps[i] == _GAP_HARD and i > 0:
                break
            if tokens.gaps[i] == _GAP_COMMA and i > 0:
                conjunct += 1
            match = starts.get(i)
            if match is not None:
                match.region, match.conjunct = region, conjunct
                before = norms[match.start - 1] if match.start > 0 else ""
                after = norms[match.end] if match.end < n else ""
                match.patron = (before in _PATRON_PREFIXES
                                or (after in _PATRON_SUFFIXES and tokens.gaps[match.end] == _GAP_HYPHEN))
                # "former Syrian President Bashar al-Assad": 'former' skips the demonym.
                if former and match.hit.role not in _COUNTRY_ROLES:
                    match.former, former = True, False
                keep.append(match)
                i = match.end
                continue
            word = norms[i]
            if word in _FORMER:
                former = True
            elif word in _STOP_WORDS:
                stopped = True
            elif word in _DEPENDENT_PREPOSITIONS:
                if region == 0:
                    region, conjunct = 1, 0
                else:
                    stopped = True
            elif word in _CONJUNCTIONS:
                conjunct += 1
            i += 1
        matches[:] = keep

    # ---------------------------------------------------------------- deciding
    def _decide(self, tokens: _Tokens, matches: list[_Match], context_country: str | None,
                as_of: dt.date | None) -> Actor | None:
        head: list[_Match] = []
        dependent: list[_Match] = []
        for match in matches:             # in text order: all head matches come first
            if match.hit.role == _BLOCK:
                if match.region == 0 or not head:
                    return None          # an outlet's name, not an actor
            elif not match.patron:
                (head if match.region == 0 else dependent).append(match)
        if not head and not dependent:
            return None
        primary = _primary_conjunct(head)
        if primary and _owns_unknown_head(tokens, primary[-1]):
            return None
        named = [m for m in primary if m.hit.role == _NAMED]
        if named:
            return self._from_named(tokens, matches, head, primary, named, as_of)
        if dependent and not any(m.hit.role in _COUNTRY_ROLES for m in primary):
            dep_named = next((m for m in _primary_conjunct(dependent) if m.hit.role == _NAMED), None)
            if dep_named is not None:
                return self._from_dependent_named(tokens, head, primary, dep_named, as_of)
        return self._compose(tokens, head, primary, dependent, context_country)

    def _from_named(self, tokens: _Tokens, matches: list[_Match], head: list[_Match], primary: list[_Match],
                    named: list[_Match], as_of: dt.date | None) -> Actor:
        """A named actor heads the phrase; it may be recomposed with a country or a head noun."""
        chosen = next((m for m in reversed(named) if not m.possessive), named[-1])
        record = chosen.hit.record
        assert record is not None
        after = [m for m in primary if m.start >= chosen.end and m.hit.role == _TERM and not m.hit.identity]
        before = [m for m in primary if m.end <= chosen.start]
        span = _span_text(tokens, [m for m in head if m.hit.role != _BLOCK])
        if record.kind == "person":
            former = chosen.former or any(m.former for m in before if m.hit.role == _TERM)
            role = _person_role(record, before, [m.hit.record for m in matches if m is not chosen
                                                 and m.hit.record is not None], as_of, former)
            if chosen.possessive and after:
                sector = _pick_sector(after) or role.sector
                return _actor(role.country, sector, span, _term_kind(after))
            return Actor(code=role.code, name=record.name, country=role.country, sector=role.sector,
                         kind="person")
        if record.is_state_organ:
            other = next((m.hit.country for m in before if m.hit.role in _COUNTRY_ROLES
                          and m.hit.country and m.hit.country != record.country), None)
            if other is not None:
                return _actor(other, record.sector, span, record.kind)
            if chosen.possessive and after:
                return _actor(record.country, _pick_sector(after) or record.sector, span, _term_kind(after))
        person = _trailing_name(tokens, primary)
        if person is not None:
            return Actor(code=record.code, name=person, country=record.country, sector=record.sector,
                         kind="person")
        return Actor(code=record.code, name=record.name, country=record.country, sector=record.sector,
                     kind=record.kind)

    def _from_dependent_named(self, tokens: _Tokens, head: list[_Match], primary: list[_Match],
                              dep: _Match, as_of: dt.date | None) -> Actor:
        """'commanders of the Quds Force', 'the leader of Hayat Tahrir al-Sham', 'soldiers of Assad'."""
        record = dep.hit.record
        assert record is not None
        head_sector = _pick_sector([m for m in primary if m.hit.role == _TERM])
        if record.kind == "person":
            role = _person_role(record, [], [], as_of, dep.former)
            if head_sector is None:
                return Actor(code=role.code, name=record.name, country=role.country, sector=role.sector,
                             kind="person")
            span = _span_text(tokens, head + [dep])
            return _actor(role.country, head_sector, span, _term_kind(primary))
        if record.is_state_organ and head_sector is not None and not _weak_only(primary):
            return _actor(record.country, head_sector, _span_text(tokens, head + [dep]), _term_kind(primary))
        return Actor(code=record.code, name=record.name, country=record.country, sector=record.sector,
                     kind=record.kind)

    def _compose(self, tokens: _Tokens, head: list[_Match], primary: list[_Match], dependent: list[_Match],
                 context_country: str | None) -> Actor | None:
        """Country + sector from the head, completed from the dependent and the context."""
        country_match = next((m for m in primary if m.hit.role in _COUNTRY_ROLES), None)
        terms = [m for m in primary if m.hit.role == _TERM]
        used = primary
        if not _has_role(terms) and len(head) > len(primary):
            # "Russian and Syrian forces": the head noun sits in a later conjunct.
            later = [m for m in head[len(primary):] if m.hit.role == _TERM and not m.hit.identity]
            terms, used = terms + later, primary + later
        if country_match is None and dependent:
            dep_primary = _primary_conjunct(dependent)
            country_match = next((m for m in dep_primary if m.hit.role in _COUNTRY_ROLES), None)
            if country_match is not None:
                used = used + dep_primary
            if not _has_role(terms):
                dep_terms = [m for m in dep_primary if m.hit.role == _TERM]
                terms, used = terms + dep_terms, used + dep_terms
        sector = _pick_sector(terms)
        if any(m.former for m in terms if not m.hit.identity):
            sector = _ELITE
        country = country_match.hit.country if country_match is not None else None
        if sector is None and country_match is not None and country_match.hit.role == _CAPITAL:
            sector = _GOV
        if country is None:
            if sector is None:
                return None
            country = _clean_code(context_country)
        person = _trailing_name(tokens, primary)
        if person is not None:
            return _actor(country, sector, person, "person")
        if not terms and country_match is not None:
            record = country_match.hit.record
            if country_match.hit.role == _STATE and record is not None:
                return Actor(code=country, name=record.name, country=country, sector=None, kind="state")
            kind = "state" if country_match.hit.role == _CAPITAL else "group"
            end = _head_end(tokens, country_match.end)
            name = tokens.text[tokens.starts[country_match.start]:tokens.ends[end - 1]].strip(" '\"")
            return _actor(country, sector, name, kind)
        return _actor(country, sector, _span_text(tokens, used), _term_kind(terms))


# -------------------------------------------------------------------- helpers: deciding
def _primary_conjunct(matches: list[_Match]) -> list[_Match]:
    """The matches of the first conjunct that has any ("Iran and Russia" → [Iran]); input in text order."""
    if not matches:
        return matches
    first = matches[0].conjunct
    if matches[-1].conjunct == first:
        return matches
    return [m for m in matches if m.conjunct == first]


def _owns_unknown_head(tokens: _Tokens, last: _Match) -> bool:
    """'Damascus's key allies', "Iran's nuclear programme": the phrase names something the actor has.

    True when the last match is possessive and words the data does not know follow it in the head.
    """
    if not last.possessive:
        return False
    i, n = last.end, len(tokens.norms)
    while i < n and tokens.gaps[i] not in (_GAP_HARD, _GAP_COMMA):
        word = tokens.norms[i]
        if word in _STOP_WORDS or word in _DEPENDENT_PREPOSITIONS or word in _CONJUNCTIONS:
            return False
        if word not in _DETERMINERS:
            return True
        i += 1
    return False


def _role_terms(terms: Iterable[_Match]) -> list[_Match]:
    return [m for m in terms if m.hit.role == _TERM and not m.hit.identity]


def _has_role(terms: Iterable[_Match]) -> bool:
    return any(m.hit.role == _TERM and not m.hit.identity for m in terms)


def _weak_only(matches: Iterable[_Match]) -> bool:
    return all(m.hit.weak for m in _role_terms(matches))


def _pick_sector(terms: Sequence[_Match]) -> str | None:
    """The head noun's sector: the last strong role word, else the last weak one, else an identity.

    English noun phrases put the head last ("Iranian military generals"), and weak words take the
    sector of a stronger neighbour ("rebel commander" → REB, "army spokesman" → MIL).
    """
    strong = weak = identity = None
    for match in terms:
        hit = match.hit
        if hit.role != _TERM:
            continue
        if hit.identity:
            identity = identity or hit.sector
        elif hit.weak:
            weak = hit.sector
        else:
            strong = hit.sector
    return strong or weak or identity


def _term_kind(matches: Sequence[_Match]) -> str:
    """Kind of the head noun (the last role word): 'officials' → group, 'army spokesman' → person."""
    for match in reversed(matches):
        if match.hit.role == _TERM and not match.hit.identity:
            return match.hit.kind
    return "group"


def _person_role(record: _Record, before: Sequence[_Match], others: Sequence[_Record],
                 as_of: dt.date | None, former: bool) -> _Role:
    """Which office of a person the phrase means: by date, by a co-named group, by title, else main."""
    main = _Role(record.code or "", record.country, record.sector)
    roles = record.roles or (main,)
    if former:
        return _Role((record.country or "") + _ELITE, record.country, _ELITE)
    if as_of is not None:
        current = [r for r in roles if r.holds_on(as_of)]
        if current:
            return current[-1]
    other_codes = {o.code for o in others}
    for role in reversed(roles):
        if role.code in other_codes:
            return role
    title = _pick_sector([m for m in before if m.hit.role == _TERM])
    if title is not None:
        for role in reversed(roles):
            if role.sector is not None and role.sector.startswith(title):
                return role
    return main


def _actor(country: str | None, sector: str | None, name: str, kind: str) -> Actor:
    """A composed actor: its code is country + sector ("IRNGOV"), or either alone."""
    return Actor(code=((country or "") + (sector or "")) or None, name=name, country=country, sector=sector,
                 kind=kind)


def _span_text(tokens: _Tokens, used: Sequence[_Match]) -> str:
    """The text from the first to the last used match: 'three Iranian officials' → 'Iranian officials'."""
    if not used:
        return tokens.text.strip()
    first, last = used[0].start, used[-1].end
    for match in used:
        first, last = min(first, match.start), max(last, match.end)
    start, end = tokens.starts[first], tokens.ends[last - 1]
    return tokens.text[start:end].strip(" '\"")


def _trailing_name(tokens: _Tokens, primary: Sequence[_Match]) -> str | None:
    """A personal name after a title ('Iranian analyst Mehdi Rahmati' → 'Mehdi Rahmati').

    Only capitalised, unmatched tokens right after a person-kind title word count; lower-case input
    gives no name rather than a wrong one.
    """
    if not primary:
        return None
    last = primary[-1]
    if last.hit.kind != "person" or last.hit.role != _TERM or last.end >= len(tokens.norms):
        return None
    i, n = last.end, len(tokens.norms)
    words: list[int] = []
    while i < n and len(words) < 5:
        if tokens.gaps[i] in (_GAP_HARD, _GAP_COMMA):
            break
        norm = tokens.norms[i]
        original = tokens.text[tokens.starts[i]:tokens.ends[i]]
        if norm in _STOP_WORDS or norm in _DEPENDENT_PREPOSITIONS or norm in _CONJUNCTIONS:
            break
        if not (original[:1].isupper() or (words and norm in {"al", "el", "bin", "ibn", "de", "van", "von"})):
            break
        words.append(i)
        i += 1
    if not words:
        return None
    return tokens.text[tokens.starts[words[0]]:tokens.ends[words[-1]]].strip(" '\"")


def _head_end(tokens: _Tokens, i: int) -> int:
    """End of the head noun run that starts at token i ('Bosnian Serbs', 'an American convoy')."""
    n = len(tokens.norms)
    while i < n and tokens.gaps[i] not in (_GAP_HARD, _GAP_COMMA):
        word = tokens.norms[i]
        if word in _STOP_WORDS or word in _DEPENDENT_PREPOSITIONS or word in _CONJUNCTIONS:
            break
        i += 1
    return i


def _clean_code(code: str | None) -> str | None:
    return code.strip().upper() if code and code.strip() else None


def _exact_ok(hit: _Hit, tokens: _Tokens, start: int, end: int) -> bool:
    """For exact-case names ('US', 'WHO'): the text as written, dots dropped, must be a listed form."""
    if hit.exact is None:
        return True
    original = tokens.text[tokens.starts[start]:tokens.ends[end - 1]]
    return original.replace(".", "") in hit.exact


# -------------------------------------------------------------------- helpers: text
@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    """One character, accent-folded, still one character long (offsets must not move)."""
    special = _SPECIAL_FOLDS.get(char)
    if special is not None:
        return special
    if unicodedata.combining(char):
        return "'"   # a stray combining mark splits nothing: internal apostrophes are dropped later
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return decomposed if len(decomposed) == 1 else char


def _tokenise(text: str) -> _Tokens:
    """Split a phrase into normalised tokens: folded, lower-cased, dots and inner apostrophes dropped.

    "U.S." → "us", "Hay'at" → "hayat", "Assad's" → "assad" (possessive), "al-Assad" → "al", "assad".
    """
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        folded = "".join(c if c < "\x80" else _fold_char(c) for c in text).lower()
    else:
        folded = text.lower()
    norms: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    possessive: list[bool] = []
    gaps: list[int] = []
    previous_end = 0
    for found in _TOKEN.finditer(folded):
        start, end = found.span()
        raw = found.group()
        if start == previous_end or (start == previous_end + 1 and folded[previous_end] == " "):
            gap = _GAP_NONE
        else:
            between = folded[previous_end:start]
            gap = (_GAP_HARD if _HARD_BREAK.search(between) else _GAP_COMMA if "," in between
                   else _GAP_HYPHEN if between == "-" else _GAP_NONE)
        if "'" in raw or "." in raw:
            is_possessive = False
            if raw.endswith("'s"):
                raw, is_possessive, end = raw[:-2], True, end - 2
            elif raw.endswith("'"):
                raw = raw[:-1]
                is_possessive = raw.endswith("s")
            raw = raw.replace("'", "").replace(".", "")
            if not raw:
                continue
        elif raw == "s" and norms and folded[previous_end:start] == "'":   # "Assad 's" after a tokenizer split
            possessive[-1] = True
            previous_end = end
            continue
        else:
            is_possessive = False
        norms.append(raw)
        starts.append(start)
        ends.append(end)
        possessive.append(is_possessive)
        gaps.append(gap)
        previous_end = found.end()
    return _Tokens(text, norms, starts, ends, possessive, gaps)


def _key(phrase: str) -> str:
    """Index key of a phrase: its normalised tokens joined by spaces."""
    return " ".join(_tokenise(phrase).norms)


def _plurals(term: str) -> list[str]:
    """Regular English plurals of a head noun ('member of parliament' → 'members of parliament')."""
    words = term.split(" ")
    at = words.index("of") - 1 if "of" in words[1:] else len(words) - 1
    word = words[at]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms = [word + "es"] if not word.endswith("s") else []
    elif word.endswith("man"):
        forms = [word[:-3] + "men"]
    elif word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        forms = [word[:-1] + "ies"]
    else:
        forms = [word + "s"]
    return [" ".join(words[:at] + [form] + words[at + 1:]) for form in forms]


def _variants(alias: str, *, person: bool = False) -> list[str]:
    """Spellings of one name for the patterns and the index: as written, capitalised, accent-free,
    and, for people, without the Arabic article ('Bashar al-Assad' → 'Bashar Assad'; an organisation's
    'Tahrir al-Sham' keeps it)."""
    forms = [alias]
    if alias[:1].islower():
        forms.append(alias[:1].upper() + alias[1:])
    if not alias.isascii():
        for form in list(forms):
            folded = "".join(c if c < "\x80" else _fold_char(c) for c in unicodedata.normalize("NFC", form))
            if folded != form:
                forms.append(folded)
    if person and " " in alias:
        for form in list(forms):
            bare = _ARTICLE_PARTICLE.sub("", form)
            if bare != form and len(bare.split()) >= 2:
                forms.append(bare)
    return list(dict.fromkeys(forms))


def _parse_date(value: Any, where: str) -> dt.date | None:
    """'2024-12-08', '2024-12' or '2024' (missing parts are the first day)."""
    if value is None:
        return None
    text = str(value)
    try:
        parts = [int(p) for p in text.split("-")]
        return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except (ValueError, IndexError) as exc:
        raise ActorDataError(f"{where}: date {text!r} is not YYYY, YYYY-MM or YYYY-MM-DD") from exc


# -------------------------------------------------------------------- building
class _Builder:
    """Turns records, in priority order, into the phrase index and the entity patterns."""

    def __init__(self) -> None:
        self.records: list[_Record] = []
        self.index: dict[str, _Hit] = {}
        self.max_len: dict[str, int] = {}
        self.patterns: list[tuple[str, str, str, bool]] = []   # alias, label, id, exact case only
        self.conflicts: list[tuple[str, str, str]] = []
        self.states: dict[str, _Record] = {}

    def add(self, raw: dict[str, Any], where: str) -> None:
        record, exact = self._record(raw, where)
        self.records.append(record)
        kind = record.kind
        if kind == "outlet":
            for alias in raw.get("aliases", []):
                self._index(alias, _Hit(_BLOCK, record, None, None, kind), exact)
            return
        if "terms" in raw:
            self._add_terms(raw, record)
            return
        if kind == "state" and record.sector is None:
            self.states.setdefault(record.country or "", record)
            state_code = record.country or ""
            for alias in raw.get("aliases", []):
                self._index(alias, _Hit(_STATE, record, record.country, None, kind), exact)
                self._pattern(alias, "GPE", state_code, exact)
            for demonym in raw.get("demonyms", []):
                self._index(demonym, _Hit(_DEMONYM, record, record.country, None, "group"), exact)
                self._pattern(demonym, "NORP", state_code, exact)
            for capital in raw.get("capitals", []):
                self._index(capital, _Hit(_CAPITAL, record, record.country, _GOV, "state"), exact)
                self._pattern(capital, "GPE", state_code + _GOV, exact)
            return
        label = "PERSON" if kind == "person" else "ORG"
        for alias in raw.get("aliases", []):
            self._index(alias, _Hit(_NAMED, record, record.country, record.sector, kind), exact)
            self._pattern(alias, label, record.code or "", exact)

    def _add_terms(self, raw: dict[str, Any], record: _Record) -> None:
        weak, identity = bool(raw.get("weak", False)), bool(raw.get("identity", False))
        for term in raw["terms"]:
            hit = _Hit(_TERM, record, None, record.sector, record.kind, weak, identity)
            self._index(term, hit, frozenset())
            if not identity and record.kind in {"person", "organization"}:
                plural_kind = "group" if record.kind == "person" else record.kind
                for plural in _plurals(term):
                    self._index(plural, _Hit(_TERM, record, None, record.sector, plural_kind, weak, identity),
                                frozenset(), quiet=True)

    def _record(self, raw: dict[str, Any], where: str) -> tuple[_Record, frozenset[str]]:
        if not isinstance(raw, dict):
            raise ActorDataError(f"{where}: each line must be a JSON object")
        unknown = set(raw) - _FIELDS
        if unknown:
            raise ActorDataError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
        kind = raw.get("kind")
        if kind not in _KINDS:
            raise ActorDataError(f"{where}: 'kind' must be one of {sorted(_KINDS)}, not {kind!r}")
        code = raw.get("code")
        if code is None and kind != "outlet":
            raise ActorDataError(f"{where}: 'code' is required (only outlets have none)")
        if "name" not in raw and "terms" not in raw:
            raise ActorDataError(f"{where}: 'name' is required")
        for list_field in ("aliases", "demonyms", "capitals", "terms", "exact_case"):
            value = raw.get(list_field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ActorDataError(f"{where}: '{list_field}' must be a list of non-empty strings")
        roles = tuple(
            _Role(str(r["code"]), r.get("country", str(r["code"])[:3]), r.get("sector", str(r["code"])[3:6]),
                  _parse_date(r.get("since"), where), _parse_date(r.get("until"), where))
            for r in raw.get("roles", [])
        )
        name = raw.get("name") or (raw.get("terms") or [""])[0]
        record = _Record(code, name, raw.get("country"), raw.get("sector"), kind, roles)
        exact = frozenset(form.replace(".", "") for form in raw.get("exact_case", []))
        _parse_date(raw.get("since"), where)
        _parse_date(raw.get("until"), where)
        return record, exact

    def _index(self, phrase: str, hit: _Hit, exact: frozenset[str], *, quiet: bool = False) -> None:
        forms = _variants(phrase, person=hit.kind == "person") if hit.role != _TERM else [phrase]
        for form in forms:
            key = _key(form)
            if not key:
                continue
            if exact and phrase.replace(".", "") in exact:
                hit_here = _Hit(hit.role, hit.record, hit.country, hit.sector, hit.kind, hit.weak, hit.identity,
                                exact)
            else:
                hit_here = hit
            existing = self.index.get(key)
            if existing is None:
                self.index[key] = hit_here
                words = key.split(" ")
                if len(words) > 1:
                    self.max_len[words[0]] = max(self.max_len.get(words[0], 1), len(words))
            elif not quiet and _meaning(existing) != _meaning(hit_here):
                self.conflicts.append((key, _meaning(existing), _meaning(hit_here)))

    def _pattern(self, alias: str, label: str, code: str, exact: frozenset[str]) -> None:
        self.patterns.append((alias, label, code, alias.replace(".", "") in exact))

    def build(self) -> ActorDictionary:
        return ActorDictionary(self.records, self.index, self.max_len, self.patterns, self.conflicts, self.states)


def _meaning(hit: _Hit) -> str:
    """What a hit codes, for conflict reports: two spellings of one actor are no conflict."""
    if hit.role == _BLOCK:
        return "not an actor"
    if hit.role == _TERM:
        return f"sector {hit.sector}"
    if hit.role == _CAPITAL:
        return f"{hit.country}{_GOV}"
    if hit.role in _COUNTRY_ROLES:
        return hit.country or ""
    return (hit.record.code if hit.record else None) or ""


def _data_files(data_dir: Path) -> list[Path]:
    if not data_dir.is_dir():
        raise ActorDataError(f"actor data folder {data_dir} does not exist; pass data_dir= or reinstall tidings")
    present = {p.stem: p for p in data_dir.glob("*.jsonl")}
    ordered = [present.pop(stem) for stem in FILE_ORDER if stem in present]
    return ordered + [present[stem] for stem in sorted(present)]


@functools.lru_cache(maxsize=8)
def _load_cached(data_dir: Path) -> ActorDictionary:
    builder = _Builder()
    for path in _data_files(data_dir):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip() or line.lstrip().startswith("//"):
                    continue
                where = f"{path.name}:{number}"
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ActorDataError(f"{where}: not valid JSON ({exc.msg}); one object per line") from exc
                builder.add(raw, where)
    return builder.build()
