"""Casualty figures as event data: "at least 12 people were killed", "killing three", "the death toll rose to 15".

A figure is a number (digits, words, "a dozen", "dozens", a range "10 to 15") with an optional qualifier ("at
least", "more than", "about", "up to") that counts *people* who were killed, injured, missing or arrested. It
belongs to an event of the same sentence: the one whose trigger is nearest to the figure's casualty word in
the dependency tree. Figures cross no temporal connective to reach an event ("marched a week after police
killed 12": the 12 are another event's), and running or historical totals ("since 2011 more than 500,000 have
died") are kept but marked ``background``, never the event's count.

Why token matching over spaCy's parse and not a library: quantity parsers (``quantulum3``, ``number-parser``)
read numbers but not what they count, and the hard part here is the link from a number to a casualty word and
an event; the parse already made by the pipeline gives the tokens, entity labels (DATE, MONEY, PERCENT ...)
and the dependency paths, so this stage is a cheap scan over the sentences that have events. The words are
data (``data/en/casualties.json``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spacy.tokens import Doc, Token
from spacy.tokens import Span as SpacySpan

from tidings.core.records import Casualty, Event, Span
from tidings.core.settings import LANGUAGE_DIR

__all__ = ["CasualtyRules", "attach_casualties", "find_figures", "load_rules"]

#: Entity labels of numbers that never count people: times, sums of money, percentages, ordinals, measures.
#: Not DATE: the model tags "between 10 and 15" as one; years are told by their shape (_YEAR).
_NOT_COUNTS = frozenset({"TIME", "MONEY", "PERCENT", "ORDINAL", "QUANTITY"})
_DIGITS = re.compile(r"^\d{1,3}(?:,\d{3})+$|^\d+$")
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")


@dataclass(frozen=True)
class CasualtyRules:
    """``data/en/casualties.json`` made ready for matching: phrases as tuples of lower-case token texts."""

    numbers: dict[tuple[str, ...], int]
    multipliers: dict[str, int]
    vague: dict[tuple[str, ...], int]
    qualifiers: dict[tuple[str, ...], str]
    range_links: frozenset[str]
    after: dict[tuple[str, ...], str]     # words after a figure: "were killed", "dead", "deaths"
    before: dict[tuple[str, ...], str]    # words before a figure: "killing", "injuring"
    tolls: dict[tuple[str, ...], str]
    toll_links: frozenset[str]
    bridge: frozenset[str]
    people: frozenset[str]
    background: re.Pattern[str]
    other_event_links: frozenset[str]


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(text.lower().split())


@functools.cache
def load_rules(data_dir: Path = LANGUAGE_DIR) -> CasualtyRules:
    """Read ``casualties.json`` (see ``data/README.md``)."""
    data = json.loads((data_dir / "casualties.json").read_text("utf-8"))
    after: dict[tuple[str, ...], str] = {}
    before: dict[tuple[str, ...], str] = {}
    for kind, words in data["kinds"].items():
        after.update((_phrase(w), kind) for w in words.get("after", []))
        before.update((_phrase(w), kind) for w in words.get("before", []))
    bg = data["background"]
    alternatives = [re.escape(p) for p in bg.get("phrases", [])]
    if bg.get("since_year"):
        alternatives.append(r"since (?:\w+ )?(?:1[89]|20)\d\d\b")
    if bg.get("past_units"):
        units = "|".join(re.escape(u) for u in bg["past_units"])
        alternatives.append(rf"(?:over|in|during) the (?:past|last) (?:\w+ )?(?:{units})\b")
    return CasualtyRules(
        numbers={_phrase(k): int(v) for k, v in data["numbers"].items()},
        multipliers={k.lower(): int(v) for k, v in data["multipliers"].items()},
        vague={_phrase(k): int(v) for k, v in data["vague"].items() if k != "why"},
        qualifiers={_phrase(k): v for k, v in data["qualifiers"].items() if k != "why"},
        range_links=frozenset(data["range_links"]),
        after=after, before=before,
        tolls={_phrase(k): v for k, v in data["tolls"].items() if k != "why"},
        toll_links=frozenset(data["toll_links"]),
        bridge=frozenset(data["bridge"]["words"]),
        people=frozenset(w.lower() for w in data["people"]["nouns"]),
        background=re.compile(r"\b(?:" + "|".join(alternatives) + r")", re.IGNORECASE),
        other_event_links=frozenset(data["other_event_links"]["words"]),
    )


@dataclass(frozen=True)
class Figure:
    """A casualty figure found in a sentence, before it is attached to an event."""

    kind: str
    low: int | None
    high: int | None
    qualifier: str
    start: int           # token range of the evidence (qualifier, number, up to the casualty word)
    end: int
    anchor: int          # token index of the casualty word (or the toll noun): where the event is looked for
    background: bool


@dataclass(frozen=True)
class _Quantity:
    start: int   # first token (the qualifier's, if any)
    end: int     # after the last number token
    low: int | None
    high: int | None
    qualifier: str


def _match(words: Sequence[str], i: int, table: dict[tuple[str, ...], str] | dict[tuple[str, ...], int],
           ) -> tuple[int, tuple[str, ...]] | None:
    """The longest phrase of ``table`` starting at ``words[i]``: (its length, the phrase)."""
    best = None
    for phrase in table:
        n = len(phrase)
        if tuple(words[i:i + n]) == phrase and (best is None or n > best[0]):
            best = (n, phrase)
    return best


def _number(tokens: Sequence[Token], words: Sequence[str], i: int, rules: CasualtyRules,
            ) -> tuple[int, int, bool] | None:
    """A number starting at token ``i``: (its end, its value, vague?). Digits (``1,200``), words
    (``twenty-five``, ``two hundred``, ``a dozen``) and vague plurals (``dozens``, ``tens of thousands``)."""
    if i >= len(tokens):
        return None
    token = tokens[i]
    if token.ent_type_ in _NOT_COUNTS:
        return None
    vague = _match(words, i, rules.vague)
    if vague is not None:
        return i + vague[0], rules.vague[vague[1]], True
    word = words[i]
    value: int | None = None
    end = i + 1
    if _DIGITS.match(word):
        if _YEAR.match(word):
            return None          # a year, not a count ("killed in 2024")
        value = int(word.replace(",", ""))
    else:
        found = _match(words, i, rules.numbers)
        if found is None:
            return None
        value, end = rules.numbers[found[1]], i + found[0]
        # twenty-five / twenty five
        if value >= 20 and value % 10 == 0 and len(found[1]) == 1:
            j = end + 1 if end < len(words) and words[end] == "-" else end
            unit = rules.numbers.get((words[j],)) if j < len(words) else None
            if unit is not None and unit < 10:
                value, end = value + unit, j + 1
    if end < len(words) and words[end] in rules.multipliers:   # "two hundred", "3 million", "two dozen"
        value, end = value * rules.multipliers[words[end]], end + 1
    return end, value, False


def _quantity(tokens: Sequence[Token], words: Sequence[str], i: int, rules: CasualtyRules) -> _Quantity | None:
    """A figure starting at token ``i``: qualifier, number, optional range (``10 to 15``, ``between 10 and 15``)."""
    qualifier = "exact"
    j = i
    found = _match(words, i, rules.qualifiers)
    between = words[i] == "between"
    if found is not None:
        qualifier, j = rules.qualifiers[found[1]], i + found[0]
    elif between:
        j = i + 1
    first = _number(tokens, words, j, rules)
    if first is None:
        return None
    end, value, vague = first
    if j > 0 and tokens[j - 1].text in ("$", "€", "£", "#", "No.", "no.") :
        return None    # money, a rank or a house number
    if end < len(words) and words[end] == "-" and not (end + 1 < len(words) and _DIGITS.match(words[end + 1])):
        return None    # "a 25-year-old", "a 12-hour curfew": a compound, not a count
    low: int | None = value
    high: int | None = None if vague else value
    # range: "10 to 15", "10-15", "10 or 12", "between 10 and 15"
    link = words[end] if end < len(words) else ""
    if (link in rules.range_links or (between and link == "and")) and not vague:
        second = _number(tokens, words, end + 1, rules)
        if second is not None and second[1] > value:
            return _Quantity(i, second[0], value, second[1], "range")
    if vague:
        return _Quantity(i, end, low, None, "vague")
    if qualifier == "at_least":
        high = None
    elif qualifier == "more_than":
        low, high = value + 1, None
    elif qualifier == "up_to":
        low = None
    elif qualifier == "fewer_than":
        low, high = None, value - 1
    return _Quantity(i, end, low, high, qualifier)


def _is_person(token: Token, rules: CasualtyRules) -> bool:
    return (token.lower_ in rules.people or token.lemma_.lower() in rules.people or token.ent_type_ == "NORP"
            or token.pos_ == "PRON")


def _after(tokens: Sequence[Token], words: Sequence[str], q: _Quantity, rules: CasualtyRules,
           ) -> tuple[str, int, int] | None:
    """``Q [people] [were] killed``, ``Q dead``, ``Q deaths``: (kind, end of evidence, anchor token)."""
    k = q.end
    noun: Token | None = None
    seen = 0
    while k < len(tokens) and seen < 5:   # the counted noun phrase: "Palestinian children", "of them", "more"
        found = _match(words, k, rules.after)
        if found is not None and (noun is None or _is_person(noun, rules)):
            kind = rules.after[found[1]]
            return kind, k + found[0], k + found[0] - 1
        t = tokens[k]
        if t.pos_ in ("ADJ", "NOUN", "PROPN", "PRON") or words[k] in ("of", "the", "whom", "those"):
            if t.pos_ in ("NOUN", "PROPN", "PRON"):
                noun = t
            k += 1
            seen += 1
            continue
        break
    if noun is not None and not _is_person(noun, rules):
        return None
    seen = 0
    while k < len(tokens) and seen < 4:
        found = _match(words, k, rules.after)
        if found is not None:
            return rules.after[found[1]], k + found[0], k + found[0] - 1
        if words[k] not in rules.bridge:
            return None
        k += 1
        seen += 1
    return None


def _by_dependency(tokens: Sequence[Token], q: _Quantity, rules: CasualtyRules,
                   ) -> tuple[str, int, int, int] | None:
    """What the surface patterns miss, read off the parse: "killed a teacher and two children" (the counted
    noun a conjunct of the object), "12 people, including three children, were killed" (a clause between).
    (kind, start and end of evidence, anchor token): the evidence runs from the figure and its counted noun
    to the kind verb."""
    number = tokens[q.end - 1]
    noun = number.head if number.dep_ in ("nummod", "quantmod", "compound") else number
    counted = noun
    if not _is_person(noun, rules) and noun.i != number.i:
        return None
    while noun.dep_ == "conj" and noun.head.i != noun.i:
        noun = noun.head
    verb = noun.head
    if noun.dep_ in ("dobj", "obj"):
        kind = rules.before.get((verb.lower_,))
    elif noun.dep_ in ("nsubjpass", "nsubj"):
        kind = rules.after.get((verb.lower_,))
    else:
        return None
    first = tokens[0].i
    if kind is None or not (first <= verb.i < first + len(tokens)) or not (first <= counted.i < first + len(tokens)):
        return None
    anchor = verb.i - first
    return kind, min(q.start, anchor), max(q.end, counted.i - first + 1, anchor + 1), anchor


def _counts_people(tokens: Sequence[Token], q: _Quantity, rules: CasualtyRules) -> bool:
    """The figure has no noun, or its noun (within the next few tokens) is a person noun."""
    k = q.end
    while k < len(tokens) and k < q.end + 4:
        t = tokens[k]
        if t.pos_ in ("NOUN", "PROPN"):
            if _is_person(t, rules):
                return True
            if t.pos_ == "NOUN" and (k + 1 >= len(tokens) or tokens[k + 1].pos_ not in ("NOUN", "PROPN")):
                return False   # the head of the figure's noun phrase counts something else
        elif t.pos_ not in ("ADJ", "DET") and t.lower_ != "of":
            return True   # no noun: "killing three on Monday"
        k += 1
    return True


def _before(tokens: Sequence[Token], words: Sequence[str], q: _Quantity, rules: CasualtyRules,
            ) -> tuple[str, int, int] | None:
    """``killing Q [people]``, ``the death toll rose to Q``: (kind, start of evidence, anchor token)."""
    for n in range(1, 4):   # a verb phrase of up to three words right before the figure
        start = q.start - n
        if start < 0:
            break
        phrase = tuple(words[start:q.start])
        kind = rules.before.get(phrase)
        if kind is not None and _counts_people(tokens, q, rules):
            return kind, start, q.start - 1
    k = q.start - 1
    steps = 0
    while k >= 0 and steps < 6 and words[k] in rules.toll_links:   # "toll has risen to", "toll stands at"
        k -= 1
        steps += 1
    for n in (3, 2, 1):
        start = k - n + 1
        if start >= 0 and tuple(words[start:k + 1]) in rules.tolls and _counts_people(tokens, q, rules):
            return rules.tolls[tuple(words[start:k + 1])], start, k
    return None


def find_figures(sentence: SpacySpan, rules: CasualtyRules | None = None) -> list[Figure]:
    """Every casualty figure in ``sentence`` (token indexes are the doc's)."""
    rules = rules or load_rules()
    tokens = list(sentence)
    words = [t.lower_ for t in tokens]
    base = sentence.start
    out: list[Figure] = []
    i = 0
    while i < len(tokens):
        q = _quantity(tokens, words, i, rules)
        if q is None:
            i += 1
            continue
        found = _after(tokens, words, q, rules)
        behind = _before(tokens, words, q, rules) if found is None else None
        if found is not None:
            kind, end, anchor = found
            start = q.start
        elif behind is not None:
            kind, start, anchor = behind
            end = q.end
        else:
            parsed = _by_dependency(tokens, q, rules)
            if parsed is None:
                i = q.end
                continue
            kind, start, end, anchor = parsed
        out.append(Figure(kind, q.low, q.high, q.qualifier, base + start, base + end, base + anchor,
                          _is_background(tokens[anchor - 0] if anchor < len(tokens) else tokens[-1], rules)))
        i = max(q.end, end)
    return out


def _clause(token: Token) -> Token:
    """The head of the clause ``token`` is in: itself if a verb, else its nearest verb ancestor."""
    while token.pos_ not in ("VERB", "AUX") and token.head.i != token.i:
        token = token.head
    return token


def _is_background(anchor: Token, rules: CasualtyRules) -> bool:
    head = _clause(anchor)
    subtree = list(head.subtree)
    text = anchor.doc[subtree[0].i:subtree[-1].i + 1].text
    return rules.background.search(text) is not None


def _path_up(token: Token) -> list[Token]:
    out = [token]
    while token.head.i != token.i:
        token = token.head
        out.append(token)
    return out


def _distance(a: Token, b: Token, links: frozenset[str]) -> int | None:
    """Dependency path length between two tokens, or None when it runs through a temporal connective
    ("a week after police killed 12"): the figure is then another event's."""
    up_a, up_b = _path_up(a), _path_up(b)
    common = {t.i for t in up_b}
    for n, t in enumerate(up_a):
        if t.i in common:
            m = next(k for k, u in enumerate(up_b) if u.i == t.i)
            # Only the figure's side counts: "12 were killed after gunmen attacked" gives the attack's toll,
            # "marched a week after police killed 12" gives another event's.
            if any(u.lower_ in links for u in up_a[1:n]) or any(
                    c.lower_ in links and c.dep_ in ("mark", "prep") for u in up_a[:n]
                    for c in u.children if u.dep_ in ("advcl", "pcomp", "relcl")):
                return None
            return n + m
    return None


def attach_casualties(doc: Doc, events: list[Event], rules: CasualtyRules | None = None) -> list[Event]:
    """``events`` with each sentence's figures attached to the nearest event; events without figures are
    returned unchanged (the same objects)."""
    rules = rules or load_rules()
    by_sentence: dict[int, list[int]] = {}
    for n, event in enumerate(events):
        if "trigger" in event.evidence and "sentence" in event.evidence:
            by_sentence.setdefault(event.sentence, []).append(n)
    if not by_sentence:
        return events
    out = list(events)
    added: dict[int, list[Casualty]] = {}
    for members in by_sentence.values():
        sent_span = events[members[0]].evidence["sentence"]
        sentence = doc.char_span(sent_span.start, sent_span.end, alignment_mode="expand")
        if sentence is None:
            continue
        figures = find_figures(sentence, rules)
        if not figures:
            continue
        triggers = {}
        for n in members:
            span = events[n].evidence["trigger"]
            tok = doc.char_span(span.start, span.end, alignment_mode="expand")
            if tok is not None and len(tok):
                triggers[n] = tok.root
        for figure in figures:
            anchor = doc[figure.anchor]
            scored = [(d, n) for n, trigger in triggers.items()
                      if (d := _distance(anchor, trigger, rules.other_event_links)) is not None]
            if not scored:
                continue
            _, best = min(scored)
            event = events[best]
            chain = event.attribution
            evidence = doc[figure.start:figure.end]
            added.setdefault(best, []).append(Casualty(
                kind=figure.kind, low=figure.low, high=figure.high,  # type: ignore[arg-type]
                qualifier=figure.qualifier, background=figure.background,  # type: ignore[arg-type]
                source=chain[-1].name if chain else None,
                span=Span(start=evidence.start_char, end=evidence.end_char, text=evidence.text)))
    for n, found in added.items():
        out[n] = events[n].model_copy(update={"casualties": found})
    return out
