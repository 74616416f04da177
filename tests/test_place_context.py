"""Places, second round of issue 13: the outlet's country as a prior, world regions and seas, places inside
disease names, adjectival forms kept apart for scoring, and the document-context arithmetic that keeps the
places stage linear on long texts.

Every text is written anew for the error class it guards against; none is taken from a gold set.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tidings import analyze
from tidings.core.records import Analysis, Place
from tidings.evaluation import geo_prediction
from tidings.stages.places import Gazetteer, _ContextWithout, _normalise_context, context_of, outlet_country
from tidings.stages.toponyms import Toponym, _without_overlaps


def places(analysis: Analysis) -> list[dict[str, Any]]:
    return [{"text": m.span.text, **m.value} for m in analysis.mentions if m.kind == "place"]


def texts(analysis: Analysis) -> list[str]:
    return [p["text"] for p in places(analysis)]


# --------------------------------------------------------------------------- the outlet's country


@pytest.mark.parametrize(("kwargs", "country"), [
    ({"url": "https://www.abc.net.au/news/2024-12-01/storm"}, "AU"),
    ({"url": "http://www.thisisexample.co.uk/news/1"}, "GB"),
    ({"url": "https://www.cbc.ca/news/canada/story"}, "CA"),
    ({"url": "https://example.com/world/story"}, None),            # generic: says nothing
    ({"url": "https://news.example.tv/story"}, None),              # a vanity country domain
    ({"outlet": "The Times of India"}, "IND"),                      # the outlet table
    ({"outlet": "Reuters", "url": "https://www.reuters.com/x"}, None),   # a wire agency files from everywhere
    ({"meta": {"country": "ke"}, "url": "https://www.abc.net.au/x"}, "KE"),   # the caller knows best
    ({}, None),
])
def test_outlet_country(kwargs: dict[str, Any], country: str | None) -> None:
    assert outlet_country(**kwargs) == country


@pytest.mark.parametrize(("url", "country"), [
    ("https://www.example.com.au/news/weather", "AU"),
    ("https://www.example.co.uk/news/weather", "GB"),
])
def test_outlet_country_settles_an_ambiguous_town(url: str, country: str) -> None:
    analysis = analyze("Heavy rain flooded roads in Perth on Monday and closed two schools.",
                       published="2024-12-06", url=url)
    perth = [p for p in places(analysis) if p["text"] == "Perth"]
    assert perth and perth[0]["country"] == country, perth


def test_outlet_country_never_outweighs_the_text() -> None:
    analysis = analyze("Syrian army shelling hit Ariha in Idlib province on Tuesday, killing four civilians.",
                       published="2024-12-06", url="https://www.example.co.uk/world/middle-east")
    ariha = [p for p in places(analysis) if p["text"] == "Ariha"]
    assert ariha and ariha[0]["country"] == "SY"


# --------------------------------------------------------------------------- regions, seas, disease names


@pytest.mark.parametrize(("text", "name"), [
    ("Cholera has spread across West Africa since the rains began.", "West Africa"),
    ("Ministers from across the Middle East met in Doha on Sunday.", "Middle East"),
    ("Two fishing boats sank in the Indian Ocean on Friday.", "Indian Ocean"),
    ("Rescuers pulled 40 migrants from the Mediterranean on Monday.", "Mediterranean"),
])
def test_world_regions_and_seas_are_places(text: str, name: str) -> None:
    analysis = analyze(text, published="2024-12-06")
    found = [p for p in places(analysis) if p["text"] == name]
    assert found, texts(analysis)
    assert found[0]["feature"] == "region" and found[0]["country"] is None
    assert found[0]["found_by"] != "demonyms"


def test_middle_east_is_not_a_us_town() -> None:
    place = Gazetteer.open().resolve("Middle East")
    assert place is not None and place.feature == "region" and place.lat is not None and 20 < place.lat < 40


@pytest.mark.parametrize(("text", "not_a_place"), [
    ("Researchers found Reston virus antibodies in pigs at a farm near Manila.", "Reston"),
    ("Doctors confirmed two more cases of Lassa fever in Nigeria on Monday.", "Lassa"),
    ("The clinic vaccinated 300 children against Japanese encephalitis in Assam.", "Japanese"),
])
def test_a_place_in_a_disease_name_is_not_a_place(text: str, not_a_place: str) -> None:
    analysis = analyze(text, published="2024-12-06")
    assert not_a_place not in texts(analysis)
    assert len(places(analysis)) >= 1, "the real place of the sentence is still found"


def test_a_town_that_names_a_virus_is_still_a_town_elsewhere() -> None:
    analysis = analyze("Firefighters in Reston put out a blaze at a warehouse on Sunday.", published="2024-12-06")
    assert "Reston" in texts(analysis)


# --------------------------------------------------------------------------- adjectives kept apart


def test_adjectival_forms_are_flagged_and_left_out_on_request() -> None:
    analysis = analyze("Canadian officials met U.S. troops near Kabul on Friday.", published="2024-12-06")
    by_text = {p["text"]: p for p in places(analysis)}
    assert by_text["Canadian"].get("adjective") is True
    assert not by_text["U.S."].get("adjective") and not by_text["Kabul"].get("adjective")
    every = [t["name"] for t in geo_prediction("1", analysis)["toponyms"]]
    names = [t["name"] for t in geo_prediction("1", analysis, adjectives=False)["toponyms"]]
    assert "Canadian" in every and "Canadian" not in names
    assert {"U.S.", "Kabul"} <= set(names)


# --------------------------------------------------------------------------- linear-time machinery


def _random_places(rng: random.Random, n: int) -> list[Place]:
    out = []
    for _ in range(n):
        cc = rng.choice(["US", "SY", "GB", "FR"])
        out.append(Place(name="x", country=cc, admin1_code=f"{cc}.{rng.randint(1, 4):02d}",
                         feature=rng.choice(["city", "admin1", "admin2", "country"]),
                         lat=rng.uniform(-60, 60), lon=rng.uniform(-170, 170)))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_context_without_a_name_equals_the_others_context(seed: int) -> None:
    """The linear view (all places less one name's share) gives the same weights as summing the others."""
    rng = random.Random(seed)
    everything = _random_places(rng, rng.randint(1, 40))
    k = rng.randint(0, len(everything))
    own, others = everything[:k], everything[k:]
    total = context_of(everything)
    ranked = sorted(total.items(), key=lambda kv: -kv[1])[:16]
    view = _ContextWithout(total, context_of(own), ranked)
    expected = dict(_normalise_context(context_of(others), {}))
    assert set(view) == set(expected) and len(view) == len(expected)
    for key, weight in expected.items():
        assert view.get(key) == pytest.approx(weight)
    assert view.get("@999,999") is None


def test_first_toponym_to_claim_text_keeps_it() -> None:
    def t(start: int, end: int, step: str) -> Toponym:
        return Toponym(start, end, "x" * (end - start), step)

    found = [t(10, 20, "datelines"), t(15, 25, "entities"), t(0, 5, "entities"), t(5, 10, "context"),
             t(3, 12, "orgs"), t(30, 40, "sites"), t(25, 31, "modifiers"), t(25, 30, "demonyms")]
    kept = _without_overlaps(found)
    assert [(k.start, k.end, k.step) for k in kept] == [
        (0, 5, "entities"), (5, 10, "context"), (10, 20, "datelines"), (25, 30, "demonyms"), (30, 40, "sites")]


# --------------------------------------------------------------------------- representative points


@pytest.mark.parametrize(("points", "lat", "lon"), [
    ([(64.7, 177.5, 0), (66.3, -171.0, 0), (69.7, 170.3, 0)], 67.2, 179.65),   # across the antimeridian
    ([(30.0, 10.0, 0), (40.0, 20.0, 0)], 35.0, 15.0),
    ([(10.0, -100.0, 0), (20.0, -80.0, 0)], 15.0, -90.0),
])
def test_admin_centre_is_the_narrow_box(points: list[tuple[float, float, int]], lat: float, lon: float) -> None:
    from tidings.stages.places import _bbox_centre

    assert _bbox_centre(points) == pytest.approx((lat, lon), abs=0.01)


@pytest.mark.parametrize(("name", "feature", "lat", "lon"), [
    ("France", "country", 46.0, 2.0), ("Texas", "admin1", 31.0, -99.0), ("Idlib Governorate", "admin1", 35.8, 36.6),
    ("Chukotka", "admin1", 66.0, 172.0),
])
def test_country_and_admin1_points_lie_inside_them(name: str, feature: str, lat: float, lon: float) -> None:
    from tidings.evaluation import haversine_km

    place = Gazetteer.open().resolve(name)
    assert place is not None and place.feature == feature and place.lat is not None and place.lon is not None
    assert haversine_km(place.lat, place.lon, lat, lon) < 600, place
