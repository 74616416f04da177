"""How sure, and whether it is news: negated, future, hedged, historical, reported or asserted.

The cues come from ``data/en/cues.json``. They are looked for on the trigger and on the verbs that
govern it up to the nearest reporting verb ("officials said Iran *may withdraw*" is hedged;
"officials *may* say Iran withdrew" is not about the withdrawal). Background history — present
perfect with "long", "throughout the war", "during the height of the civil war", "previously" — is
``historical``: an analyst must never read it as today's news.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from spacy.tokens import Token

from tidings.core.records import Modality, When
from tidings.stages.attribution import Cues

__all__ = ["governors", "modality_of", "tense_of"]

# Dependencies along which a verb's modality reaches the verb it governs.
_CHAIN_DEPS = {"xcomp", "ccomp", "advcl", "conj", "dobj", "pobj", "prep", "acl", "pcomp", "nsubj", "attr", "oprd"}
#: Cues found above the trigger do not make an event historical when its own date is this recent.
RECENT = dt.timedelta(days=31)
_DURATION_NOUNS = frozenset({"year", "decade", "month", "century", "generation"})
#: An event dated this long before publication is background, whatever the grammar says.
HISTORICAL_AGE = dt.timedelta(days=365)


def governors(trigger: Token, cues: Cues) -> Iterator[Token]:
    """The trigger, then each head above it, stopping at a reporting verb or the sentence root.

    Accusation verbs are climbed through: "accused X of arming Y" makes the arming an allegation.
    """
    token = trigger
    seen = 0
    while seen < 8:
        yield token
        if token.dep_ == "ROOT" or token.head.i == token.i:
            return
        if token.dep_ not in _CHAIN_DEPS:
            return
        if token.dep_ == "advcl" and any(c.dep_ == "mark" and c.lower_ not in cues.conditional_markers
                                         for c in token.children):
            return  # "… after rebels captured Homs": a subordinate clause is an event of its own
        if token.dep_ == "conj" and any(c.dep_ in ("nsubj", "nsubjpass") for c in token.children):
            return  # a coordinated clause with its own subject keeps its own modality
        head = token.head
        lemma = head.lemma_.lower()
        if head.pos_ in ("VERB", "AUX") and lemma in cues.reporting_verbs and lemma not in cues.accusation_verbs:
            if lemma in cues.negating_verbs or lemma in cues.hedging_speech:
                yield head  # "denied that its soldiers had executed civilians", "claimed that …"
            return
        token = head
        seen += 1


def tense_of(trigger: Token, cues: Cues) -> str | None:
    """"future", "past", "present" or None, from the auxiliaries of the trigger's clause."""
    for token in governors(trigger, cues):
        if token.pos_ not in ("VERB", "AUX"):
            continue
        auxes = [c for c in token.children if c.dep_ in ("aux", "auxpass")]
        lowers = {a.lower_ for a in auxes}
        if lowers & cues.future_words or (token is not trigger and token.lemma_.lower() in cues.future_verbs):
            return "future"
        if token.tag_ in ("VBD", "VBN") or lowers & {"did", "was", "were", "had", "has", "have"}:
            return "past"
        if token.tag_ in ("VBZ", "VBP", "VBG"):
            return "present"
    return None


def modality_of(
    trigger: Token,
    cues: Cues,
    *,
    when: When | None,
    published: dt.date | None,
    reported: bool,
    intent_lemmas: frozenset[str] = frozenset(),
) -> tuple[Modality, Token | None]:
    """The modality of the event at ``trigger`` and the token that decided it (for evidence)."""
    chain = list(governors(trigger, cues))
    for token in chain[1:]:
        if token.lemma_.lower() in intent_lemmas and token.pos_ in ("VERB", "AUX") and not _negated(chain, cues)[0]:
            return "future", token  # "urged allies to supply", "called on X to withdraw": asked for, not done
    recent = (
        when is not None and published is not None and when.start is not None
        and published - RECENT <= when.start <= published + RECENT
    )
    for check in (_negated, _historical, _future, _hedged):
        modality, cue = check(chain, cues)
        if modality is None:
            continue
        if modality == "historical" and recent and cue is not None and cue.head.i != trigger.i:
            continue
        return modality, cue
    if when is not None and published is not None and when.start is not None:
        old_start = when.start < published - HISTORICAL_AGE
        old_end = when.end is not None and when.end < published - HISTORICAL_AGE
        if old_end or (old_start and any(_perfect(t) for t in chain)):
            return "historical", None  # dated long ago, or "have fought three wars since 1947"
    return ("reported" if reported else "asserted"), None


