"""Mentions: the actors, places and times a document names, resolved once per document.

The event coder asks this stage "who is this noun phrase?", "where is this?", "when is this?";
answers are cached per token so that a name used by several events is resolved once.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field

from spacy.tokens import Doc, Token
from spacy.tokens import Span as SpacySpan

from tidings.core.records import Actor, Mention, Place, Span, When
from tidings.stages import time as time_rules
from tidings.stages.actors import ActorDictionary
from tidings.stages.nlp import entity_of, sentences
from tidings.stages.places import Gazetteer, context_of, resolve_document
from tidings.stages.toponyms import PLACE_LABELS, WEAK_STEPS, Toponym, find_toponyms, steps_enabled

__all__ = ["DocContext", "TimeMention", "actor_mention", "token_span"]

ACTOR_LABELS = {"PERSON", "ORG", "NORP", "GPE"}
_PARTITIVE = {"some", "part", "one", "many", "most", "all", "several", "few", "none", "each", "both", "dozens",
              "hundreds", "thousands", "members", "units", "elements", "remnants"}
_CALENDAR = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february",
             "march", "april", "june", "july", "august", "september", "october", "november", "december"}


def _unlabelled_agent(token: Token) -> bool:
    """A proper noun that is a clause's subject and that NER left unlabelled or labelled as a place or date."""
    return (token.pos_ == "PROPN" and token.dep_ == "nsubj" and token.ent_type_ in ("", "GPE", "LOC", "DATE")
            and token.is_title and not token.like_num and token.lower_ not in _CALENDAR and len(token.text) > 2)


def _proper_name(token: Token) -> SpacySpan:
    """The token with the proper nouns compounded onto it ("Terry Strada")."""
    start = token.i
    while start > 0 and token.doc[start - 1].pos_ == "PROPN" and token.doc[start - 1].dep_ == "compound" \
            and token.doc[start - 1].head.i == token.i:
        start -= 1
    return token.doc[start:token.i + 1]


_PRONOUNS = {"they", "them", "it", "he", "she", "him", "her", "its", "their", "his", "we", "who", "which"}


def token_span(doc: Doc, start: int, end: int) -> Span:
    """Record span for tokens ``[start, end)`` of ``doc``."""
    s = doc[start:end]
    return Span(start=s.start_char, end=s.end_char, text=s.text)


@dataclass(frozen=True)
class TimeMention:
    start: int            # char offsets
    end: int
    text: str
    kind: str
    when: When | None


