"""Stated intentions and refusals, coded as strict PLOVER codes them (``plover.json: intent_recode``).

"Farc said it will release the sergeant" reports no release: it reports Farc's *promise* — PLOVER's AGREE (CAMEO
03, "express intent to cooperate"). "The government will extend the curfew" is a THREATEN (CAMEO 13) and "France
will not lift the ban" a REJECT (CAMEO 12, "refuse to yield"). The rule coder finds the act ("release", "extend
the curfew", "lift") with a future or negated modality; this step, run after the learned layer, recodes it when
the act is its own party's commitment or refusal:

* a future act whose cue is an auxiliary of its own clause ("will", "would"), a verb of decision governing it
  ("decided to withdraw") or an adjective of readiness ("is willing to withdraw") — not a request of others
  ("urged Iran to withdraw": the request is the event) nor an expectation ("is expected to meet");
* a negated act whose cue is a verb of refusal ("refused to", "failed to") or a negation of a future clause
  ("will not lift"). Denials ("denied that its jets struck the school") keep their type: they are claims that an
  act did not happen, and across articles they contradict reports that it did.

The recoded event keeps its trigger, roles, place and evidence; the statement itself happened, so its modality
is ``asserted`` (or ``reported`` when it was relayed from another outlet). What was promised or refused stays
in ``why["intended"]`` (type, mode, modality), so nothing the rules found is lost.
``Settings.strict_plover = False`` (``TIDINGS_STRICT_PLOVER=0``) keeps the acts with their modality instead.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from spacy.tokens import Doc, Token

from tidings.core.codebook import read_plover
from tidings.core.records import Event, Source
from tidings.core.settings import LANGUAGE_DIR
from tidings.stages.attribution import Cues
from tidings.stages.events import retyped, second_hand
from tidings.stages.modality import governors

__all__ = ["IntentRules", "intent_rules", "recode_intentions"]


@dataclass(frozen=True)
class IntentRules:
    commit: Mapping[str, tuple[str, str | None]]       # act type -> (type, mode) of committing to it
    commit_modes: Mapping[str, str]                     # "TYPE/mode" of the act -> mode of the THREATEN
    refuse: Mapping[str, tuple[str, str | None]]       # act type -> (type, mode) of refusing it
    auxiliaries: frozenset[str]
    verbs: frozenset[str]
    adjectives: frozenset[str]
    refusal_verbs: frozenset[str]


@functools.lru_cache(maxsize=4)
def intent_rules(data_dir: Path | None = None) -> IntentRules:
    """The rules of ``plover.json`` (types) and ``cues.json`` (words) in ``data_dir`` (default: the package's)."""
    plover = read_plover(None if data_dir is None else Path(data_dir) / "plover.json")["intent_recode"]
    cues_path = (Path(data_dir) if data_dir is not None else LANGUAGE_DIR) / "cues.json"   # words: data/<lang>/
    words = json.loads(cues_path.read_text("utf-8"))["intent"]

    def pairs(table: Mapping[str, Sequence[str | None]]) -> dict[str, tuple[str, str | None]]:
        return {act: (str(to[0]), to[1]) for act, to in table.items()}

    return IntentRules(commit=pairs(plover["commit"]), commit_modes=dict(plover.get("commit_modes", {})),
                       refuse=pairs(plover["refuse"]), auxiliaries=frozenset(words["auxiliaries"]),
                       verbs=frozenset(words["verbs"]), adjectives=frozenset(words["adjectives"]),
                       refusal_verbs=frozenset(words["refusal_verbs"]))


def recode_intentions(doc: Doc, events: list[Event], cues: Cues, doc_chain: list[Source],
                      rules: IntentRules | None = None) -> list[Event]:
    """``events`` with each committed or refused act recoded (see the module docstring). An act whose
    commitment the sentence already codes as an event of its own ("pledged to withdraw": AGREE on "pledged")
    is left as it is: the promise is there once."""
    rules = rules or intent_rules()
    triggers = {(e.sentence, e.evidence["trigger"].start) for e in events if "trigger" in e.evidence}
    out = []
    for event in events:
        recoded = _recoded(doc, event, cues, rules, triggers, doc_chain)
        out.append(event if recoded is None else recoded)
    return out


def _recoded(doc: Doc, event: Event, cues: Cues, rules: IntentRules, triggers: set[tuple[int, int]],
             doc_chain: list[Source]) -> Event | None:
    if event.modality not in ("future", "negated") or "trigger" not in event.evidence:
        return None
    table = rules.commit if event.modality == "future" else rules.refuse
    if event.type not in table:
        return None
    trigger = _token_at(doc, event.evidence["trigger"].start)
    cue = _token_at(doc, event.evidence["modality"].start) if "modality" in event.evidence else None
    if trigger is None:
        return None
    chain = list(governors(trigger, cues))
    decided_by = (_commitment(chain, cue, rules) if event.modality == "future"
                  else _refusal(chain, cue, rules))
    if decided_by is None or (decided_by is not trigger and (event.sentence, decided_by.idx) in triggers):
        return None
    type_, mode = table[event.type]
    if event.modality == "future" and type_ == "THREATEN":
        mode = rules.commit_modes.get(f"{event.type}/{event.mode}", mode)
    intended = {"type": event.type, "mode": event.mode, "modality": event.modality,
                "cue": decided_by.text}
    out = retyped(event, type_, event.confidence, {"intended": intended})
    modality = "reported" if second_hand(event.attribution, doc_chain) else "asserted"
    return out.model_copy(update={"mode": mode, "modality": modality})


def _commitment(chain: list[Token], cue: Token | None, rules: IntentRules) -> Token | None:
    """The token that makes the future act its party's commitment, or None (a request, an expectation)."""
    if cue is None:
        return None
    if cue.lower_ in rules.auxiliaries and cue.dep_ in ("aux", "auxpass") and cue.head in chain:
        return cue
    for token in chain[1:]:
        lemma = token.lemma_.lower()
        if (token.pos_ in ("VERB", "AUX") and lemma in rules.verbs) or (token.pos_ == "ADJ" and lemma in rules.adjectives):
            return token
        if token.pos_ in ("VERB", "AUX") and token is not cue:
            break   # another verb between the act and the cue: the cue is not the act's own
    return None


def _refusal(chain: list[Token], cue: Token | None, rules: IntentRules) -> Token | None:
    """The token that makes the negated act a refusal by its party, or None (a denial, a plain negation)."""
    if cue is None:
        return None
    if cue.lemma_.lower() in rules.refusal_verbs and cue.pos_ in ("VERB", "AUX"):
        return cue
    if cue.dep_ == "neg" and any(c.dep_ in ("aux", "auxpass") and c.lower_ in rules.auxiliaries
                                 for c in cue.head.children):
        return cue
    return None


def _token_at(doc: Doc, char: int) -> Token | None:
    span = doc.char_span(char, char + 1, alignment_mode="expand")
    return span[0] if span is not None and len(span) else None
