"""The codebook: what tidings knows about PLOVER types, CAMEO codes and actor sectors, read from one file.

``data/plover.json`` is the one place for type knowledge (knowledge is data): the 16 types and their quad
classes, the CAMEO roots, the sectors that mean "the state" or "armed", which types read their arguments
differently, which types make which graph edge, which types linking may treat as one act, and the rules
that map a PLOVER event to ACLED and CASE 2021. This module reads it once (:func:`codebook`) into one
frozen, typed record, so stages ask ``codebook().state_sectors`` rather than keeping a table of their own
(three copies of one sector list had drifted apart before). It imports no stage: stages, the export
and the evaluation all read it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidings.core.records import Event

__all__ = ["CaseMapping", "Codebook", "LinkingRules", "Rule", "codebook", "load_case_mapping", "read_plover"]

Rule = tuple[Mapping[str, Any], Any]   # (conditions, outcome), first match wins


@functools.lru_cache(maxsize=4)
def read_plover(path: Path | None = None) -> Mapping[str, Any]:
    """The parsed ``plover.json`` (default: the package's); cached, so treat it as read-only."""
    if path is None:
        from tidings.core.settings import DATA_DIR

        path = DATA_DIR / "plover.json"
    return dict(json.loads(Path(path).read_text("utf-8")))


def _listed(data: Mapping[str, Any], section: str, entry: str, key: str) -> list[Any]:
    """``data[section][entry][key]``, or the package file's when ``data`` lacks it (a partial file
    written by a test or a user still gets the packaged sector lists)."""
    found = data.get(section, {}).get(entry, {}).get(key)
    if found is None:
        found = read_plover().get(section, {}).get(entry, {}).get(key, [])
    return list(found)


# ------------------------------------------------------------------------------------------ linking

@dataclass(frozen=True)
class LinkingRules:
    """What linking knows about types (``linking`` in ``plover.json``)."""

    symmetric: frozenset[str]                 # "A met B" is "B met A"
    families: dict[str, str]                  # TYPE, TYPE/mode or TYPE#cameo -> the family it belongs to
    mode_matters: frozenset[str]              # types whose modes are different acts (withdraw vs. release)
    date_slack: dict[str, int]                # granularity -> days two reports' dates may differ by

    @property
    def max_slack(self) -> int:
        """The widest slack between two *dated* members (the candidate lookup widens by it): months and
        years are longer than MAX_WINDOW_DAYS, so such members count as undated and never use theirs."""
        return max((v for k, v in self.date_slack.items() if k not in ("month", "year")), default=2)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> LinkingRules:
        families: dict[str, str] = {}
        for group in data.get("compatible_types", []):
            label = group["types"][0].split("/")[0].split("#")[0]   # the family is named by its first type
            families.update((key, label) for key in group["types"])
        slack = {k: int(v) for k, v in data.get("date_slack_days", {}).items() if k != "why"}
        return cls(frozenset(data.get("symmetric_types", {}).get("types", [])), families,
                   frozenset(data.get("mode_matters", {}).get("types", [])), slack or {"unknown": 2})


# ------------------------------------------------------------------------------- ACLED and CASE 2021

_WORD = re.compile(r"[a-z]+")


def _words(text: str) -> set[str]:
    """Lower-case words plus crude singulars and stems ("weapons" → "weapon", "intercepted" → "intercept"),
    enough to match the word lists of the mapping rules without a lemmatiser."""
    out: set[str] = set()
    for word in _WORD.findall(text.lower()):
        out.add(word)
        for suffix in ("es", "s", "ed", "ing"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                out.add(word[: -len(suffix)])
    return out


def _sector(actor: Any) -> str | None:
    if actor is None:
        return None
    if actor.sector:
        return str(actor.sector)[:3].upper()
    code = actor.code or ""
    return code[3:6].upper() if len(code) >= 6 else None


@dataclass(frozen=True)
class _Facts:
    """What the mapping rules may ask about one event."""

    type: str
    mode: str | None
    cameo: str
    contexts: frozenset[str]
    source_sector: str | None
    target_sector: str | None
    source_state: bool
    armed: bool
    trigger: frozenset[str]
    object: frozenset[str]
    sentence: frozenset[str]

    @classmethod
    def of(cls, event: Event, state_sectors: frozenset[str], armed_sectors: frozenset[str]) -> _Facts:
        src, tgt = event.source_actor, event.target_actor
        src_sector = _sector(src)
        sentence = event.evidence.get("sentence")
        trigger = event.evidence.get("trigger")
        target = event.evidence.get("target")
        after = ""
        if sentence is not None and trigger is not None:
            # the object of a trigger is in the words right after it ("seized weapons and ammunition")
            after = " ".join(sentence.text[max(0, trigger.end - sentence.start):].split()[:8])
        return cls(
            type=event.type, mode=event.mode, cameo=event.cameo or "", contexts=frozenset(event.contexts),
            source_sector=src_sector, target_sector=_sector(tgt),
            source_state=src is not None and (src.kind == "state" or (src_sector or "") in state_sectors),
            armed=any((_sector(a) or "") in armed_sectors for a in (src, tgt)),
            trigger=frozenset(_words(trigger.text if trigger else "")),
            object=frozenset(_words(f"{target.text if target else ''} {after}")),
            sentence=frozenset(_words(sentence.text if sentence else "")),
        )


def _holds(key: str, wanted: Any, facts: _Facts, acled: bool) -> bool:
    """One condition of a mapping rule. An unknown condition never holds: a rule the code cannot read
    must not fire."""
    if key in ("type", "mode"):
        return getattr(facts, key) in wanted
    if key in ("source_sector", "target_sector"):
        return getattr(facts, key) in {str(w)[:3].upper() for w in wanted}
    if key == "cameo":
        return any(facts.cameo.startswith(str(code)) for code in wanted)
    if key == "contexts":
        return bool(facts.contexts & set(wanted))
    if key == "armed_parties":
        return facts.armed is bool(wanted)
    if key == "actor_kind":
        return facts.source_state if wanted == "state" else not facts.source_state
    if key in ("object", "words", "lemma"):
        pool = {"object": facts.object, "words": facts.sentence, "lemma": facts.trigger}[key]
        return bool(pool & {str(w).lower() for w in wanted})
    if key == "acled":
        return acled is bool(wanted)
    return False


def _first_rule(rules: Sequence[Rule], facts: _Facts, acled: bool = False) -> tuple[int, Any] | None:
    for number, (when, outcome) in enumerate(rules):
        if all(_holds(k, v, facts, acled) for k, v in when.items()):
            return number, outcome
    return None


@dataclass(frozen=True)
class CaseMapping:
    """PLOVER event → ACLED (event type, sub-event type) → CASE 2021 label, by the rules in ``plover.json``.

    Per type, ``types[T].acled.rules`` give an ACLED (event type, sub-event type) or none; then
    ``case2021.rules`` give the label: unseen labels first (ORG_CRIME, ATTRIB, DIPLO), then "via
    acled_to_case" for events ACLED codes, then a catch-all. ``fallback_natural``/``fallback`` label
    snippets with no event at all (see :meth:`no_event_label`). The export uses :meth:`acled`, the CASE
    evaluation :meth:`label`: one set of rules for both.
    """

    acled_rules: Mapping[str, Sequence[Rule]]
    case_rules: Sequence[Rule]
    acled_to_case: Mapping[str, str]
    fallback: str = "MAN_MADE_DISASTER"
    fallback_natural: str = "NATURAL_DISASTER"
    state_sectors: frozenset[str] = frozenset()
    armed_sectors: frozenset[str] = frozenset()
    natural_cues: frozenset[str] = frozenset()

    def facts(self, event: Event) -> _Facts:
        return _Facts.of(event, self.state_sectors, self.armed_sectors)

    def acled(self, event: Event, facts: _Facts | None = None) -> tuple[str, str] | None:
        """The ACLED (event type, sub-event type) of an event, or None when ACLED would not code it."""
        hit = _first_rule(self.acled_rules.get(event.type, ()), facts or self.facts(event))
        return tuple(hit[1]) if hit and hit[1] else None  # type: ignore[return-value]

    def label(self, event: Event) -> tuple[str, bool]:
        """(label, specific): ``specific`` is False when only the catch-all rule matched."""
        facts = self.facts(event)
        acled = self.acled(event, facts)
        hit = _first_rule(self.case_rules, facts, acled is not None)
        if hit is None:
            return "OTHER", False
        number, label = hit
        if str(label).startswith("via") and acled is not None:
            label = self.acled_to_case.get("|".join(acled), "OTHER")
        return str(label), bool(self.case_rules[number][0])

    def no_event_label(self, text: str) -> str:
        """A snippet with no political event: CASE's two labels that PLOVER has no type for are the
        disasters, so it is one of them — natural when it names a natural hazard, else man-made."""
        return self.fallback_natural if _words(text) & self.natural_cues else self.fallback

    @classmethod
    def from_data(cls, data: Mapping[str, Any], fallback: str | None = None) -> CaseMapping:
        acled_rules = {name: [(r.get("when") or {}, r.get("acled")) for r in entry.get("acled", {}).get("rules", [])]
                       for name, entry in data.get("types", {}).items()}
        case = data.get("case2021", {})
        rules = [(r.get("when") or {}, r.get("label")) for r in case.get("rules", [])]
        cues = case.get("natural_cues", {}).get("words")
        if cues is None:
            cues = read_plover().get("case2021", {}).get("natural_cues", {}).get("words", [])
        extra: dict[str, Any] = {"fallback": fallback, "fallback_natural": fallback} if fallback else {}
        return cls(acled_rules, rules, dict(case.get("acled_to_case", {})),
                   state_sectors=frozenset(_listed(data, "sectors", "state", "sectors")),
                   armed_sectors=frozenset(_listed(data, "sectors", "armed", "sectors")),
                   natural_cues=frozenset(cues), **extra)


def load_case_mapping(path: str | Path | None = None, fallback: str | None = None) -> CaseMapping:
    """Read the CASE mapping from ``plover.json`` (default: the package's ``data/plover.json``);
    ``fallback`` overrides the label of event-less snippets (both disaster labels)."""
    if path is None:
        return CaseMapping.from_data(read_plover(), fallback)
    return CaseMapping.from_data(json.loads(Path(path).read_text(encoding="utf-8")), fallback)


# --------------------------------------------------------------------------------------- the record

@dataclass(frozen=True)
class Codebook:
    """Type knowledge from ``plover.json``, typed. Each field names the section it comes from."""

    types: tuple[str, ...]                    # the 16 PLOVER types, in file order (``types``)
    quad_classes: Mapping[str, int | None]    # type -> GDELT quad class (``types.*.gdelt_quad_class``)
    type_cameo_roots: Mapping[str, tuple[str, ...]]   # type -> its CAMEO roots (``types.*.cameo_roots``)
    root_quad_classes: Mapping[str, int | None]       # CAMEO root -> quad class (``cameo_roots``)
    state_sectors: frozenset[str]             # sectors of state organs (``sectors.state``)
    state_sector_codes: frozenset[str]        # those plus whole six-letter state codes (``sectors.state_combined``)
    armed_sectors: frozenset[str]             # sectors of parties that carry arms (``sectors.armed``)
    theme_types: frozenset[str]               # moved party is the actor (``roles.theme_types``)
    place_target_types: frozenset[str]        # place struck gives the target (``roles.place_target_types``)
    relation_of_type: Mapping[str, str]       # type -> graph relation (``graph.relation_of_type``)
    stance: Mapping[str, str]                 # relation -> stance (``graph.stance``)
    capture_cameo: str                        # CAMEO prefix of taking a place (``graph.capture_cameo``)
    no_edge_modalities: tuple[str, ...]       # modalities that make no edge (``graph.no_edge_modalities``)
    linking: LinkingRules                     # ``linking``
    acled_mapping: CaseMapping                # ``types.*.acled`` and ``case2021``

    @property
    def symmetric(self) -> frozenset[str]:
        return self.linking.symmetric

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Codebook:
        types = data["types"]
        graph = data.get("graph", {})
        roles = data.get("roles", {})
        state = frozenset(_listed(data, "sectors", "state", "sectors"))
        return cls(
            types=tuple(types),
            quad_classes={name: info.get("gdelt_quad_class") for name, info in types.items()},
            type_cameo_roots={name: tuple(str(r) for r in info.get("cameo_roots") or ()) for name, info in types.items()},
            root_quad_classes={root: info.get("gdelt_quad_class") for root, info in data.get("cameo_roots", {}).items()},
            state_sectors=state,
            state_sector_codes=state | frozenset(_listed(data, "sectors", "state_combined", "sectors")),
            armed_sectors=frozenset(_listed(data, "sectors", "armed", "sectors")),
            theme_types=frozenset(roles.get("theme_types", {}).get("types", [])),
            place_target_types=frozenset(roles.get("place_target_types", {}).get("types", [])),
            relation_of_type=dict(graph.get("relation_of_type", {}).get("types", {})),
            stance=dict(graph.get("stance", {}).get("relations", {})),
            capture_cameo=str(graph.get("capture_cameo", {}).get("code", "192")),
            no_edge_modalities=tuple(graph.get("no_edge_modalities", {}).get("modalities", ())),
            linking=LinkingRules.from_data(data.get("linking", {})),
            acled_mapping=CaseMapping.from_data(data),
        )


@functools.lru_cache(maxsize=4)
def codebook(data_dir: Path | None = None) -> Codebook:
    """The codebook of ``data_dir/plover.json`` (default: the package's), read once."""
    return Codebook.from_data(read_plover(None if data_dir is None else Path(data_dir) / "plover.json"))