@dataclass
class DocContext:
    """Everything the event coder needs to know about one document's names.

    Built once per document by the Names stage (:class:`tidings.stages.components.Names`): the places and times are
    resolved there, together. Actors are resolved on demand (:meth:`actor_at`, cached per token), because
    which noun phrases need one depends on the triggers the coder finds; the only thing written into it
    afterwards is the coder's pronoun memory (:meth:`note_subject`, by the Events stage, in text order).
    ``mentions`` holds the places and times named; the Mentions stage adds the events' actors and the
    sources to a list of its own."""

    doc: Doc
    published: dt.date | None
    anchor_kind: str
    actors: ActorDictionary
    gazetteer: Gazetteer
    countries: Counter[str] = field(default_factory=Counter)   # ISO2 weights of places mentioned
    main_country3: str | None = None
    places: dict[int, Place] = field(default_factory=dict)     # ent start token → place
    times: dict[int, list[TimeMention]] = field(default_factory=dict)  # sentence start token → times
    mentions: list[Mention] = field(default_factory=list)
    _actor_cache: dict[int, Actor | None] = field(default_factory=dict)
    _token_place: dict[int, Place] = field(default_factory=dict)
    dateline_tokens: set[int] = field(default_factory=set)     # "KHARTOUM, Dec 5 (Reuters) -": never an actor
    _last_subject: list[tuple[int, Actor]] = field(default_factory=list)
    text: str = ""
    outlet_country: str | None = None

    # --- building -------------------------------------------------------------------------------
    @classmethod
    def build(cls, doc: Doc, published: dt.date | None, anchor_kind: str,
              actors: ActorDictionary, gazetteer: Gazetteer, outlet_country: str | None = None) -> DocContext:
        """``outlet_country`` (ISO2/ISO3, :func:`tidings.stages.places.outlet_country`) is a prior for the places."""
        ctx = cls(doc, published, anchor_kind, actors, gazetteer)
        ctx.outlet_country = outlet_country
        ctx.text = doc.text   # ``Doc.text`` joins every token each time it is read: once, not per time mention
        ctx._collect_places()
        ctx._collect_times()
        return ctx

    def _collect_places(self) -> None:
        """Find the toponyms (:mod:`tidings.stages.toponyms`) and resolve them together, in document context.

        Demonyms name their country directly and count as context; a dateline is the place of
        filing, recorded as a mention but never an event's place or an actor.
        """
        doc = self.doc
        toponyms = find_toponyms(doc, self.gazetteer, self.actors)
        known: dict[int, Place | None] = {}
        for n, t in enumerate(toponyms):
            if t.country3:
                known[n] = self.gazetteer.country(t.country3)
        named = [n for n in range(len(toponyms)) if n not in known and toponyms[n].step not in WEAK_STEPS]
        weak = [n for n in range(len(toponyms)) if n not in known and toponyms[n].step in WEAK_STEPS]
        # the outlet's country counts like one mention of it: a tie-breaker, never a match for the text
        outlet = _safe_country(self.gazetteer, self.outlet_country)
        try:
            rounds = 4 if "doc_context" in steps_enabled() else 1
            resolved = resolve_document(self.gazetteer, [toponyms[n].query for n in named],
                                        known=[*known.values(), outlet] if rounds > 1 else (), rounds=rounds)
        except Exception:   # noqa: BLE001 - one bad name must not empty the others: resolve them alone
            resolved = [_safe_resolve(self.gazetteer, toponyms[n].query) for n in named]
        places = dict(known)
        places.update(zip(named, resolved, strict=True))
        # weak names are resolved in the firm ones' context and never vote for them
        context = context_of(places.values())
        places.update((n, _safe_resolve(self.gazetteer, toponyms[n].query, context)) for n in weak)
        _drop_weak(toponyms, places)
        towns = _Towns(toponyms, places)
        for n, t in enumerate(toponyms):
            if places.get(n) is None and (t.step == "sites" or t.label == "FAC"):
                places[n] = _site(t, towns)
            elif places.get(n) is None and t.unlisted:
                places[n] = _village(t, toponyms, places)
        for n, t in enumerate(toponyms):
            place = places.get(n)
            if place is None:
                continue
            span = Span(start=t.start, end=t.end, text=t.text)
            place = place.model_copy(update={"span": span})
            if place.country:
                self.countries[place.country] += 3 if place.feature == "country" and not t.country3 else 1
            if t.step == "datelines":
                self.dateline_tokens.update(range(t.token_start, t.token_end))
            elif t.label != "NORP" and t.token_start >= 0:
                self.places[t.token_start] = place
                for i in range(t.token_start, t.token_end):
                    self._token_place[i] = place
            self.mentions.append(Mention(
                kind="place", span=span, label=t.label if t.label in PLACE_LABELS or t.label == "NORP" else "GPE",
                value={"geonameid": place.geonameid, "name": place.name, "country": place.country,
                       "admin1": place.admin1, "admin1_code": place.admin1_code,
                       "lat": place.lat, "lon": place.lon, "feature": place.feature,
                       "precision": place.precision, "found_by": t.step,
                       **({"adjective": True} if t.adjective else {})},
                sentence=_sentence_index(doc, max(t.token_start, 0)),
            ))
        if self.countries:
            top = self.countries.most_common(1)[0][0]
            country = self.gazetteer.country(top)
            self.main_country3 = country.country3 if country else None

    def _collect_times(self) -> None:
        doc = self.doc
        # The document's DATE/TIME entities, walked once alongside the sentences (``Span.ents`` would scan
        # every entity of the document for each sentence: quadratic on a long text).
        dated = [ent for ent in doc.ents if ent.label_ in ("DATE", "TIME")]
        next_ent = 0
        for number, sent in enumerate(sentences(doc)):
            found: dict[tuple[int, int], TimeMention] = {}
            for start, end, kind in time_rules.find_times(sent.text, offset=sent.start_char):
                found[(start, end)] = self._time(start, end, kind)
            while next_ent < len(dated) and dated[next_ent].start < sent.start:
                next_ent += 1
            in_sentence = []
            while next_ent < len(dated) and dated[next_ent].end <= sent.end:
                in_sentence.append(dated[next_ent])
                next_ent += 1
            for ent in in_sentence:
                if ent.label_ in ("DATE", "TIME") and not any(
                    s <= ent.start_char < e or ent.start_char <= s < ent.end_char for s, e in found
                ):
                    found[(ent.start_char, ent.end_char)] = self._time(ent.start_char, ent.end_char, ent.label_.lower())
            mentions = sorted(found.values(), key=lambda m: m.start)
            self.times[sent.start] = mentions
            for m in mentions:
                if m.when is not None:
                    self.mentions.append(Mention(
                        kind="time", span=Span(start=m.start, end=m.end, text=m.text), label=m.kind,
                        value={"start": _iso(m.when.start), "end": _iso(m.when.end),
                               "granularity": m.when.granularity},
                        sentence=number,
                    ))

    def _time(self, start: int, end: int, kind: str, tense: str | None = None) -> TimeMention:
        text = (self.text or self.doc.text)[start:end]
        when = None
        if kind != "duration":
            when = time_rules.resolve(text, self.published, anchor_kind=self.anchor_kind, tense=tense)
            if when is not None:
                when = when.model_copy(update={"span": Span(start=start, end=end, text=text)})
        return TimeMention(start, end, text, kind, when)

    def resolve_time(self, mention: TimeMention, tense: str | None) -> When | None:
        """Re-resolve a time with the event's tense ("will meet on Monday" looks forward)."""
        if tense != "future" or mention.when is None:
            return mention.when
        return self._time(mention.start, mention.end, mention.kind, tense).when

    # --- lookups --------------------------------------------------------------------------------
    def place_at(self, token: Token) -> Place | None:
        """The place whose mention covers ``token``, if any."""
        return self._token_place.get(token.i)

    def actor_at(self, token: Token) -> Actor | None:
        """The actor a noun phrase headed by ``token`` denotes (cached per token)."""
        if token.i not in self._actor_cache:
            self._actor_cache[token.i] = None  # breaks cycles: "its troops" ↔ the clause's subject
            self._actor_cache[token.i] = self._resolve_actor(token)
        return self._actor_cache[token.i]

    def _resolve_actor(self, token: Token) -> Actor | None:
        if token.i in self.dateline_tokens:
            return None   # the place of filing, not a party to any event
        if token.lower_ in _PRONOUNS and token.pos_ == "PRON":
            return self._antecedent(token)
        owner = self._pronoun_owner(token)
        if owner is not None:
            return owner
        if token.lower_ in _PARTITIVE:
            of = next((g for c in token.children if c.lower_ == "of" for g in c.children if g.dep_ == "pobj"), None)
            if of is not None:
                return self.actor_at(of)
        phrase = _noun_phrase(token)
        actor = self.actors.resolve(phrase.text, context_country=self.main_country3)
        of_actor = self._of_actor(token)
        if of_actor is not None and (actor is None or actor.country in (None, self.main_country3)
                                     and of_actor.country not in (None, self.main_country3)):
            # "commanders of the Quds Force", "the leader of HTS": the organisation says who they are.
            return of_actor
        if actor is None and token.ent_type_ in ACTOR_LABELS and token.ent_type_ != "GPE":
            ent = entity_of(token)
            if ent is not None:
                actor = self.actors.unknown(ent.text, label=ent.label_, context_country=self.main_country3)
                phrase = ent
        if actor is None:
            possessor = next((c for c in token.children if c.dep_ == "poss" and c.pos_ != "PRON"), None)
            if possessor is not None:
                return self.actor_at(possessor)  # "Russia's shadow fleet": the owner acts or is acted upon
        if actor is None:
            place = self.place_at(token)
            if place is not None and place.feature == "country" and place.country3:
                actor = Actor(code=place.country3, name=place.name, country=place.country3, kind="state")
        if actor is None and _unlabelled_agent(token) and self.place_at(token) is None:
            # "Strada accused …", "Stumpf appeared to blame …": a proper-noun subject the small NER model missed
            # or mislabelled (GPE/DATE) and the gazetteer does not know as a place names someone who acts.
            phrase = _proper_name(token)
            actor = self.actors.unknown(phrase.text, label="PERSON", context_country=self.main_country3)
        if actor is None:
            return None
        return actor.model_copy(update={"span": Span(start=phrase.start_char, end=phrase.end_char, text=phrase.text)})

    def _of_actor(self, token: Token) -> Actor | None:
        if token.ent_type_ in ACTOR_LABELS:
            return None
        pobj = next((g for c in token.children if c.dep_ == "prep" and c.lower_ == "of"
                     for g in c.children if g.dep_ == "pobj"), None)
        if pobj is None or pobj.ent_type_ in PLACE_LABELS and self.place_at(pobj) is not None \
                and self.place_at(pobj).feature != "country":  # type: ignore[union-attr]
            return None
        actor = self.actor_at(pobj)
        return actor if actor is not None and actor.known else None

    def _pronoun_owner(self, token: Token) -> Actor | None:
        """"its forces", "their troops", "whose government": the owner's country with the head's sector."""
        poss = next((c for c in token.children if c.dep_ == "poss" and c.lower_ in ("its", "their", "whose")), None)
        if poss is None:
            return None
        if poss.lower_ == "whose":
            relcl = token.head
            while relcl.dep_ != "relcl" and relcl.head.i != relcl.i:
                relcl = relcl.head
            owner = self.actor_at(relcl.head) if relcl.dep_ == "relcl" else None
        else:
            subject = _clause_subject(token)
            owner = self.actor_at(subject) if subject is not None and subject.i != token.i else None
        if owner is None or not owner.country:
            return None
        phrase = _noun_phrase(token)
        head_only = self.actors.resolve(token.text)
        sector = head_only.sector if head_only is not None else None
        if sector and sector != owner.sector and owner.kind in ("state", "organization", "group"):
            code = f"{owner.country}{sector}"
            return Actor(code=code, name=f"{owner.name} {token.text}", country=owner.country, sector=sector,
                         kind="group", span=Span(start=phrase.start_char, end=phrase.end_char, text=phrase.text))
        return owner.model_copy(update={"span": Span(start=phrase.start_char, end=phrase.end_char, text=phrase.text)})

    def _antecedent(self, token: Token) -> Actor | None:
        """A light coreference rule: the subject of an earlier sentence, or the relative clause's noun."""
        if token.lower_ in ("who", "which"):
            head = token.head.head if token.head.dep_ == "relcl" else None
            # The parser may attach "who" to a place inside the noun phrase ("rebels in Syria, who …").
            while head is not None and head.ent_type_ in PLACE_LABELS and head.dep_ == "pobj":
                head = head.head.head
            return self.actor_at(head) if head is not None else None
        if token.lower_ in ("we", "i", "us", "me"):
            return None  # the speaker's own side: left open rather than guessed from earlier subjects
        speaker = _reporting_subject(token)
        if speaker is not None:
            # "officials informed journalists that they evacuated …": they = the officials
            return self.actor_at(speaker)
        sent_start = token.sent.start
        for start, actor in reversed(self._last_subject):
            if start < sent_start:
                return actor
        return None

    def note_subject(self, sentence: SpacySpan) -> None:
        """Remember a sentence's subject actor for pronouns in later sentences."""
        root = sentence.root
        subj = next((c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        if subj is not None and subj.lower_ not in _PRONOUNS:
            actor = self.actor_at(subj)
            if actor is not None:
                self._last_subject.append((sentence.start, actor))


def actor_mention(actor: Actor, role: str, sentence: int) -> Mention | None:
    """The mention of an event's actor (``role``: source or target), where its name is in the text."""
    if actor.span is None:
        return None
    return Mention(kind="actor", span=actor.span, label=role, sentence=sentence,
                   value={"code": actor.code, "name": actor.name, "country": actor.country, "known": actor.known})


def _clause_subject(token: Token) -> Token | None:
    """The subject of the clause a noun phrase belongs to; for the subject itself ("its aircraft struck"),
    the subject of the clause it is reported or denied in ("the military denied that its aircraft …")."""
    verb = token.head
    for _ in range(4):
        subj = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass") and c.i != token.i), None)
        if subj is not None:
            return subj
        if verb.head.i == verb.i:
            return None
        verb = verb.head
    return None


_SPEECH = {"say", "tell", "inform", "state", "report", "announce", "claim", "add", "confirm", "insist"}


def _reporting_subject(pronoun: Token) -> Token | None:
    """For a pronoun subject of a clause reported by a speech verb, that verb's (non-pronoun) subject."""
    clause = pronoun.head
    if pronoun.dep_ not in ("nsubj", "nsubjpass") or clause.dep_ != "ccomp":
        return None
    verb = clause.head
    if verb.lemma_.lower() not in _SPEECH or verb.i > pronoun.i:
        return None  # '"They were redeployed", officials said': the speaker reports on others
    subj = next((c for c in verb.children if c.dep_ == "nsubj"), None)
    return subj if subj is not None and subj.pos_ != "PRON" else None


_NP_DROP = {"relcl", "acl", "punct", "advcl", "cc", "conj", "appos", "prep"}


def _noun_phrase(token: Token) -> SpacySpan:
    """The noun phrase headed by ``token`` (no relative clauses, conjuncts or trailing prepositions),
    keeping a possessor's phrase ("Assad's government") and "of"-phrases of titles ("Ministry of Defense")."""
    doc = token.doc
    idx = {token.i}
    stack = [c for c in token.children if c.dep_ not in _NP_DROP or (c.dep_ == "prep" and c.lower_ == "of"
                                                                      and token.ent_type_ in ACTOR_LABELS)]
    while stack:
        child = stack.pop()
        idx.add(child.i)
        stack.extend(c for c in child.children if c.dep_ not in ("relcl", "acl", "punct", "conj", "cc"))
    start, end = min(idx), max(idx) + 1
    while end - 1 > start and (doc[end - 1].is_punct or doc[end - 1].is_space):
        end -= 1
    while start < end - 1 and (doc[start].is_punct or doc[start].is_space):
        start += 1
    return doc[start:end]


def _sentence_index(doc: Doc, token_index: int) -> int:
    starts = doc.user_data.get("tidings_sentence_starts")
    if starts is None:
        starts = doc.user_data["tidings_sentence_starts"] = [s.start for s in sentences(doc)]
    return max(0, bisect_right(starts, token_index) - 1)


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _drop_weak(toponyms: list[Toponym], places: dict[int, Place | None]) -> None:
    """Weak toponyms (a name that merely modifies a noun) stay only where their place fits the others:
    in an admin1 area the document's firm places are in, or a town of 50,000 in their main country."""
    firm = [p for n, p in places.items() if p is not None and toponyms[n].step not in WEAK_STEPS]
    areas = {p.admin1_code for p in firm if p.admin1_code}
    countries = Counter(p.country for p in firm if p.country)
    main = countries.most_common(1)[0][0] if countries else None
    for n, t in enumerate(toponyms):
        place = places.get(n)
        if t.step not in WEAK_STEPS or place is None:
            continue
        fits = place.admin1_code in areas or (place.country == main and (place.population or 0) >= 50_000)
        if not fits or place.feature not in ("city", "admin2"):
            places[n] = None


class _Towns:
    """The towns a document names, in text order, for placing its streets and facilities."""

    def __init__(self, toponyms: list[Toponym], places: dict[int, Place | None]) -> None:
        found = [(t, places.get(n)) for n, t in enumerate(toponyms)]
        towns = sorted(((t, p) for t, p in found if p is not None and p.feature in ("city", "admin2")
                        and t.step != "sites"), key=lambda tp: tp[0].start)
        self.starts = [t.start for t, _ in towns]
        self.places: list[Place] = [p for _, p in towns if p is not None]
        # toponyms never overlap, so by start is by end too
        self.ends = [t.end for t, _ in towns]


def _site(site: Toponym, towns: _Towns) -> Place | None:
    """A street or facility no gazetteer holds, placed at its town: the town named right after it
    ("Hertford Road, Edmonton"; "Tahrir Square in Cairo"), else the nearest town named before it.
    Precision "city": the point is the town's, the level says the place itself is smaller.
    """
    i = bisect_left(towns.starts, site.end)
    after = towns.places[i] if i < len(towns.starts) and towns.starts[i] - site.end <= 4 else None
    j = bisect_right(towns.ends, site.start)
    town = after or (towns.places[j - 1] if j else None)
    if town is None or town.lat is None:
        return None
    return Place(name=site.text, country=town.country, country3=town.country3, admin1=town.admin1,
                 admin1_code=town.admin1_code, lat=town.lat, lon=town.lon, feature="site", precision="city")


def _village(village: Toponym, toponyms: list[Toponym], places: dict[int, Place | None]) -> Place | None:
    """A settlement no gazetteer holds ("the village of Cellardyke in Fife"), placed at the place the
    text puts it in: the first named within a few words after it, else the nearest before it, of any
    level. Level ``city`` (it is a town or village); precision the container's level, so a map does
    not draw the container's point as the village's."""
    after = [(t.start, places.get(n)) for n, t in enumerate(toponyms)
             if places.get(n) is not None and 0 <= t.start - village.end <= 40 and not t.unlisted]
    before = [(t.end, places.get(n)) for n, t in enumerate(toponyms)
              if places.get(n) is not None and t.end <= village.start and not t.unlisted]
    found = min(after, key=lambda sp: sp[0])[1] if after else max(before, key=lambda sp: sp[0])[1] if before \
        else None
    if found is None or found.lat is None:
        return None
    precision = "city" if found.feature in ("city", "site") else found.feature or "country"
    return Place(name=village.text, country=found.country, country3=found.country3,
                 admin1=found.admin1 if found.feature != "country" else None,
                 admin1_code=found.admin1_code if found.feature != "country" else None,
                 lat=found.lat, lon=found.lon, feature="city", precision=precision)


def _safe_country(gazetteer: Gazetteer, code: str | None) -> Place | None:
    if not code:
        return None
    try:
        return gazetteer.country(code)
    except Exception:   # noqa: BLE001 - an unknown code is no prior, never a failed document
        return None


def _safe_resolve(gazetteer: Gazetteer, name: str, context: dict[str, float] | None = None) -> Place | None:
    try:
        return gazetteer.resolve(name, context=context or {})
    except Exception:   # noqa: BLE001 - a name the gazetteer chokes on is left unresolved
        return None
