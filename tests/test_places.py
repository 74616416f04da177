"""The offline gazetteer: must-resolve and must-not cases, folding, patterns, speed, atomic builds.

The real index is built once per cache (``TIDINGS_CACHE_DIR`` or the user cache) and reused;
build mechanics are tested on a tiny index so they stay fast.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tidings.core.records import Place, Span
from tidings.core.settings import LANGUAGE_DIR
from tidings.stages import places
from tidings.stages.places import Gazetteer, context_of, fold, resolve_document

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "iran-syria-evacuation.txt"
SAMPLE_CONTEXT = ["SY", "IR", "IQ", "LB", "SY", "SY"]


@pytest.fixture(scope="session")
def gaz() -> Gazetteer:
    return Gazetteer.open()


# --------------------------------------------------------------------------- the sample


@pytest.mark.parametrize(
    ("name", "geonameid", "english"),
    [("Damascus", 170654, "Damascus"), ("Latakia", 173576, "Latakia"), ("Aleppo", 170063, "Aleppo"),
     ("Hama", 170017, "Hama"), ("Homs", 169577, "Homs"), ("Deir ez-Zor", 170794, "Deir ez-Zor"),
     ("Tehran", 112931, "Tehran")],
)
def test_sample_cities(gaz: Gazetteer, name: str, geonameid: int, english: str) -> None:
    if SAMPLE.exists():
        assert name in SAMPLE.read_text(encoding="utf-8")
    place = gaz.resolve(name, context=SAMPLE_CONTEXT)
    assert place is not None
    assert (place.geonameid, place.name, place.feature, place.precision) == (geonameid, english, "city", "exact")
    assert place.lat is not None and place.lon is not None


@pytest.mark.parametrize(("name", "iso2", "iso3"),
                         [("Syria", "SY", "SYR"), ("Iran", "IR", "IRN"), ("Iraq", "IQ", "IRQ"),
                          ("Lebanon", "LB", "LBN")])
def test_sample_countries(gaz: Gazetteer, name: str, iso2: str, iso3: str) -> None:
    place = gaz.resolve(name, context=SAMPLE_CONTEXT)
    assert place is not None
    assert (place.feature, place.country, place.country3, place.precision) == ("country", iso2, iso3, "country")


def test_place_fields(gaz: Gazetteer) -> None:
    homs = gaz.resolve("Homs", context=["SY"])
    assert homs is not None
    assert homs.country == "SY" and homs.country3 == "SYR"
    assert homs.admin1 == "Homs Governorate" and homs.admin1_code == "SY.11"
    assert homs.population and homs.population > 500_000
    assert abs(homs.lat - 34.72) < 0.05 and abs(homs.lon - 36.72) < 0.05  # type: ignore[operator]


# --------------------------------------------------------------------------- pitfalls


@pytest.mark.parametrize(
    ("name", "context", "country", "feature"),
    [
        ("Georgia", (), "GE", "country"),
        ("Georgia", ["RU"], "GE", "country"),
        ("Georgia", ["US"], "US", "admin1"),
        ("Paris", (), "FR", "city"),
        ("Paris", ["US"], "FR", "city"),
        ("Paris", {"US": 1.0, "US.TX": 1.0}, "US", "city"),
        ("Lebanon", (), "LB", "country"),
        ("Lebanon", ["US"], "LB", "country"),
        ("Lebanon", {"US": 1, "US.PA": 1}, "US", "city"),
        ("Jordan", (), "JO", "country"),
        ("Sudan", (), "SD", "country"),
        ("South Sudan", (), "SS", "country"),
        ("Gaza", (), "PS", "city"),
        ("Kharkiv", (), "UA", "city"),
        ("Khartoum", (), "SD", "city"),
        ("El Fasher", (), "SD", "city"),
        ("Goma", (), "CD", "city"),
        ("Rafah", (), "PS", "city"),
        ("Kursk", (), "RU", "city"),
        ("Pokrovsk", (), "UA", "city"),
        ("Mariupol", (), "UA", "city"),
        ("Odessa", (), "UA", "city"),
        ("Tripoli", ["LB"], "LB", "city"),
    ],
)
def test_pitfalls(gaz: Gazetteer, name: str, context: object, country: str, feature: str) -> None:
    place = gaz.resolve(name, context=context)  # type: ignore[arg-type]
    assert place is not None
    assert (place.country, place.feature) == (country, feature), place


def test_kyiv_and_kiev_are_the_capital(gaz: Gazetteer) -> None:
    kyiv, kiev = gaz.resolve("Kyiv"), gaz.resolve("Kiev")
    assert kyiv is not None and kiev is not None
    assert kyiv.geonameid == kiev.geonameid == 703448
    assert kyiv.name == "Kyiv"


def test_context_accepts_iso3_and_case(gaz: Gazetteer) -> None:
    assert gaz.resolve("Georgia", context=["usa"]) == gaz.resolve("Georgia", context=["US"])


def test_qualified_names(gaz: Gazetteer) -> None:
    paris_tx = gaz.resolve("Paris, Texas")
    alexandria = gaz.resolve("Alexandria, La.")
    assert paris_tx is not None and paris_tx.admin1_code == "US.TX"
    assert alexandria is not None and alexandria.admin1_code == "US.LA"
    dc = gaz.resolve("Washington, D.C.")
    assert dc is not None and dc.geonameid == 4140963


def test_span_is_attached(gaz: Gazetteer) -> None:
    span = Span(start=10, end=17, text="Latakia")
    place = gaz.resolve("Latakia", span=span)
    assert place is not None and place.span == span
    assert gaz.resolve("Latakia") is not None and gaz.resolve("Latakia").span is None  # type: ignore[union-attr]


# --------------------------------------------------------------------------- admin areas


def test_admin1_names(gaz: Gazetteer) -> None:
    idlib = gaz.candidates("Idlib")
    assert {p.feature for p in idlib} >= {"city", "admin1"}
    assert idlib[0].feature == "city"   # the bare name of a big city is the city
    province = gaz.resolve("Idlib province")
    assert province is not None and (province.feature, province.admin1_code) == ("admin1", "SY.12")
    governorate = gaz.resolve("Homs Governorate")
    assert governorate is not None and (governorate.feature, governorate.precision) == ("admin1", "admin1")
    assert governorate.name == "Homs Governorate"


@pytest.mark.parametrize(("name", "feature"), [("city of Homs", "city"), ("Kansas City", "city"),
                                               ("Washington state", "admin1"), ("Texas", "admin1"),
                                               ("Rapides Parish", "admin2")])
def test_hint_words(gaz: Gazetteer, name: str, feature: str) -> None:
    place = gaz.resolve(name)
    assert place is not None and place.feature == feature, place


# --------------------------------------------------------------------------- folding


def test_accent_folding(gaz: Gazetteer) -> None:
    assert fold("Ḩamāh") == fold("HAMAH") == fold("hamah")
    assert fold("Deir ez-Zor") == fold("Deir ez Zor")
    assert fold("Damascus's") == fold("Damascus")
    assert fold("The Hague") == fold("Hague")
    hama = gaz.resolve("Ḩamāh")
    assert hama is not None and hama.geonameid == 170017 and hama.name == "Hama"


@pytest.mark.parametrize("spelling", ["Deir ez-Zor", "Deir al-Zour", "Deir Ezzor", "Dayr az Zawr", "DEIR EZ-ZOR",
                                      "Deir Zor"])
def test_deir_ez_zor_spellings(gaz: Gazetteer, spelling: str) -> None:
    place = gaz.resolve(spelling, context=["SY"])
    assert place is not None and place.geonameid == 170794


# --------------------------------------------------------------------------- is_place, country


def test_is_place(gaz: Gazetteer) -> None:
    assert gaz.is_place("New York")
    assert gaz.is_place("Idlib province")
    assert not gaz.is_place("New York Times")
    assert not gaz.is_place("Times")
    assert not gaz.is_place("")


@pytest.mark.parametrize("query", ["SY", "SYR", "syr", "Syria", "Syrian Arab Republic"])
def test_country_lookup(gaz: Gazetteer, query: str) -> None:
    syria = gaz.country(query)
    assert syria is not None and (syria.geonameid, syria.country3, syria.feature) == (163843, "SYR", "country")


def test_country_lookup_misses(gaz: Gazetteer) -> None:
    assert gaz.country("Damascus") is None
    assert gaz.country("XX") is None


def test_candidates_are_ordered_and_limited(gaz: Gazetteer) -> None:
    found = gaz.candidates("Paris", limit=3)
    assert len(found) == 3 and found[0].country == "FR"
    assert gaz.candidates("Qwxzt") == []


def test_resolve_document_uses_the_other_names(gaz: Gazetteer) -> None:
    alone = gaz.resolve("Paris")
    together = resolve_document(gaz, ["Paris", "Texas", "Dallas", "Paris"])
    assert alone is not None and alone.country == "FR"
    assert together[0] is not None and together[0].admin1_code == "US.TX"
    assert together[0] == together[3]
    syria = resolve_document(gaz, ["Syria", "Homs", "Hama", "Lebanon"])
    assert [p.country if p else None for p in syria] == ["SY", "SY", "SY", "LB"]


def test_context_of() -> None:
    ctx = context_of([Place(name="Texas", country="US", admin1_code="US.TX", feature="admin1"),
                      Place(name="Austin", country="US", admin1_code="US.TX"), None])
    assert ctx == {"US": 2.0, "US.TX": 1.5}


# --------------------------------------------------------------------------- entity patterns


def test_entity_patterns_shape(gaz: Gazetteer) -> None:
    patterns = gaz.entity_patterns()
    texts = {p["pattern"] for p in patterns}
    assert all(p["label"] == "GPE" and p["id"].startswith(("geonames:", "region:")) for p in patterns)
    assert {"Syria", "Iran", "Damascus", "Aleppo", "Hama", "Deir ez-Zor", "Tehran", "Latakia", "Homs"} <= texts
    assert not texts & {"Times", "New York Times", "Reading", "Mobile", "Western", "Miss."}
    assert len(texts) == len(patterns)   # one id per spelling
    assert len(gaz.entity_patterns(1_000_000)) < len(patterns)


def test_entity_ruler_leaves_times_alone(gaz: Gazetteer) -> None:
    # How long the build takes is measured by benchmarks/bench_lookups.py, not asserted here.
    import spacy

    patterns = gaz.entity_patterns()
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(patterns)   # type: ignore[attr-defined]
    doc = nlp("The New York Times reported that rebels took Hama and Deir ez-Zor.")
    gpes = {(e.text, e.ent_id_) for e in doc.ents if e.label_ == "GPE"}
    assert ("Hama", "geonames:170017") in gpes and ("Deir ez-Zor", "geonames:170794") in gpes
    assert all("Times" not in text for text, _ in gpes)


# --------------------------------------------------------------------------- caching (speed: benchmarks/bench_lookups.py)


def test_open_is_cached(gaz: Gazetteer) -> None:
    assert Gazetteer.open() is gaz   # cached per path


def test_warm_lookups_repeat(gaz: Gazetteer) -> None:
    names = ["Damascus", "Georgia", "Paris", "Deir ez-Zor", "Idlib province"]
    first = [gaz.resolve(name, context=SAMPLE_CONTEXT) for name in names]
    assert [gaz.resolve(name, context=SAMPLE_CONTEXT) for name in names] == first


def test_shared_between_threads(gaz: Gazetteer) -> None:
    names = [f"{n}" for n in ("Aleppo", "Mosul", "Basra", "Kirkuk", "Erbil", "Sanaa", "Aden", "Benghazi")]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for name in names:
                assert gaz.candidates(name, limit=2)
        except BaseException as exc:   # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --------------------------------------------------------------------------- building


def _tiny_build(self: places._Builder) -> places._Built:
    """A two-place index: enough to test build mechanics without the 15-s real build."""
    self.out.places[170654] = places._Row(170654, "Damascus", "city", "SY", "SY.13", 33.5, 36.3, 1_569_394, 40)
    self.out.places[163843] = places._Row(163843, "Syria", "country", "SY", None, 35.0, 38.0, 16_906_283)
    self.out.countries.append(("SY", "SYR", 163843))
    self.out.admin1["SY.13"] = "Damascus Governorate"
    self.add_name("Damascus", 170654, 0, True)
    self.add_name("Syria", 163843, 0, True)
    return self.out


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(places._Builder, "run", _tiny_build)


@pytest.mark.usefixtures("tiny")
def test_build_is_announced_and_atomic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "gazetteer-000000000000.sqlite"
    stale.write_bytes(b"an older version")
    gaz = Gazetteer.open(tmp_path)
    assert "building gazetteer index (once)" in capsys.readouterr().err
    assert gaz.path.name == f"gazetteer-{places.index_version()}.sqlite"
    assert sorted(p.name for p in tmp_path.iterdir()) == [gaz.path.name]   # no temp file, no stale index
    damascus = gaz.resolve("damascus")
    assert damascus is not None and damascus.admin1 == "Damascus Governorate"
    Gazetteer.open(tmp_path)
    assert capsys.readouterr().err == ""   # built once


@pytest.mark.usefixtures("tiny")
def test_corrupt_index_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / f"gazetteer-{places.index_version()}.sqlite"
    path.write_bytes(b"not a database")
    assert Gazetteer.open(tmp_path).resolve("Syria") is not None


@pytest.mark.usefixtures("tiny")
def test_concurrent_builds_leave_one_complete_index(tmp_path: Path) -> None:
    path = tmp_path / "gazetteer-concurrent.sqlite"
    threads = [threading.Thread(target=places.build_index, args=(path,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM places").fetchone() == (2,)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_curated_data_is_well_formed() -> None:
    import json

    for name in ("aliases.jsonl", "regions.jsonl"):
        for line in (LANGUAGE_DIR / "places" / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            assert isinstance(record, dict)
    rules = json.loads((LANGUAGE_DIR / "places" / "rules.json").read_text(encoding="utf-8"))
    assert {"articles", "admin_words", "city_words", "pattern_stoplist"} <= set(rules)
