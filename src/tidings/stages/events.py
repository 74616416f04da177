"""Events: trigger words → PLOVER type and mode, roles from the dependency parse, then place, time,
modality and attribution, each with its evidence span.

Triggers are data (``data/en/verbs.jsonl``); this module holds the mechanism only:

* a trigger is a verb or noun whose lemma has a pattern whose constraints (particle, object,
  preposition) hold;
* the source is the subject (active), the ``by``-agent (passive), or for a noun the ``by``-phrase,
  the possessor, a nationality adjective, or the subject of the verb that governs it ("Iran has begun
  *the evacuation*"); the target is the object or a prepositional object;
* a retreating party that is only the theme ("commanders were evacuated") is the source;
* coordinated places or targets ("captured Homs and Deir ez-Zor") give one event each;
* the place comes from the trigger's own phrase first, then the sentence; the date from the
  trigger's own time expression, then the sentence's, else the event is undated.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from spacy.tokens import Span as SpacySpan
from spacy.tokens import Token

from tidings.core.codebook import codebook
from tidings.core.records import Actor, Event, Place, Source, Span, When
from tidings.core.settings import DATA_DIR, LANGUAGE_DIR
from tidings.stages.attribution import Attribution, Cues, chain_for, merge_chains
from tidings.stages.mentions import DocContext, TimeMention, token_span
from tidings.stages.modality import modality_of, tense_of

__all__ = ["Coding", "Sentence", "Trigger", "TriggerTable", "code_as", "code_sentence"]

# Prepositions that locate an event, best first.
_LOCATIVE = ("in", "at", "near", "outside", "inside", "around", "across", "into", "on", "from", "to", "towards",
             "toward", "over", "throughout", "within", "through")
_TARGET_PREPS = ("against", "on", "to", "with", "from", "at", "for", "toward", "towards", "over")
_LIGHT_NOUN_GOVERNORS_DEPS = ("dobj", "nsubjpass", "pobj", "attr", "conj")
# An object constraint listing one of these nouns is also met by a named place ("left Syria", "took Kidal").
_PLACE_NOUNS = frozenset({"city", "town", "village", "country", "area", "territory", "region", "capital", "province"})
_PLACE_OBJECT = "@place"
_PLACE_LABELS = ("GPE", "LOC", "FAC")
_QUANTITY_NOUNS = frozenset({"dollar", "euro", "pound", "yuan", "rouble", "ruble", "worth", "million", "billion",
                             "tonne", "ton", "dozen", "hundred", "thousand", "ten"})
_OBJECT_CONTROL_PREPS = ("of", "for", "with")
_CLAUSE_DEPS = ("ccomp", "xcomp", "advcl", "pcomp")
_OWNER_LABELS = ("NORP", "GPE", "ORG")
_ANY_PREP = ("to", "from", "into", "of", "on", "for", "with", "against", "at", "in", "out", "over", "off", "upon")


@dataclass(frozen=True)
class Trigger:
    """One row of ``verbs.jsonl``."""

    lemma: str
    pos: str
    type: str
    mode: str | None
    cameo: str | None
    particle: str | None
    object: frozenset[str] | None
    not_object: frozenset[str]
    prep: str | None
    weight: float
    row: int = 0          # line of verbs.jsonl (0: a type chosen by the learned layer, not a row)


class TriggerTable:
    """Trigger patterns indexed by (lemma, pos); the most constrained pattern is tried first."""

    def __init__(self, rows: list[Trigger], mode_modifiers: dict[str, dict[str, str]] | None = None,
                 type_modifiers: dict[str, dict[str, list[str]]] | None = None):
        self.mode_modifiers = mode_modifiers or {}
        self.transparent: frozenset[str] = _QUANTITY_NOUNS
        self.type_modifiers = type_modifiers or {}
        index: dict[tuple[str, str], list[Trigger]] = defaultdict(list)
        for row in rows:
            index[(row.lemma, row.pos)].append(row)
        for patterns in index.values():
            patterns.sort(key=lambda t: (t.object is None, t.particle is None, t.prep is None, -t.weight))
        self._index = dict(index)
        self.lemmas = frozenset(lemma for lemma, _ in self._index)
        # Objects that any pattern of a lemma rules out also stop that lemma's patterns without an object list:
        # "fired the commander" is never an attack, whichever row would match.
        self._blocked = {key: frozenset().union(*(p.not_object for p in pats)) for key, pats in self._index.items()}
        self.intent_lemmas = frozenset(r.lemma for r in rows if r.type in ("REQUEST", "THREATEN") and r.pos == "VERB")

    @classmethod
    @lru_cache(maxsize=4)
    def load(cls, data_dir: Path = LANGUAGE_DIR) -> TriggerTable:
        rows = []
        with (data_dir / "verbs.jsonl").open(encoding="utf-8") as fh:
            for line_number, line in enumerate(fh, 1):
                if not line.strip() or line.lstrip().startswith("//"):
                    continue
                r = json.loads(line)
                rows.append(Trigger(
                    lemma=r["lemma"].lower(), pos=r.get("pos", "VERB").upper(), type=r["type"], mode=r.get("mode"),
                    cameo=r.get("cameo"), particle=(r.get("particle") or None),
                    object=_object_set(r.get("object")),
                    not_object=frozenset(o.lower() for o in (r.get("not_object") or [])),
                    prep=(r.get("prep") or None), weight=float(r.get("weight", 1.0)), row=line_number,
                ))
        plover = json.loads((DATA_DIR / "plover.json").read_text("utf-8"))   # the codebook: one for every language
        cues = json.loads((data_dir / "cues.json").read_text("utf-8"))
        table = cls(rows, plover.get("mode_modifiers", {}), plover.get("type_modifiers", {}))
        table.transparent = frozenset(cues.get("transparent_nouns", {}).get("lemmas", [])) | _QUANTITY_NOUNS
        return table

    def refine(self, token: Token, rule: Trigger) -> Trigger:
        """Type and mode from the words around a trigger: "hunger strike" → PROTEST, "drones struck" → drone."""
        near = _modifier_lemmas(token)
        by_word = self.type_modifiers.get(token.lemma_.lower(), {})
        for lemma in near:
            value = by_word.get(lemma)
            if isinstance(value, list) and len(value) == 2:
                return replace(rule, type=value[0], mode=value[1])
        modes = self.mode_modifiers.get(rule.type, {})
        for lemma in near:  # the instrument named in the text is more specific than the verb's default
            if lemma in modes:
                return replace(rule, mode=modes[lemma])
        return rule

    def match(self, token: Token) -> Trigger | None:
        """The pattern that fires on ``token``, or None."""
        pos = "VERB" if token.pos_ in ("VERB", "AUX") else "NOUN" if token.pos_ in ("NOUN", "PROPN") else None
        if pos is None:
            return None
        patterns = self._index.get((token.lemma_.lower(), pos))
        if not patterns and pos == "NOUN":
            patterns = self._index.get((token.lower_, pos))
        if not patterns:
            return None
        found = _objects(token)
        # "5 million dollars of aid", "dozens of rockets": the noun after "of" is what is given or fired.
        found += [g for o in found if o.lemma_.lower() in self.transparent for c in o.children
                  if c.dep_ == "prep" and c.lower_ == "of" for g in c.children if g.dep_ == "pobj"]
        objects = {o.lemma_.lower() for o in found}
        if any(o.ent_type_ in _PLACE_LABELS for o in found):
            objects.add(_PLACE_OBJECT)
        by_prep: dict[str, set[str]] = defaultdict(set)
        for prep, pobj in _pobjs(token, _ANY_PREP):
            by_prep[prep].add(pobj.lemma_.lower())
            if pobj.ent_type_ in _PLACE_LABELS:
                by_prep[prep].add(_PLACE_OBJECT)
        preps = {c.lower_ for c in token.children if c.dep_ in ("prep", "agent", "dative")}
        # The small model often parses a particle as a preposition ("called on", "pulled out of").
        particles = {c.lower_ for c in token.children if c.dep_ == "prt"} | preps
        blocked = self._blocked.get((token.lemma_.lower(), pos), frozenset())
        for pattern in patterns:
            if pattern.particle and pattern.particle not in particles:
                continue
            if pattern.prep and pattern.prep not in preps:
                continue
            # With a required preposition, the object constraint applies to that preposition's object
            # ("took to the streets", "withdrew from the treaty").
            candidates = objects | by_prep.get(pattern.prep, set()) if pattern.prep else objects
            if pattern.object is not None and not (candidates & pattern.object):
                continue
            if objects & pattern.not_object or (pattern.object is None and objects & blocked):
                continue
            return pattern
        return None


def _modifier_lemmas(token: Token) -> list[str]:
    """Lemmas that qualify a trigger: its own modifiers, its subject's, its object's, and "with"/"by" instruments."""
    heads = [token]
    heads += [c for c in token.children if c.dep_ in ("nsubj", "nsubjpass", "dobj")]
    heads += [g for h in list(heads[1:]) for c in h.children if c.dep_ == "prep" and c.lower_ == "of"
              for g in c.children if g.dep_ == "pobj"]  # "dozens of rockets"
    heads += [g for c in token.children if c.dep_ in ("prep", "agent") and c.lower_ in ("with", "by", "in")
              for g in c.children if g.dep_ == "pobj"]
    # Modifiers first: in "a suicide bomber" the modifier says more than the head noun.
    lemmas = [c.lemma_.lower() for head in heads for c in head.children
              if c.dep_ in ("compound", "amod", "nmod", "npadvmod")]
    lemmas += [head.lemma_.lower() for head in heads if head is not token]
    return lemmas


def _object_set(values: list[str] | None) -> frozenset[str] | None:
    if not values:
        return None
    objects = {o.lower() for o in values}
    if objects & _PLACE_NOUNS:
        objects.add(_PLACE_OBJECT)
    return frozenset(objects)


def _objects(token: Token) -> list[Token]:
    """Direct objects, or for a noun its ``of``-object; passive subjects count as objects."""
    found = [c for c in token.children if c.dep_ in ("dobj", "nsubjpass", "attr", "oprd")]
    if token.pos_ in ("NOUN", "PROPN"):
        found += [g for c in token.children if c.dep_ == "prep" and c.lower_ == "of" for g in c.children
                  if g.dep_ == "pobj"]
    return found


def _pobjs(token: Token, preps: tuple[str, ...]) -> Iterator[tuple[str, Token]]:
    for child in token.children:
        if child.dep_ in ("prep", "agent", "dative") and child.lower_ in preps:
            for grand in child.children:
                if grand.dep_ == "pobj":
                    yield child.lower_, grand


def _with_conjuncts(token: Token) -> list[Token]:
    out = [token]
    stack = [c for c in token.children if c.dep_ == "conj"]
    while stack:
        t = stack.pop(0)
        out.append(t)
        stack.extend(c for c in t.children if c.dep_ == "conj")
    return out


# --- roles --------------------------------------------------------------------------------------

@dataclass
class _Roles:
    source: Actor | None = None
    target_tokens: list[Token] | None = None
    theme: Token | None = None
    co_sources: list[Actor] | None = None   # "Egypt and Qatar called on …": one event per source


def _subject(token: Token, cues: Cues) -> Token | None:
    """The subject of ``token``'s clause, climbing through aspectual/control verbs ("began leaving",
    "managed to take") and coordinated verbs that share it."""
    current = token
    for _ in range(5):
        subj = next((c for c in current.children if c.dep_ == "nsubj"), None)
        if subj is not None:
            return subj
        if current.dep_ in ("xcomp", "conj") and current.head.pos_ in ("VERB", "AUX"):
            current = current.head
            continue
        if current.dep_ == "advcl" and not any(c.dep_ == "mark" for c in current.children) and current.tag_ == "VB":
            current = current.head  # "deployed fighters to protect X": the deployer protects
            continue
        if current.dep_ == "relcl":
            return current.head
        if current.dep_ == "pcomp" and current.head.dep_ == "prep":
            # "… used Syria as a route for supplying weapons": climb to the clause's verb
            up = current.head.head
            while up.dep_ in ("pobj", "prep") and up.head.i != up.i:
                up = up.head
            obj = next((c for c in up.children if c.dep_ == "dobj"), None)
            if obj is not None and current.head.lower_ in _OBJECT_CONTROL_PREPS and current.head.head.i == up.i:
                # "accused Israel of bombing", "blamed Russia for shelling", "praised X for helping": the
                # object does the act in the complement, not the verb's subject.
                return obj
            if up.pos_ in ("VERB", "AUX"):
                current = up
                continue
        return None
    return None


def _verb_roles(trigger: Token, ctx: DocContext, cues: Cues, rule: Trigger) -> _Roles:
    roles = _Roles()
    passive = any(c.dep_ in ("auxpass", "nsubjpass") for c in trigger.children)
    if passive:
        agent = next((p for _, p in _pobjs(trigger, ("by",))), None)
        if agent is not None:
            roles.source = ctx.actor_at(agent)
        patient = next((c for c in trigger.children if c.dep_ == "nsubjpass"), None)
        if patient is not None:
            if roles.source is None and rule.type in codebook().theme_types:
                roles.source = ctx.actor_at(patient)
            else:
                roles.target_tokens = _with_conjuncts(patient)
    else:
        subj = _subject(trigger, cues)
        if subj is not None:
            roles.source = ctx.actor_at(subj)
            roles.co_sources = [a for c in _with_conjuncts(subj)[1:] if (a := ctx.actor_at(c)) is not None]
            roles.co_sources += _coordinated_modifiers(subj, ctx)
        obj = next((c for c in trigger.children if c.dep_ in ("dobj",)), None)
        if obj is not None and rule.object is not None and obj.lemma_.lower() in rule.object:
            # Light verb + noun ("take control of X", "launch an attack on X"): the target hangs off the noun.
            inner = next((p for _, p in _pobjs(obj, ("of", "on", "against", "over", "with", "to", "into"))), None)
            # "rejected a U.S. request", "rejected an offer from Kabul": without such a phrase, whose the noun is.
            obj = inner if inner is not None else _owner_of(obj, ctx)
        if obj is not None and rule.type in codebook().theme_types and obj.ent_type_ not in _PLACE_LABELS:
            roles.theme = obj  # "evacuate its forces", "deployed fighters": the moved party, not a target
            obj = None
        if obj is not None and ctx.actor_at(obj) is None and ctx.place_at(obj) is None:
            # The object is an act or a thing: its owner is the target ("rejected a U.S. request", "denounced
            # Serbia's suppression", "rejected calls by Belarus's rulers"), else whom it was given to ("gave the
            # Ivory Coast $5m"), else the object stays (a target the rules cannot name).
            obj = _owner_of(obj, ctx) or _dative(trigger, ctx) or _recipient(trigger, ctx, obj) or obj
        if obj is not None:
            roles.target_tokens = _with_conjuncts(obj)
        else:
            first = _first_pobj(trigger, rule)   # may be a date or a thing ("on Thursday"): then the clause
            roles.target_tokens = first if _names_actor(first, ctx, roles.source) else (
                _complement_subject(trigger, rule, ctx, roles.source) or first)
        if rule.type == "ACCUSE" and obj is None:
            roles.target_tokens = _accused(trigger, ctx, roles.source) or roles.target_tokens
        if _verbal(rule.type) and not _names_actor(roles.target_tokens, ctx, roles.source):
            roles.target_tokens = _complement_target(trigger, ctx, roles.source) or roles.target_tokens
        if rule.type == "PROTEST" and not _names_actor(roles.target_tokens, ctx, roles.source):
            roles.target_tokens = _demand_target(trigger, ctx, roles.source) or roles.target_tokens
    return roles


#: Where a protest states what it wants: its purpose clause ("to demand …", "calling for …") and its
#: "in protest against/of …", "over …" phrases.
_DEMAND_DEPS = ("advcl", "xcomp", "acl", "prep", "npadvmod")
_DEMAND_PREPS = ("in", "against", "over", "for", "following", "after")


def _demand_target(trigger: Token, ctx: DocContext, source: Actor | None) -> list[Token] | None:
    """A protest's target is whom its demand addresses: the first party named in its purpose clause or
    protest phrase ("to demand the resignation of President X", "calling for independence from Iraq",
    "in protest against violations by the security forces", "their disapproval of the United States' policies").
    Cities are where a protest happens, not whom it targets; countries count."""
    for clause in trigger.children:
        if clause.dep_ not in _DEMAND_DEPS or clause.dep_ == "prep" and clause.lower_ not in _DEMAND_PREPS:
            continue
        for token in sorted(clause.subtree, key=lambda t: t.i):
            if token.dep_ not in ("pobj", "poss", "dobj", "compound", "amod") or token.pos_ not in ("PROPN", "NOUN"):
                continue
            actor = ctx.actor_at(token)
            if actor is None or _same_actor(actor, source):
                continue
            place = ctx.place_at(token)
            if place is not None and place.feature != "country":
                continue
            return _with_conjuncts(token)
    return None


#: Prepositions after a complement's verb or object that name whom a verbal act is aimed at ("threatened to
#: deliver blows to the United States", "agreed to reopen its borders to UN peacekeepers").
_COMPLEMENT_TARGET_PREPS = ("to", "against", "on", "with", "toward", "towards")


def _names_actor(tokens: list[Token] | None, ctx: DocContext, source: Actor | None) -> bool:
    return any((a := ctx.actor_at(t)) is not None and not _same_actor(a, source) for t in tokens or [])


def _same_actor(actor: Actor, other: Actor | None) -> bool:
    return other is not None and actor.code == other.code and actor.name == other.name


def _complement_target(trigger: Token, ctx: DocContext, source: Actor | None) -> list[Token] | None:
    """For a verbal act whose own object names no one ("threatened to resume attacks in …", "refused to
    reopen the border to …"), the party its infinitive complement acts on: that verb's object, dative, or
    the object of a directed preposition on the verb or on its object. The actor must differ from the source."""
    for clause in trigger.children:
        if clause.dep_ != "xcomp" or clause.pos_ not in ("VERB", "AUX"):
            continue
        # Whom the act is directed to comes before what it moves ("hand over the suspects to the tribunal").
        objects = [c for c in clause.children if c.dep_ in ("dobj", "dative")]
        candidates = [p for _, p in _pobjs(clause, _COMPLEMENT_TARGET_PREPS)]
        candidates += [p for obj in objects for _, p in _pobjs(obj, _COMPLEMENT_TARGET_PREPS)]
        if next(_pobjs(clause, ("to",)), None) is None:
            # With a recipient named ("to the tribunal"), the object is what is moved, never the target.
            candidates += sorted(objects, key=lambda c: c.dep_ != "dative")
        for token in candidates:
            actor = ctx.actor_at(token)
            if actor is None or _same_actor(actor, source):
                continue
            if actor.kind == "state" or ctx.place_at(token) is None:   # a town is where, a country is who
                return _with_conjuncts(token)
    return None


def _owner_of(noun: Token, ctx: DocContext) -> Token | None:
    """Whose act or thing ``noun`` is: a possessor, a national or named modifier, or a by/from phrase."""
    for child in noun.children:
        if child.dep_ == "poss" and ctx.actor_at(child) is not None:
            return child
    for child in noun.children:
        if child.dep_ in ("compound", "amod", "nmod") and child.ent_type_ in _OWNER_LABELS \
                and ctx.actor_at(child) is not None:
            return child
    # "attacks by X", "an offer from X", "abuses committed by X" (the agent of a participle on the noun)
    heads = [noun, *(c for c in noun.children if c.dep_ == "acl" and c.pos_ == "VERB")]
    for head in heads:
        for prep in head.children:
            if (prep.dep_ == "agent" or (prep.dep_ == "prep" and head is noun and prep.lower_ in ("by", "from"))):
                for pobj in prep.children:
                    if pobj.dep_ == "pobj" and ctx.actor_at(pobj) is not None:
                        return pobj
    return None


def _recipient(trigger: Token, ctx: DocContext, thing: Token | None = None) -> Token | None:
    """Whom a thing was given, refused or sent to ("refused entry to Ghanaians", "sent aid to Sudan"): the
    party named by the to-phrase of the verb or of the thing; a town is where, not who."""
    for _, pobj in [*_pobjs(trigger, ("to",)), *(_pobjs(thing, ("to",)) if thing is not None else [])]:
        actor = ctx.actor_at(pobj)
        place = ctx.place_at(pobj)
        if actor is not None and (place is None or place.feature == "country"):
            return pobj
    return None


#: Prepositions of a complaint's or inquiry's matter ("complained to the UN over Israeli raids", "opened an
#: inquiry into killings by X"): the party named there, or whose act is named there, is accused; the
#: to-phrase only says who heard it.
_MATTER_PREPS = ("over", "about", "against", "at", "into")


def _accused(trigger: Token, ctx: DocContext, source: Actor | None) -> list[Token] | None:
    for _, pobj in _pobjs(trigger, _MATTER_PREPS):
        actor = ctx.actor_at(pobj)
        token = pobj if actor is not None else _owner_of(pobj, ctx)
        found = ctx.actor_at(token) if token is not None else None
        if token is not None and found is not None and not _same_actor(found, source):
            return _with_conjuncts(token)
    return None


def _dative(trigger: Token, ctx: DocContext) -> Token | None:
    return next((c for c in trigger.children if c.dep_ == "dative" and ctx.actor_at(c) is not None), None)


def _complement_subject(trigger: Token, rule: Trigger, ctx: DocContext,
                        source: Actor | None = None) -> list[Token] | None:
    """"demanded that the US cancel …", "warned that Iran would …": for a verbal act (demands, accusations,
    rejections, threats, requests) the subject of the that-clause is whom it is aimed at — unless it is the
    act's own author ("agreed that their countries should …")."""
    if not _verbal(rule.type):
        return None
    for clause in trigger.children:
        if clause.dep_ != "ccomp":
            continue
        subject = next((c for c in clause.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        actor = ctx.actor_at(subject) if subject is not None else None
        if subject is not None and actor is not None and not _same_actor(actor, source):
            return _with_conjuncts(subject)
    return None


def _coordinated_modifiers(head: Token, ctx: DocContext) -> list[Actor]:
    """"Hungarian and Romanian officials": one actor per coordinated nationality on the same head noun."""
    found = []
    for modifier in head.children:
        if modifier.dep_ not in ("amod", "compound") or modifier.ent_type_ not in ("NORP", "GPE"):
            continue
        for other in _with_conjuncts(modifier)[1:]:
            if other.ent_type_ in ("NORP", "GPE"):
                actor = ctx.actors.resolve(f"{other.text} {head.text}", context_country=ctx.main_country3)
                if actor is not None:
                    found.append(actor.model_copy(update={"span": token_span(head.doc, other.i, other.i + 1)}))
    return found


def _first_pobj(token: Token, rule: Trigger) -> list[Token] | None:
    # A retreat's or deployment's destination ("to Iraq") is where it goes, not whom it targets.
    preps = ("from", "against") if rule.type in codebook().theme_types else _TARGET_PREPS
    for _, pobj in _pobjs(token, preps):
        return _with_conjuncts(pobj)
    return None


def _noun_roles(trigger: Token, ctx: DocContext, cues: Cues, rule: Trigger) -> _Roles:
    roles = _Roles()
    by = next((p for _, p in _pobjs(trigger, ("by",))), None)
    owner = next((c for c in trigger.children if c.dep_ == "poss"), None)
    for candidate in (by, owner):
        if candidate is not None and roles.source is None:
            roles.source = ctx.actor_at(candidate)
    if roles.source is None:
        for child in trigger.children:
            if child.dep_ in ("amod", "compound", "nmod") and (child.ent_type_ in ("NORP", "GPE", "ORG")):
                roles.source = ctx.actor_at(child)
                if roles.source is not None:
                    break
    if roles.source is None and trigger.dep_ in _LIGHT_NOUN_GOVERNORS_DEPS and trigger.head.pos_ in ("VERB", "AUX"):
        subj = _subject(trigger.head, cues)
        if subj is not None:
            roles.source = ctx.actor_at(subj)
    of = next((p for _, p in _pobjs(trigger, ("of",))), None)
    if of is not None and rule.type in codebook().theme_types:
        theme = ctx.actor_at(of)
        if roles.source is None:
            roles.source = theme
        roles.theme = of
    elif of is not None:
        roles.target_tokens = _with_conjuncts(of)
    if roles.target_tokens is None:
        roles.target_tokens = _first_pobj(trigger, rule)
    if rule.type == "PROTEST" and not _names_actor(roles.target_tokens, ctx, roles.source):
        # "continued their hunger strike to demand …": the demand hangs on the noun or on its light verb.
        governor = trigger.head if trigger.dep_ in _LIGHT_NOUN_GOVERNORS_DEPS else None
        roles.target_tokens = (_demand_target(trigger, ctx, roles.source)
                               or (_demand_target(governor, ctx, roles.source) if governor is not None else None)
                               or roles.target_tokens)
    return roles


# --- place and time -----------------------------------------------------------------------------

def _own_places(trigger: Token, ctx: DocContext, skip: set[int]) -> list[tuple[Place, Token]]:
    """Places in the trigger's own phrase: its locative prepositions, then those of its object/theme."""
    heads = [trigger] + [c for c in trigger.children if c.dep_ in ("dobj", "nsubjpass", "pobj")]
    # "the capture of Homs": the of-object's places; not an of-clause's ("accused X of bombing a school in Y").
    heads += [g for c in trigger.children if c.dep_ == "prep" and c.lower_ == "of" for g in c.children
              if g.dep_ != "pcomp"]
    for prep in _LOCATIVE:
        for head in heads:
            for _, pobj in _pobjs(head, (prep,)):
                found = [(p, t) for t in _with_conjuncts(pobj) if t.i not in skip and (p := _place_in(t, ctx))]
                if found:
                    return found
    return []


def _place_in(token: Token, ctx: DocContext) -> Place | None:
    """The place a token names, also through "the port of Latakia" / "cities like Aleppo"."""
    found = _places_in(token, ctx)
    return found[0][0] if found else None


def _places_in(token: Token, ctx: DocContext) -> list[tuple[Place, Token]]:
    """Places a token names, with their conjuncts ("cities like Aleppo and Hama" → two)."""
    place = ctx.place_at(token)
    if place is not None:
        return [(place, token)]
    for _, pobj in _pobjs(token, ("of", "like", "including", "such")):
        found = [(p, t) for t in _with_conjuncts(pobj) if (p := ctx.place_at(t)) is not None]
        if found:
            return found
    return []


def _sentence_place(sentence: SpacySpan, trigger: Token, ctx: DocContext,
                    skip: set[int] | frozenset[int] = frozenset(),
                    reporting: frozenset[str] | set[str] = frozenset()) -> tuple[Place, Token] | None:
    """Nearest place in the sentence (cities before countries), for events whose own phrase names none;
    ``skip``: tokens already taken as the event's actors ("accused Israel": Israel is a party, not the scene)."""
    best: tuple[int, Place, Token] | None = None
    # A place inside a clause the trigger governs belongs to that clause's act, not to the trigger's:
    # "accused Israel of bombing a school in Rafah", "denied that troops entered Kidal".
    # (A "…, officials said" clause the parser hung under the trigger is the attribution, not an act.)
    embedded = {t.i for c in trigger.children if c.dep_ in _CLAUSE_DEPS and c.lemma_.lower() not in reporting
                for t in c.subtree}
    embedded |= {t.i for c in trigger.children if c.dep_ == "prep" for g in c.children if g.dep_ == "pcomp"
                 for t in g.subtree}
    for token in sentence:
        if token.i in embedded or token.i in skip:
            continue
        if token.i > sentence.start and ctx.place_at(token.doc[token.i - 1]) is ctx.place_at(token):
            continue  # not the first token of its place mention
        place = ctx.place_at(token)
        if place is None or token.dep_ in ("nsubj", "nsubjpass", "poss", "agent") or (
            token.dep_ == "pobj" and token.head.lower_ in ("like", "unlike", "than")
        ):
            continue  # "Tehran has used Syria …": a capital as subject is an actor, not the scene
        rank = abs(token.i - trigger.i) + (50 if place.feature == "country" else 0)
        if best is None or rank < best[0]:
            best = (rank, place, token)
    return (best[1], best[2]) if best else None


def _event_time(trigger: Token, sentence: SpacySpan, ctx: DocContext, tense: str | None,
                reporting: frozenset[str] | set[str] = frozenset()) -> When:
    mentions = ctx.times.get(sentence.start, [])
    dated = [m for m in mentions if m.kind != "duration"]
    # "…, the minister said on Saturday": the day of the statement, not of the act it reports. It bounds the
    # act (on or before that day) but does not date it.
    speech = [m for m in dated if _dates_speech(m, trigger, reporting)]
    dated = [m for m in dated if m not in speech]
    if not dated:
        if speech:
            said = ctx.resolve_time(speech[0], None)
            if said is not None and said.end is not None and said.start is not None:
                if tense == "future":  # "will withdraw, he said on Monday": on or after that day
                    return When(start=said.start, granularity="range", anchor=said.anchor, span=said.span)
                return When(end=said.end, granularity="range", anchor=said.anchor, span=said.span)
        return When()
    own = _own_subtree_chars(trigger)
    mine = [m for m in dated if any(s <= m.start < e for s, e in own)]
    pick: TimeMention | None = None
    if mine:
        pick = min(mine, key=lambda m: abs(m.start - trigger.idx))
    else:
        pick = min(dated, key=lambda m: abs(m.start - trigger.idx))
    return ctx.resolve_time(pick, tense) or When()


def _dates_speech(mention: TimeMention, trigger: Token, reporting: frozenset[str] | set[str]) -> bool:
    """Whether a time expression belongs to a reporting verb other than the trigger ("said on Saturday")."""
    span = trigger.doc.char_span(mention.start, mention.end, alignment_mode="expand")
    if span is None:
        return False
    head = span.root
    for _ in range(4):
        if head.i == trigger.i or head.head.i == head.i and head.pos_ not in ("VERB", "AUX"):
            return False
        if head.pos_ in ("VERB", "AUX"):
            return head.lemma_.lower() in reporting   # (the trigger itself returned False above)
        head = head.head
    return False


def _own_subtree_chars(trigger: Token) -> list[tuple[int, int]]:
    """Char ranges of the trigger's own clause: its subtree minus embedded clauses of other events."""
    blocked: set[int] = set()
    for child in trigger.children:
        if child.dep_ in ("ccomp", "relcl") or (child.dep_ == "advcl" and any(c.dep_ == "mark" for c in child.children)):
            blocked |= {t.i for t in child.subtree}
    head = trigger
    # Aspectual/control governors share the trigger's adjuncts ("began leaving Syria on Friday").
    while head.dep_ in ("xcomp",) and head.head.i != head.i:
        head = head.head
    tokens = [t for t in head.subtree if t.i not in blocked]
    return [(t.idx, t.idx + len(t)) for t in tokens]


# --- assembling events --------------------------------------------------------------------------

@dataclass(frozen=True)
class Sentence:
    """One sentence as the event coder reads it: the parse, its number, and who speaks over which tokens."""

    span: SpacySpan
    number: int
    attributions: list[Attribution]


@dataclass(frozen=True)
class Coding:
    """What coding every sentence of one document reads, the same for each: the document's names
    (:class:`tidings.stages.mentions.DocContext`), the cue lists, the article's own attribution chain, and how the
    events are stamped (coder name, document id). Built once per document by the events component."""

    ctx: DocContext
    cues: Cues
    doc_chain: list[Source]
    coder: str
    doc_id: str
    intent_lemmas: frozenset[str] = frozenset()


def code_sentence(sentence: Sentence, coding: Coding, triggers: TriggerTable) -> list[Event]:
    """All events of one sentence."""
    events: list[Event] = []
    consumed: set[int] = set()
    cues = coding.cues
    for token in sentence.span:
        if token.i in consumed or token.dep_ == "compound":
            continue
        rule = triggers.match(token)
        if rule is None or _purpose_of_speech(token, cues) or _non_agent(token, cues) or _inside_name(token):
            continue
        rule = triggers.refine(token, rule)
        if rule.object is not None:
            consumed |= {o.i for o in _objects(token)}
        events.extend(_events_for(token, rule, sentence, coding))
    return events


def _non_agent(token: Token, cues: Cues) -> bool:
    """"An earthquake killed 20": a disaster, not an event between actors."""
    subject = next((c for c in token.children if c.dep_ in ("nsubj", "agent")), None)
    if subject is not None and subject.dep_ == "agent":
        subject = next((g for g in subject.children if g.dep_ == "pobj"), None)
    return subject is not None and subject.lemma_.lower() in cues.non_agent_subjects


def _inside_name(token: Token) -> bool:
    """Trigger words inside an organisation's name ("Rapid Support Forces") are not events."""
    return token.ent_type_ in ("ORG", "PERSON", "WORK_OF_ART", "LAW", "EVENT", "FAC") and token.pos_ == "PROPN"


def _purpose_of_speech(token: Token, cues: Cues) -> bool:
    """"officials said on condition of anonymity to discuss a sensitive issue": why they spoke, not an event."""
    return token.dep_ in ("xcomp", "advcl") and token.head.lemma_.lower() in cues.reporting_verbs


def _events_for(trigger: Token, rule: Trigger, coded: Sentence, coding: Coding) -> list[Event]:
    sentence, number, attributions = coded.span, coded.number, coded.attributions
    ctx, cues, doc_chain, coder, doc_id = coding.ctx, coding.cues, coding.doc_chain, coding.coder, coding.doc_id
    intent_lemmas = coding.intent_lemmas
    is_noun = trigger.pos_ in ("NOUN", "PROPN")
    roles = (_noun_roles if is_noun else _verb_roles)(trigger, ctx, cues, rule)
    # Targets: actors stay targets; places among them become the event's place.
    targets: list[tuple[Actor | None, Place | None, Token | None]] = []
    used: set[int] = set()
    for tok in roles.target_tokens or []:
        places = _places_in(tok, ctx)
        actor = ctx.actor_at(tok)
        if places and places[0][0].feature != "country":
            targets.extend((_country_actor(place), place, place_tok) for place, place_tok in places)
        elif actor is not None:
            # A verbal act aimed at a country ("accused Israel") does not happen in that country.
            targets.append((actor, places[0][0] if places and not _verbal(rule.type) else None, tok))
        used.add(tok.i)
    if not targets:
        targets = [(None, None, None)]
    own = _own_places(trigger, ctx, skip=set())
    if roles.source is None and all(t[0] is None for t in targets):
        return []  # no one did anything to anyone: not codable
    tense = tense_of(trigger, cues)
    when = _event_time(trigger, sentence, ctx, tense, cues.reporting_verbs)
    sentence_chain = chain_for(trigger.i, attributions)
    chain = merge_chains(doc_chain, sentence_chain)
    reported = second_hand(chain, doc_chain)
    modality, modal_cue = modality_of(trigger, cues, when=when, published=ctx.published, reported=reported,
                                      intent_lemmas=intent_lemmas)
    if modality == "future" and when.start is None and when.end is not None and when.granularity == "range":
        # Bounded by the statement's day ("… intends to …, he said on Friday"): a future act comes after it.
        when = when.model_copy(update={"start": when.end, "end": None})
    # One event per coordinated place, when the target itself was a list of places ("captured Homs and Deir ez-Zor").
    expanded: list[tuple[Actor | None, Place | None, Token | None]] = []
    for actor, place, target_tok in targets:
        if place is None and own:
            for own_place, own_tok in own:
                expanded.append((actor, own_place, own_tok))
        else:
            expanded.append((actor, place, target_tok))
    if all(p is None for _, p, _ in expanded):
        fallback = _sentence_place(sentence, trigger, ctx, skip=used, reporting=cues.reporting_verbs)
        if fallback is not None:
            expanded = [(a, fallback[0], fallback[1]) for a, _, _ in expanded]
    events = []
    doc = trigger.doc
    sources = [roles.source, *(roles.co_sources or [])]
    combos = [(src, a, p) for src in sources for a, p, _ in expanded]
    for source, actor, place in combos:
        target = actor
        if source is not None and target is not None and (
            _same_actor(target, source)
            or (rule.type in codebook().theme_types and source.country and source.country == target.country
                and target.kind != "state")
        ):
            target = None
        if target is None and rule.type in codebook().place_target_types and place is not None and place.country3:
            target = _country_actor(place)
        evidence: dict[str, Span] = {
            "trigger": token_span(doc, trigger.i, trigger.i + 1),
            "sentence": Span(start=sentence.start_char, end=sentence.end_char, text=sentence.text),
        }
        if source is not None and source.span is not None:
            evidence["source"] = source.span
        if target is not None and target.span is not None:
            evidence["target"] = target.span
        if place is not None and place.span is not None:
            evidence["place"] = place.span
        if when.span is not None:
            evidence["time"] = when.span
        if modal_cue is not None:
            evidence["modality"] = token_span(doc, modal_cue.i, modal_cue.i + 1)
        for position, link in enumerate(sentence_chain):
            if link.span is not None:
                evidence[f"attribution.{position}"] = link.span
        confidence = _confidence(rule, source, target, place, when, chain)
        events.append(Event(
            id=_event_id(doc_id, trigger.idx, rule.type, place, target, source),
            doc_id=doc_id, type=rule.type, mode=rule.mode, cameo=rule.cameo,
            source_actor=source, target_actor=target, place=place, when=when, modality=modality,
            attribution=chain, confidence=confidence, evidence=evidence, sentence=number, coder=coder,
            why={"rule": f"verbs.jsonl:{rule.row}", "trigger": f"{rule.lemma}/{rule.pos}"} if rule.row else {},
        ))
    return events


def main_verb(sentence: SpacySpan, cues: Cues) -> Token | None:
    """The sentence's main predicate: its root, or what a reporting root reports ("X said troops withdrew")."""
    root = sentence.root
    if root.lemma_.lower() in cues.reporting_verbs:
        reported = next((c for c in root.children if c.dep_ in ("ccomp", "xcomp") and c.pos_ in ("VERB", "AUX")),
                        None)
        if reported is not None:
            root = reported
    return root if root.pos_ in ("VERB", "NOUN", "AUX") else None


def codable(sentence: SpacySpan, ctx: DocContext, cues: Cues) -> bool:
    """Whether :func:`code_as` could give the sentence an event: a main verb with an actor as its subject or
    object. The learned layer judges only such sentences among those the rules left empty (encoding the
    others would cost time for events that could not be coded)."""
    verb = main_verb(sentence, cues)
    if verb is None:
        return False
    for child in verb.children:
        if child.dep_ in ("nsubj", "nsubjpass", "dobj", "dative") and ctx.actor_at(child) is not None:
            return True
        if child.dep_ in ("prep", "agent") and any(g.dep_ == "pobj" and ctx.actor_at(g) is not None
                                                    for g in child.children):
            return True
    return False


def code_as(sentence: Sentence, coding: Coding, type_: str) -> list[Event]:
    """Events of type ``type_`` on the sentence's main verb, with roles, place, date and chain found by the
    rules: how an event the learned layer sees, and no trigger row matched, gets its evidence."""
    verb = main_verb(sentence.span, coding.cues)
    if verb is None:
        return []
    rule = Trigger(lemma=verb.lemma_.lower(), pos=verb.pos_, type=type_, mode=None, cameo=None, particle=None,
                   object=None, not_object=frozenset(), prep=None, weight=0.5)
    return _events_for(verb, rule, sentence, coding)


def retyped(event: Event, type_: str, confidence: float, why: dict[str, Any]) -> Event:
    """``event`` as another PLOVER type (its roles and evidence unchanged; the trigger's mode and CAMEO code
    belonged to the old type)."""
    new_id = _event_id(event.doc_id, event.evidence["trigger"].start if "trigger" in event.evidence else 0, type_,
                       event.place, event.target_actor, event.source_actor)
    return event.model_copy(update={"id": new_id, "type": type_, "mode": None, "cameo": None,
                                    "confidence": confidence, "why": {**event.why, **why}})


def _verbal(type_: str) -> bool:
    return codebook().quad_classes.get(type_) in (1, 3)


def second_hand(chain: list[Source], doc_chain: list[Source]) -> bool:
    """Reported (not asserted): the text relays another outlet's report ("citing The New York Times",
    "NYT reports", "according to Reuters") or unnamed reports ("are reported to"). A primary source speaking
    to the outlet — named or anonymous — is an attributed assertion; its anonymity is flagged on the link."""
    own = doc_chain[0] if doc_chain else None
    for link in chain:
        if link is own:
            continue
        if link.kind in ("outlet", "agency") or link.name == "unnamed sources":
            return True
    return False


def _country_actor(place: Place) -> Actor | None:
    """A captured or attacked town's country stands for the party that held it (CAMEO convention)."""
    if not place.country3:
        return None
    return Actor(code=place.country3, name=place.country3, country=place.country3, kind="state", span=place.span)


def _confidence(rule: Trigger, source: Actor | None, target: Actor | None, place: Place | None, when: When,
                chain: list[Source]) -> float:
    """A coding confidence in [0, 1]: the trigger's reliability, raised by each role that was found."""
    score = 0.45 * rule.weight
    score += 0.2 if source is not None and source.known else 0.1 if source is not None else 0.0
    score += 0.1 if target is not None else 0.0
    score += 0.1 if place is not None else 0.0
    score += 0.1 if when.start is not None else 0.0
    if chain and all(link.anonymous for link in chain[-1:]):
        score -= 0.05
    return round(max(0.05, min(1.0, score + 0.05)), 2)


def _event_id(doc_id: str, char: int, type_: str, place: Place | None, target: Actor | None,
              source: Actor | None) -> str:
    key = (f"{doc_id}:{char}:{type_}:{place.geonameid if place else ''}:{target.code if target else ''}"
           f":{source.code if source else ''}:{source.name if source else ''}")
    return hashlib.sha1(key.encode()).hexdigest()[:16]