def _negated(chain: list[Token], cues: Cues) -> tuple[Modality | None, Token | None]:
    for token in chain:
        for child in token.children:
            if child.dep_ == "neg" or (child.dep_ in ("advmod", "det") and child.lower_ in cues.negation_words):
                return "negated", child
        if token is not chain[0] and token.lemma_.lower() in cues.negating_verbs:
            return "negated", token
        if token.lemma_.lower() in cues.negating_nouns:
            return "negated", token
    return None, None


def _future(chain: list[Token], cues: Cues) -> tuple[Modality | None, Token | None]:
    for token in chain:
        subject = next((c for c in token.children if c.dep_ == "nsubj"), None)
        if subject is not None and subject.lemma_.lower() in cues.future_nouns:
            return "future", subject  # "the goal of the rebels remains the overthrow of …"
        for child in token.children:
            if child.dep_ in ("aux", "auxpass") and child.lower_ in cues.future_words:
                return "future", child
        if token is not chain[0] and token.lemma_.lower() in cues.future_verbs:
            return "future", token
        if token is not chain[0] and token.pos_ == "ADJ" and token.lemma_.lower() in cues.future_adjectives:
            return "future", token   # "is willing to withdraw", "ready to talk": not done yet
    return None, None


def _hedged(chain: list[Token], cues: Cues) -> tuple[Modality | None, Token | None]:
    for token in chain:
        if token is not chain[0] and token.lemma_.lower() in cues.accusation_verbs:
            return "hedged", token  # "accused Russia of targeting civilians": an allegation
        for child in token.children:
            if child.dep_ == "mark" and child.lower_ in cues.conditional_markers:
                return "hedged", child  # "if Damascus falls": hypothetical
        for child in token.children:
            if child.dep_ in ("aux", "advmod") and child.lower_ in cues.hedge_words:
                return "hedged", child
        if token is not chain[0] and (token.lemma_.lower() in cues.hedge_verbs
                                      or token.lemma_.lower() in cues.hedging_speech):
            return "hedged", token
    return None, None


def _historical(chain: list[Token], cues: Cues) -> tuple[Modality | None, Token | None]:
    """Background: a historical adverb or phrase on the trigger's clause, or a perfect-tense clause in a
    sentence that has such a cue elsewhere ("Iran has long sent advisors …, and Tehran has also
    supported …"; "whose government Iran has supported throughout the war, … which has used Syria …")."""
    for token in chain:
        cue = _historical_cue(token, cues)
        if cue is not None:
            return "historical", cue
    if any(_perfect(token) for token in chain):
        for token in chain[0].sent:
            cue = _historical_cue(token, cues)
            if cue is not None:
                return "historical", cue
    return None, None


def _historical_cue(token: Token, cues: Cues) -> Token | None:
    for child in token.children:
        if child.dep_ == "advmod" and child.lower_ in cues.historical_adverbs and (
                child.lower_ != "long" or _perfect(token)):
            return child
        if child.dep_ == "prep" and child.lower_ in cues.historical_preps:
            # "for years", "over decades" are background; "for a possible war" is a purpose, not history.
            nouns = _DURATION_NOUNS if child.lower_ in ("for", "over") else cues.historical_nouns
            if any(t.lemma_.lower() in nouns for t in child.subtree):
                return child
        if child.lower_ == "used" and child.dep_ in ("aux", "advcl"):
            return child
    return None


def _perfect(token: Token) -> bool:
    return any(c.dep_ == "aux" and c.lemma_ == "have" for c in token.children) and token.tag_ == "VBN"
