"""Actor dictionary and resolver: real-style phrases from several conflicts, must and must-not cases.

Fast and offline: no spaCy model is loaded (the pattern test uses ``spacy.blank("en")``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from tidings.core.records import Actor
from tidings.stages.actors import DEFAULT_DATA_DIR, ActorDataError, ActorDictionary

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT.parent / "shared" / "eval" / "events"
CODE = re.compile(r"^[A-Z]{3}(?:[A-Z0-9]{3})*$")


@pytest.fixture(scope="module")
def actors() -> ActorDictionary:
    return ActorDictionary.load()


def code_of(actors: ActorDictionary, phrase: str, context: str | None = None) -> str | None:
    actor = actors.resolve(phrase, context_country=context)
    return actor.code if actor else None


# ------------------------------------------------------------------ the sample article (Iran/Syria, Dec 2024)
@pytest.mark.parametrize(("phrase", "code"), [
    ("Iran", "IRN"),
    ("Tehran", "IRNGOV"),
    ("three Iranian officials", "IRNGOV"),
    ("Iranian military personnel", "IRNMIL"),
    ("the Iranian forces", "IRNMIL"),
    ("Iranian Revolutionary Guard Corps", "IRNMIL"),
    ("the Iranian Revolutionary Guard Corps (IRGC)", "IRNMIL"),
    ("IRGC bases", "IRNMIL"),
    ('senior commanders of the "Quds" forces', "IRNMIL"),
    ('two senior generals of the Iranian "Quds" forces', "IRNMIL"),
    ("these Iranian military generals", "IRNMIL"),
    ("the Syrian army", "SYRMIL"),
    ("Russian troops", "RUSMIL"),
    ("Iranian civilians", "IRNCVL"),
    ("Iranian officials and regional authorities", "IRNGOV"),
    ("the Iranian embassy in Damascus", "IRNGOV"),
    ("Iranian parliament member Ahmad Nadery", "IRNLEG"),
    ("Iranian analyst Mehdi Rahmati", "IRNEDU"),
    ("Iranian analyst Mehdi Rahmati, who advises officials on regional strategy", "IRNEDU"),
    ("President Bashar al-Assad", "SYRGOV"),
    ("Assad's government", "SYRGOV"),
    ("Assad's regime", "SYRGOV"),
    ("Bashar Assad's regime", "SYRGOV"),
    ("Assad's forces", "SYRMIL"),
    ("Islamist group Hayat Tahrir al-Sham", "SYRREBHTS"),
    ('the leader of the Islamist group "Hayat Tahrir al-Sham"', "SYRREBHTS"),
    ("Abu Mohammad al-Julani", "SYRREBHTS"),
    ('"Hezbollah" militants', "LBNREBHEZ"),
    ("ISIS jihadists", "IMGREBISI"),
    ('the Afghan brigade "Fatemiyoun"', "IRNMILFTM"),
    ("Pakistani Shiites", "PAKMOSSHI"),
    ("American journalists", "USAMED"),
    ("Iranians", "IRN"),
    ("Russia", "RUS"),
])
def test_sample_article_phrases(actors: ActorDictionary, phrase: str, code: str) -> None:
    assert code_of(actors, phrase) == code


def test_main_intelligence_directorate_is_ukrainian_military(actors: ActorDictionary) -> None:
    actor = actors.resolve("the Main Intelligence Directorate of the Ukrainian Ministry of Defense")
    assert actor is not None
    assert actor.country == "UKR" and actor.code in {"UKRMIL", "UKRGOV", "UKRGOVMIL"}


def test_rebels_take_the_context_country(actors: ActorDictionary) -> None:
    assert code_of(actors, "rebels") == "REB"
    assert code_of(actors, "the advancing rebels", "SYR") == "SYRREB"
    assert code_of(actors, "rebels", "syr") == "SYRREB"
    # A country in the phrase beats the context.
    assert code_of(actors, "Sudanese rebels", "SYR") == "SDNREB"


def test_united_nations(actors: ActorDictionary) -> None:
    actor = actors.resolve("the United Nations")
    assert actor == Actor(code="IGOUNO", name="United Nations", sector="IGO", kind="organization")


def test_bare_country_is_the_state(actors: ActorDictionary) -> None:
    actor = actors.resolve("the United States")
    assert actor is not None
    assert (actor.code, actor.country, actor.sector, actor.kind, actor.known) == ("USA", "USA", None, "state", True)
    assert actor.name == "United States"


def test_named_person_keeps_the_name_and_kind(actors: ActorDictionary) -> None:
    actor = actors.resolve("Iranian analyst Mehdi Rahmati")
    assert actor is not None
    assert (actor.name, actor.kind, actor.country, actor.sector) == ("Mehdi Rahmati", "person", "IRN", "EDU")
    assassin = actors.resolve("President Bashar al-Assad")
    assert assassin is not None and assassin.name == "Bashar al-Assad" and assassin.kind == "person"


def test_composed_name_drops_determiners_and_numbers(actors: ActorDictionary) -> None:
    actor = actors.resolve("three Iranian officials")
    assert actor is not None and actor.name == "Iranian officials" and actor.kind == "group"


# ------------------------------------------------------------------ must-not
@pytest.mark.parametrize("phrase", [
    "The New York Times",
    "the American newspaper The New York Times",
    "RBK-Ukraine",
    "Washington Post",
    "Iran International",
    "The Times of Israel",
    "Associated Press",
    "us",
    "who",
    "trump",            # the word, not the president
    "New York",
    "Iran's nuclear programme",
    "Damascus's key allies",
    "",
    "   ",
    "the weather",
])
def test_not_actors(actors: ActorDictionary, phrase: str) -> None:
    assert actors.resolve(phrase) is None


@pytest.mark.parametrize(("phrase", "code"), [
    ("Jordan", "JOR"),          # a person called Jordan is taken as the country: accepted
    ("Turkey", "TUR"),
    ("Türkiye", "TUR"),
    ("Georgia", "GEO"),
    ("Chad", "TCD"),
    ("Niger", "NER"),
    ("Nigeria", "NGA"),
    ("the US", "USA"),
    ("U.S. officials", "USAGOV"),
    ("US troops", "USAMIL"),
    ("WHO", "IGOUNOHLHWHO"),
    ("Trump", "USAGOV"),
])
def test_ambiguous_names(actors: ActorDictionary, phrase: str, code: str) -> None:
    assert code_of(actors, phrase) == code


def test_patron_country_is_not_the_actor(actors: ActorDictionary) -> None:
    assert code_of(actors, "Iranian-backed militias", "IRQ") == "IRQREB"
    assert code_of(actors, "pro-Iranian militias", "IRQ") == "IRQREB"
    assert code_of(actors, "Russian-installed officials") == "GOV"
    assert code_of(actors, "Turkish-backed Syrian National Army") == "SYRREBSNA"
    assert code_of(actors, "Iran-backed Houthis") == "YEMREBHTH"


# ------------------------------------------------------------------ regions
@pytest.mark.parametrize(("phrase", "context", "code"), [
    # Sudan
    ("the Rapid Support Forces", None, "SDNREBRSF"),
    ("the paramilitary Rapid Support Forces", None, "SDNREBRSF"),
    ("RSF fighters", None, "SDNREBRSF"),
    ("the Sudanese Armed Forces", None, "SDNMIL"),
    ("the Sudanese army", None, "SDNMIL"),
    ("Sudanese civilians", None, "SDNCVL"),
    ("Hemedti", None, "SDNREBRSF"),
    ("displaced people", "SDN", "SDNREF"),
    ("Burhan's forces", None, "SDNMIL"),
    # Ukraine and Russia
    ("Ukrainian President Volodymyr Zelensky", None, "UKRGOV"),
    ("Zelenskyy", None, "UKRGOV"),
    ("Ukrainian drones", None, "UKRMIL"),
    ("the Armed Forces of Ukraine", None, "UKRMIL"),
    ("Ukraine's military intelligence agency HUR", None, "UKRMIL"),
    ("the SBU", None, "UKRSPY"),
    ("Kremlin spokesman Dmitry Peskov", None, "RUSGOV"),
    ("the Kremlin", None, "RUSGOV"),
    ("Moscow", None, "RUSGOV"),
    ("Kiev", None, "UKRGOV"),
    ("Kyiv's forces", None, "UKRMIL"),
    ("Russian Foreign Ministry spokeswoman Maria Zakharova", None, "RUSGOV"),
    ("Moscow-backed separatists", "UKR", "UKRREB"),
    ("Wagner mercenaries", None, "RUSMILWGR"),
    ("Azov Brigade fighters", None, "UKRMIL"),
    # Gaza, Israel, Lebanon, Yemen
    ("Hamas", None, "PSEREBHMS"),
    ("the Qassam Brigades", None, "PSEREBHMS"),
    ("Palestinian Islamic Jihad militants", None, "PSEREBPIJ"),
    ("Palestinian civilians", None, "PSECVL"),
    ("Gaza's health ministry", None, "PSEGOVHLH"),
    ("the Israel Defense Forces", None, "ISRMIL"),
    ("the IDF", None, "ISRMIL"),
    ("Israeli warplanes", None, "ISRMIL"),
    ("Israeli settlers", None, "ISRCVL"),
    ("Israeli Prime Minister Benjamin Netanyahu", None, "ISRGOV"),
    ("Netanyahu's office", None, "ISRGOV"),
    ("Hezbollah leader Naim Qassem", None, "LBNREBHEZ"),
    ("the Lebanese army", None, "LBNMIL"),
    ("Houthi rebels", None, "YEMREBHTH"),
    ("Yemen's Houthis", None, "YEMREBHTH"),
    ("Ansar Allah", None, "YEMREBHTH"),
    # Sahel and West Africa
    ("JNIM militants", None, "MLIREBJNM"),
    ("Malian soldiers", None, "MLIMIL"),
    ("the Malian army and Wagner mercenaries", None, "MLIMIL"),
    ("Russia's Africa Corps", None, "RUSMIL"),
    ("Burkina Faso's junta", None, "BFAGOV"),
    ("jihadists", "BFA", "BFAREB"),
    ("Nigerien soldiers", None, "NERMIL"),
    ("Boko Haram insurgents", None, "NGAREBBKH"),
    ("ISWAP", None, "NGAREBISW"),
    ("al-Shabaab militants", None, "SOMREBSHB"),
    ("ECOWAS", None, "IGOWAFWAS"),
    # Great Lakes
    ("M23 rebels", None, "CODREBM23"),
    ("eastern Congo's M23", None, "CODREBM23"),
    ("Congolese soldiers", None, "CODMIL"),
    ("Rwandan troops", None, "RWAMIL"),
    ("Congo", None, "COD"),
    # Myanmar
    ("the Tatmadaw", None, "MMRMIL"),
    ("Myanmar's military junta", None, "MMRGOV"),
    ("Myanmar's military", None, "MMRMIL"),
    ("junta troops", "MMR", "MMRMIL"),
    ("the Arakan Army", None, "MMRREBARA"),
    ("the Arakan Army's fighters", None, "MMRREBARA"),
    ("resistance forces", "MMR", "MMRREB"),
    ("Min Aung Hlaing", None, "MMRGOV"),
    # Syria after December 2024
    ("the Syrian Democratic Forces", None, "SYRREBSDF"),
    ("the Kurdish-led SDF", None, "SYRREBSDF"),
    ("Syrian opposition fighters", None, "SYRREB"),
    ("the Syrian opposition", None, "SYROPP"),
    ("Syrian government forces", None, "SYRMIL"),
    ("Syrian Kurds", None, "SYRKUR"),
    ("Syrian Kurdish fighters", None, "SYRREB"),
    # International
    ("UN Secretary-General Antonio Guterres", None, "IGOUNO"),
    ("the UN Security Council", None, "IGOUNO"),
    ("Russian Security Council", None, "RUSGOV"),
    ("the UN refugee agency", None, "IGOUNOREFHCR"),
    ("NATO Secretary General Mark Rutte", None, "IGOWSTNAT"),
    ("the European Union", None, "IGOEUREEC"),
    ("the International Committee of the Red Cross", None, "NGOHLHIRC"),
    ("Doctors Without Borders", None, "NGOHLHMSF"),
    ("the IAEA", None, "IGOUNOIAE"),
    ("the International Criminal Court", None, "IGOJUDICC"),
    ("aid workers", None, "NGO"),
])
def test_regions(actors: ActorDictionary, phrase: str, context: str | None, code: str) -> None:
    assert code_of(actors, phrase, context) == code


# ------------------------------------------------------------------ normalisation
@pytest.mark.parametrize(("phrase", "code"), [
    ("hayat tahrir al-sham", "SYRREBHTS"),
    ("HAYAT TAHRIR AL-SHAM", "SYRREBHTS"),
    ("Hay\u2019at Tahrir al-Sham", "SYRREBHTS"),
    ("Erdoğan", "TURGOV"),
    ("Erdogan", "TURGOV"),
    ("Recep Tayyip Erdog\u0306an", "TURGOV"),   # decomposed (NFD) input
    ("Côte d'Ivoire", "CIV"),
    ("Cote d'Ivoire", "CIV"),
    ("Assad\u2019s government", "SYRGOV"),      # curly apostrophe
    ("the guards' personnel", "MIL"),
    ("Hizballah", "LBNREBHEZ"),
    ("al-Qaida", "IMGREBALQ"),
    ("Al Qaeda", "IMGREBALQ"),
    ("Daesh", "IMGREBISI"),
])
def test_case_accent_and_punctuation_insensitive(actors: ActorDictionary, phrase: str, code: str) -> None:
    assert code_of(actors, phrase) == code


def test_german_foreign_office_is_not_british(actors: ActorDictionary) -> None:
    assert code_of(actors, "the Foreign Office") == "GBRGOV"
    assert code_of(actors, "German Foreign Office") == "DEUGOV"
    assert code_of(actors, "the Ukrainian Department of Defense") == "UKRMIL"


def test_coordination_takes_the_first_actor_and_shared_head(actors: ActorDictionary) -> None:
    assert code_of(actors, "Iran and Russia") == "IRN"
    assert code_of(actors, "Russian and Syrian forces") == "RUSMIL"
    assert code_of(actors, "Hamas and Islamic Jihad") == "PSEREBHMS"


def test_former_gives_elite(actors: ActorDictionary) -> None:
    assert code_of(actors, "former President Donald Trump") == "USAELI"
    assert code_of(actors, "former Syrian President Bashar al-Assad") == "SYRELI"
    assert code_of(actors, "a former Iranian minister") == "IRNELI"


# ------------------------------------------------------------------ people over time
def test_offices_by_date(actors: ActorDictionary) -> None:
    def at(phrase: str, day: dt.date) -> str | None:
        actor = actors.resolve(phrase, as_of=day)
        return actor.code if actor else None

    assert at("Ahmed al-Sharaa", dt.date(2024, 12, 7)) == "SYRREBHTS"
    assert at("Ahmed al-Sharaa", dt.date(2025, 3, 1)) == "SYRGOV"
    assert at("Bashar al-Assad", dt.date(2024, 12, 7)) == "SYRGOV"
    assert at("Bashar al-Assad", dt.date(2025, 1, 15)) == "SYRELI"
    assert at("Donald Trump", dt.date(2023, 6, 1)) == "USAELI"
    assert at("Donald Trump", dt.date(2025, 6, 1)) == "USAGOV"
    # Without a date: the main code; a title or a co-named group picks the office.
    assert code_of(actors, "Ahmed al-Sharaa") == "SYRGOV"
    assert code_of(actors, "HTS leader Ahmed al-Sharaa") == "SYRREBHTS"
    assert code_of(actors, "President Ahmed al-Sharaa") == "SYRGOV"


def test_people_records_have_dates_and_valid_roles() -> None:
    for line in (DEFAULT_DATA_DIR / "people.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        assert record["kind"] == "person"
        assert record.get("as_of"), record["name"]
        for role in record.get("roles", []):
            assert CODE.match(role["code"]), role


# ------------------------------------------------------------------ unknown()
def test_unknown_person_with_title_and_country(actors: ActorDictionary) -> None:
    actor = actors.unknown("Sudanese Foreign Minister Ali Youssef", label="PERSON")
    assert actor == Actor(code="SDNGOV", name="Sudanese Foreign Minister Ali Youssef", country="SDN",
                          sector="GOV", kind="person", known=False)


def test_unknown_falls_back_to_context_country(actors: ActorDictionary) -> None:
    actor = actors.unknown("Ahmad Nadery", label="PERSON", context_country="IRN")
    assert (actor.known, actor.country, actor.sector, actor.code, actor.kind) == (False, "IRN", None, None, "person")


def test_unknown_organization_sector_from_title_word(actors: ActorDictionary) -> None:
    assert actors.unknown("Some Party", label="ORG", context_country="IRQ").code == "IRQPTY"
    assert actors.unknown("General Ali Hassan", label="PERSON", context_country="SYR").code == "SYRMIL"
    org = actors.unknown("Syrian Democratic Council", label="ORG")
    assert (org.country, org.code, org.kind) == ("SYR", None, "organization")
    assert actors.unknown("  Somebody   Else ").name == "Somebody Else"


# ------------------------------------------------------------------ country_code()
@pytest.mark.parametrize(("name", "code"), [
    ("Syria", "SYR"), ("Syrian", "SYR"), ("Damascus", "SYR"), ("the United States", "USA"),
    ("U.S.", "USA"), ("Congolese", "COD"), ("Gaza", "PSE"), ("SYR", "SYR"), ("Kyiv", "UKR"),
    ("us", None), ("Hezbollah", None), ("Atlantis", None), ("", None),
])
def test_country_code(actors: ActorDictionary, name: str, code: str | None) -> None:
    assert actors.country_code(name) == code


# ------------------------------------------------------------------ data integrity
def test_load_is_cached() -> None:
    # Load and resolve times are measured by benchmarks/bench_lookups.py, not asserted here.
    assert ActorDictionary.load() is ActorDictionary.load()
    assert ActorDictionary.load(DEFAULT_DATA_DIR) is ActorDictionary.load()


def test_only_known_alias_conflicts(actors: ActorDictionary) -> None:
    # Brussels: the EU, not Belgium's government; Congo: the DRC (states.jsonl says why).
    assert {key for key, _, _ in actors.conflicts} == {"brussels", "congo"}


def test_codes_are_cameo_shaped() -> None:
    for path in DEFAULT_DATA_DIR.glob("*.jsonl"):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            record = json.loads(line)
            if record["kind"] == "outlet":
                assert record["code"] is None
                continue
            assert CODE.match(record["code"]), f"{path.name}:{number} {record['code']}"
            if record.get("country"):
                assert record["code"].startswith(record["country"]), f"{path.name}:{number}"


def test_every_iso_country_is_covered(actors: ActorDictionary) -> None:
    import pycountry

    for country in pycountry.countries:
        assert actors.country_code(country.alpha_3) == country.alpha_3


def test_counts(actors: ActorDictionary) -> None:
    lines = {p.stem: p.read_text("utf-8").count("\n") for p in DEFAULT_DATA_DIR.glob("*.jsonl")}
    assert lines["countries"] >= 249
    assert lines["groups"] >= 60 and lines["people"] >= 100 and lines["igos"] >= 40
    assert len(actors) == sum(lines.values())


def test_readme_names_every_file() -> None:
    readme = (DEFAULT_DATA_DIR / "README.md").read_text("utf-8")
    for path in DEFAULT_DATA_DIR.glob("*.jsonl"):
        assert f"`{path.name}`" in readme


# ------------------------------------------------------------------ bad data fails with a place to fix
def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "groups.jsonl").write_text('{"code": "XXXREB", "name": "X", "kind": "group"}\n{oops\n', "utf-8")
    with pytest.raises(ActorDataError, match=r"groups\.jsonl:2"):
        ActorDictionary.load(tmp_path)


@pytest.mark.parametrize(("record", "message"), [
    ({"code": "IRNMIL", "name": "X", "kind": "militia"}, "kind"),
    ({"name": "X", "kind": "group"}, "code"),
    ({"code": "IRNMIL", "name": "X", "kind": "group", "alias": ["Y"]}, "unknown field"),
    ({"code": "IRNMIL", "name": "X", "kind": "group", "aliases": "Y"}, "list"),
    ({"code": "IRNGOV", "name": "X", "kind": "person", "since": "last year"}, "date"),
])
def test_bad_records_are_rejected(record: dict, message: str) -> None:
    with pytest.raises(ActorDataError, match=message):
        ActorDictionary.from_records([record])


def test_custom_records_and_priority() -> None:
    custom = ActorDictionary.from_records([
        {"code": "SYRREBXYZ", "name": "Lions of Test", "aliases": ["Lions of Test"], "country": "SYR",
         "sector": "REB", "kind": "group"},
        {"code": "SYR", "name": "Syria", "aliases": ["Syria"], "demonyms": ["Syrian"], "capitals": ["Damascus"],
         "country": "SYR", "sector": None, "kind": "state"},
        {"code": "MIL", "sector": "MIL", "kind": "group", "terms": ["troops"]},
        {"code": "TESTREB", "name": "Impostor", "aliases": ["Lions of Test"], "country": "TES", "sector": "REB",
         "kind": "group"},
    ])
    assert code_of(custom, "the Lions of Test") == "SYRREBXYZ"
    assert code_of(custom, "Syrian troops") == "SYRMIL"
    assert custom.conflicts == (("lions of test", "SYRREBXYZ", "TESTREB"),)


# ------------------------------------------------------------------ entity patterns
def test_entity_patterns_shape(actors: ActorDictionary) -> None:
    patterns = actors.entity_patterns()
    assert {p["label"] for p in patterns} == {"GPE", "NORP", "ORG", "PERSON"}
    found = {(p["pattern"], p["label"]): p["id"] for p in patterns}
    assert found[("Hayat Tahrir al-Sham", "ORG")] == "SYRREBHTS"
    assert found[("Fatemiyoun", "ORG")] == "IRNMILFTM"
    assert found[("Tehran", "GPE")] == "IRNGOV"
    assert found[("Iranian", "NORP")] == "IRN"
    assert found[("Bashar Assad", "PERSON")] == "SYRGOV"
    assert found[("Erdogan", "PERSON")] == "TURGOV"
    assert found[("Al-Qaeda", "ORG")] == "IMGREBALQ"
    # exact-case names only as written; outlets and common nouns are no patterns
    assert ("us", "GPE") not in found and ("US", "GPE") in found
    assert not any(p["pattern"] in {"New York Times", "troops", "officials"} for p in patterns)
    patterns[0]["id"] = "CHANGED"
    assert actors.entity_patterns()[0]["id"] != "CHANGED"


def test_entity_patterns_match_spacy_tokens(actors: ActorDictionary) -> None:
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(actors.entity_patterns())
    text = ("Hayat Tahrir al-Sham fighters entered Damascus as the Iranian Revolutionary Guard Corps and the "
            "Afghan brigade Fatemiyoun withdrew; Hezbollah and Bashar al-Assad's allies in Tehran watched. "
            "Kyiv said the U.S. and the UN were told.")
    ents = {(e.text, e.label_, e.ent_id_) for e in nlp(text).ents}
    assert ("Hayat Tahrir al-Sham", "ORG", "SYRREBHTS") in ents
    assert ("Iranian Revolutionary Guard Corps", "ORG", "IRNMIL") in ents
    assert ("Fatemiyoun", "ORG", "IRNMILFTM") in ents
    assert ("Bashar al-Assad", "PERSON", "SYRGOV") in ents
    assert ("Tehran", "GPE", "IRNGOV") in ents
    assert ("Damascus", "GPE", "SYRGOV") in ents
    assert ("U.S.", "GPE", "USA") in ents
    assert ("UN", "ORG", "IGOUNO") in ents


# ------------------------------------------------------------------ generated data is reproducible
def test_generated_files_match_the_build_script(tmp_path: Path) -> None:
    pytest.importorskip("countryinfo")
    if not (EVAL_DIR / "countrynames.txt").exists():
        pytest.skip("shared/eval/events is not beside the repository")
    import runpy

    build = runpy.run_path(str(ROOT / "scripts" / "build_actor_data.py"))
    assert build["main"](["--eval-dir", str(EVAL_DIR), "--out-dir", str(tmp_path)]) == 0
    for name in ("countries.jsonl", "sectors_icews.jsonl"):
        assert (tmp_path / name).read_text("utf-8") == (DEFAULT_DATA_DIR / name).read_text("utf-8"), name
