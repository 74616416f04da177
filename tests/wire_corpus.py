"""A reproducible corpus of wire-style articles with their events, for the dashboard and aggregate tests.

Why built rather than analysed: 300+ articles through the whole pipeline cost minutes on the shared CI
cores, and the tests check what the dashboard draws, not what the coder finds. So each article's text is
composed from templates and its events are built with evidence spans pointing into that text, shaped as the
pipeline makes them. The corpus has what made the dashboard hard to use on real news:

* many regions, with dense clusters (the eastern US, Turkey next to Syria) and places at every level: cities
  and sites (points), admin1 divisions and countries (areas);
* dates mostly in the first half of 2017, with month- and year-precision events and two outliers (a 1961
  flashback and a mis-inferred 2030 date);
* actors that share a CAMEO code but are different people ("Barack Obama" and "Donald Trump" are USAGOV),
  and a self-loop actor.

Nothing is copied from any evaluation set; names of places and public figures are facts, sentences are
templates written for this file.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

from tidings.core.records import Actor, Analysis, Document, Event, Place, Source, Span, When

SEED = 16
ARTICLES = 320

# (name, iso2, iso3, admin1, lat, lon, level)
PLACES: list[tuple[str, str, str, str | None, float, float, str]] = [
    ("Aleppo", "SY", "SYR", "Aleppo Governorate", 36.20, 37.16, "city"),
    ("Homs", "SY", "SYR", "Homs Governorate", 34.73, 36.71, "city"),
    ("Damascus", "SY", "SYR", "Damascus Governorate", 33.51, 36.29, "city"),
    ("Idlib", "SY", "SYR", "Idlib Governorate", 35.93, 36.63, "city"),
    ("Idlib Governorate", "SY", "SYR", "Idlib Governorate", 35.83, 36.60, "admin1"),
    ("Syria", "SY", "SYR", None, 35.0, 38.0, "country"),
    ("Kayseri", "TR", "TUR", "Kayseri", 38.73, 35.49, "city"),
    ("Gaziantep", "TR", "TUR", "Gaziantep", 37.07, 37.38, "city"),
    ("Ankara", "TR", "TUR", "Ankara", 39.92, 32.85, "city"),
    ("Kilis", "TR", "TUR", "Kilis", 36.72, 37.12, "city"),
    ("Mosul", "IQ", "IRQ", "Nineveh Governorate", 36.34, 43.13, "city"),
    ("Baghdad", "IQ", "IRQ", "Baghdad Governorate", 33.34, 44.40, "city"),
    ("Beirut", "LB", "LBN", "Beirut Governorate", 33.89, 35.50, "city"),
    ("Yemen", "YE", "YEM", None, 15.5, 47.5, "country"),
    ("Sanaa", "YE", "YEM", "Amanat Al Asimah", 15.35, 44.21, "city"),
    ("Kharkiv", "UA", "UKR", "Kharkiv Oblast", 49.99, 36.23, "city"),
    ("Kyiv", "UA", "UKR", "Kyiv City", 50.45, 30.52, "city"),
    ("Donetsk Oblast", "UA", "UKR", "Donetsk Oblast", 48.0, 37.8, "admin1"),
    ("Moscow", "RU", "RUS", "Moscow", 55.75, 37.62, "city"),
    ("Washington", "US", "USA", "District of Columbia", 38.90, -77.04, "city"),
    ("New York", "US", "USA", "New York", 40.71, -74.01, "city"),
    ("Philadelphia", "US", "USA", "Pennsylvania", 39.95, -75.17, "city"),
    ("Baltimore", "US", "USA", "Maryland", 39.29, -76.61, "city"),
    ("Boston", "US", "USA", "Massachusetts", 42.36, -71.06, "city"),
    ("Maiduguri", "NG", "NGA", "Borno", 11.85, 13.16, "city"),
    ("Borno", "NG", "NGA", "Borno", 11.5, 13.0, "admin1"),
    ("Khartoum", "SD", "SDN", "Khartoum", 15.50, 32.56, "city"),
    ("El Fasher", "SD", "SDN", "North Darfur", 13.63, 25.35, "city"),
    ("Goma", "CD", "COD", "North Kivu", -1.68, 29.23, "city"),
    ("Culiacan", "MX", "MEX", "Sinaloa", 24.80, -107.39, "city"),
    ("Sinaloa", "MX", "MEX", "Sinaloa", 25.0, -107.5, "admin1"),
    ("Bogota", "CO", "COL", "Bogota D.C.", 4.71, -74.07, "city"),
    ("Mandalay", "MM", "MMR", "Mandalay", 21.97, 96.08, "city"),
    ("Kabul", "AF", "AFG", "Kabul", 34.53, 69.17, "city"),
    ("Peshawar", "PK", "PAK", "Khyber Pakhtunkhwa", 34.01, 71.58, "city"),
    ("Manila", "PH", "PHL", "Metro Manila", 14.60, 120.98, "city"),
]

# Actors: several share a code and are different people or bodies.
ACTORS: list[Actor] = [
    Actor(code="USAGOV", name="Barack Obama", country="USA", sector="GOV", kind="person"),
    Actor(code="USAGOV", name="Donald Trump", country="USA", sector="GOV", kind="person"),
    Actor(code="RUSGOV", name="Vladimir Putin", country="RUS", sector="GOV", kind="person"),
    Actor(code="RUSGOV", name="Sergei Lavrov", country="RUS", sector="GOV", kind="person"),
    Actor(code="SYRMIL", name="Syrian army", country="SYR", sector="MIL"),
    Actor(code="SYRREB", name="Syrian rebels", country="SYR", sector="REB"),
    Actor(code="TURMIL", name="Turkish troops", country="TUR", sector="MIL"),
    Actor(code="TURGOV", name="Recep Tayyip Erdogan", country="TUR", sector="GOV", kind="person"),
    Actor(code="IRQMIL", name="Iraqi forces", country="IRQ", sector="MIL"),
    Actor(code="UKRMIL", name="Ukrainian forces", country="UKR", sector="MIL"),
    Actor(code="RUSMIL", name="Russian forces", country="RUS", sector="MIL"),
    Actor(code="YEMREB", name="Houthi rebels", country="YEM", sector="REB"),
    Actor(code="NGAMIL", name="Nigerian army", country="NGA", sector="MIL"),
    Actor(code="NGAREB", name="Boko Haram", country="NGA", sector="REB"),
    Actor(code="SDNMIL", name="Sudanese army", country="SDN", sector="MIL"),
    Actor(code="USACVL", name="protesters", country="USA", sector="CVL"),
    Actor(code="USACOP", name="police", country="USA", sector="COP"),
    Actor(code="MEXCRM", name="cartel gunmen", country="MEX", sector="CRM"),
    Actor(code="IGOUNO", name="United Nations", sector="IGO", kind="organization"),
]

# (PLOVER type, verb as written, object phrase)
ACTIONS = [
    ("ASSAULT", "shelled", "positions held by {target} near {place}"),
    ("ASSAULT", "attacked", "{target} in {place}"),
    ("RETREAT", "withdrew from", "{place} after talks with {target}"),
    ("PROTEST", "rallied against", "{target} in {place}"),
    ("CONSULT", "met", "{target} in {place}"),
    ("AID", "delivered aid to", "{target} around {place}"),
    ("THREATEN", "threatened", "{target} over the fighting in {place}"),
    ("MOBILIZE", "massed troops facing", "{target} outside {place}"),
    ("AGREE", "agreed a ceasefire with", "{target} covering {place}"),
]
AGENCIES = ["Reuters", "AP", "AFP", "Anadolu", "Xinhua"]
SAYERS = [("officials", "official", True), ("a military spokesman", "official", False),
          ("witnesses", "person", True), ("the interior ministry", "government", False)]
MODALITY_WEIGHTS = {"asserted": 8, "reported": 6, "hedged": 2, "negated": 1, "future": 1, "historical": 1}


def _place(index: int) -> Place:
    name, iso2, iso3, admin1, lat, lon, level = PLACES[index]
    return Place(geonameid=9_100_000 + index, name=name, country=iso2, country3=iso3, admin1=admin1, lat=lat,
                 lon=lon, feature=level, precision="exact" if level in ("city", "site") else level)


def _when(rng: random.Random, number: int, published: dt.date) -> When:
    """Mostly the day before publication; some month or year precision; two outliers in the corpus."""
    if number == 7:
        return When(start=dt.date(1961, 5, 1), end=dt.date(1961, 5, 1), granularity="day", anchor="expression")
    if number == 11:
        return When(start=dt.date(2030, 1, 1), end=dt.date(2030, 1, 1), granularity="day", anchor="inferred")
    roll = rng.random()
    if roll < 0.08:
        first = published.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        return When(start=first, end=last, granularity="month", anchor="published")
    if roll < 0.12:
        return When(start=dt.date(published.year, 1, 1), end=dt.date(published.year, 12, 31), granularity="year",
                    anchor="published")
    day = published - dt.timedelta(days=rng.randrange(3))
    return When(start=day, end=day, granularity="day", anchor="published")


def articles(n: int = ARTICLES, seed: int = SEED) -> Iterator[Analysis]:
    """``n`` analyses (document + 1–3 events each), the same for the same seed."""
    rng = random.Random(seed)
    modalities, weights = zip(*MODALITY_WEIGHTS.items(), strict=True)
    start = dt.date(2017, 1, 2)
    for number in range(n):
        published = start + dt.timedelta(days=rng.randrange(170))
        agency = rng.choice(AGENCIES)
        places = [rng.randrange(len(PLACES)) for _ in range(rng.randint(1, 3))]
        dateline = PLACES[places[0]][0].upper()
        text = f"{dateline}, {published:%B} {published.day} ({agency}) - "
        specs = []
        for k, place_index in enumerate(places):
            event_type, verb, obj = rng.choice(ACTIONS)
            source = rng.choice(ACTORS)
            target = source if number % 97 == 5 and k == 0 else rng.choice(ACTORS)   # a few self-loops
            sayer, kind, anonymous = rng.choice(SAYERS)
            sentence = (f"{source.name} {verb} {obj.format(target=target.name, place=PLACES[place_index][0])} "
                        f"on {rng.choice(['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'])}, "
                        f"{sayer} said. ")
            offset = len(text)
            text += sentence
            if k == 0:
                text += f"The report could not be independently verified, {agency} noted. "
            specs.append((offset, sentence, event_type, verb, source, target, place_index, sayer, kind, anonymous))
        doc = Document(id=f"wire{number:04d}", text=text, published=published, outlet=agency,
                       title=f"{PLACES[places[0]][0]}: {specs[0][2].lower()} reported")
        events = []
        for k, (offset, sentence, event_type, verb, source, target, place_index, sayer, kind, anonymous) in \
                enumerate(specs):
            trigger = offset + sentence.index(verb)
            events.append(Event(
                id=f"{doc.id}-{k}", doc_id=doc.id, type=event_type, modality=rng.choices(modalities, weights)[0],
                source_actor=source, target_actor=target, place=_place(place_index),
                when=_when(rng, number, published) if k == 0 else _when(rng, -1, published),
                attribution=[Source(name=agency, kind="agency"), Source(name=sayer, kind=kind, anonymous=anonymous)],
                confidence=round(rng.uniform(0.5, 0.95), 2), sentence=k, coder="wire-corpus@1",
                evidence={"trigger": Span(start=trigger, end=trigger + len(verb), text=verb),
                          "sentence": Span(start=offset, end=offset + len(sentence) - 1, text=sentence[:-1])}))
        yield Analysis(document=doc, events=events)


def events(n: int = ARTICLES, seed: int = SEED) -> list[Event]:
    """Every event of :func:`articles`, in order."""
    return [e for a in articles(n, seed) for e in a.events]


def stored(url: str, n: int = ARTICLES, seed: int = SEED) -> str:
    """Write :func:`articles` into the store at ``url`` (the tests' fixtures build a database once each)."""
    from tidings.store.database import Store

    with Store(url) as store:
        store.save_many(articles(n, seed))
    return url
