"""Consistency checks for the knowledge files in ``src/tidings/data`` and the gold cases.

Fast and offline: no spaCy model is loaded. The reference tables under ``../shared/eval/events`` are used
when present (cross-checks are skipped otherwise).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, get_args

import pytest

from tidings.core.records import MODALITIES, SourceKind

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "tidings" / "data"
LANG = DATA / "en"   # the default language's files (data/<lang>/)
CASES = ROOT / "tests" / "data" / "cases.jsonl"
SHARED = ROOT.parent / "shared" / "eval" / "events"

TYPES = [
    "AGREE",
    "CONSULT",
    "SUPPORT",
    "CONCEDE",
    "COOPERATE",
    "AID",
    "RETREAT",
    "REQUEST",
    "ACCUSE",
    "REJECT",
    "THREATEN",
    "PROTEST",
    "SANCTION",
    "MOBILIZE",
    "COERCE",
    "ASSAULT",
]
QUAD = {
    "AGREE": 1,
    "CONSULT": 1,
    "SUPPORT": 1,
    "CONCEDE": 1,
    "COOPERATE": 2,
    "AID": 2,
    "RETREAT": 2,
    "REQUEST": 3,
    "ACCUSE": 3,
    "REJECT": 3,
    "THREATEN": 3,
    "PROTEST": 4,
    "SANCTION": 4,
    "MOBILIZE": 4,
    "COERCE": 4,
    "ASSAULT": 4,
}
MODELESS = {"AGREE", "SUPPORT", "CONCEDE", "COOPERATE", "AID"}  # PLOVER gives these no modes
VERB_FIELDS = {
    "lemma",
    "pos",
    "type",
    "mode",
    "cameo",
    "particle",
    "object",
    "not_object",
    "prep",
    "weight",
    "note",
}
ITEM_KEYS = {"type", "mode", "source", "target", "place", "date", "modality", "attribution", "anonymous"}
CASE_KEYS = {"id", "text", "published", "outlet", "must", "must_not", "note", "tags"}


@pytest.fixture(scope="module")
def plover() -> dict[str, Any]:
    return json.loads((DATA / "plover.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def verbs() -> list[dict[str, Any]]:
    lines = (LANG / "verbs.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def cues() -> dict[str, Any]:
    return json.loads((LANG / "cues.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    lines = CASES.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _roots(plover: dict[str, Any], typ: str) -> set[str]:
    t = plover["types"][typ]
    return set(t["cameo_roots"]) | set(t.get("cameo_roots_extended", []))


# ------------------------------------------------------------------------------------------ plover.json
def test_sixteen_types_with_quad_classes(plover: dict[str, Any]) -> None:
    assert list(plover["types"]) == TYPES
    for name, t in plover["types"].items():
        assert t["description"].strip(), name
        assert t["quad_class"] == QUAD[name] == t["gdelt_quad_class"], name
        assert plover["quad_classes"][str(t["quad_class"])] == t["quad_name"]
        assert isinstance(t["requires_recipient"], bool)


def test_every_type_has_modes_and_mode_descriptions(plover: dict[str, Any]) -> None:
    for name, t in plover["types"].items():
        assert isinstance(t["modes"], dict), name
        if name in MODELESS:
            assert t["modes"] == {}, f"{name}: PLOVER defines no modes"
            continue
        assert len(t["modes"]) >= 3, name
        for mode, m in t["modes"].items():
            assert re.fullmatch(r"[a-z][a-zA-Z-]*", mode), mode
            assert m["description"].strip(), (name, mode)
            assert m["versions"] and set(m["versions"]) <= {"2021", "2023"}, (name, mode)
            if "replaced_by" in m:
                assert m["replaced_by"] in t["modes"], (name, mode)
    assert {"aerial", "drone", "heavy-weapons"} <= set(plover["types"]["ASSAULT"]["modes"])
    assert {"withdraw", "release", "ceasefire", "resign"} <= set(plover["types"]["RETREAT"]["modes"])


def test_scores_refer_to_known_modes(plover: dict[str, Any]) -> None:
    for name, t in plover["types"].items():
        s = t["plover_score"]
        assert -10 <= s["type"] <= 10, name
        for mode, v in s["modes"].items():
            assert mode in t["modes"], (name, mode)
            assert -10 <= v <= 10
    assert (
        plover["types"]["ASSAULT"]["plover_score"]["type"]
        < 0
        < plover["types"]["AID"]["plover_score"]["type"]
    )


def test_acled_mapping_for_every_type(plover: dict[str, Any]) -> None:
    acled = plover["acled"]["event_types"]
    assert len(acled) == 6 and sum(len(v) for v in acled.values()) == 25
    keys = {
        "mode",
        "cameo",
        "lemma",
        "object",
        "words",
        "actor_kind",
        "source_sector",
        "target_sector",
        "armed_parties",
    }
    for name, t in plover["types"].items():
        rules = t["acled"]["rules"]
        assert rules and rules[-1]["when"] == {}, f"{name}: last ACLED rule must be the default"
        assert t["acled"]["note"].strip()
        for r in rules:
            assert set(r["when"]) <= keys, (name, r)
            for m in r["when"].get("mode", []):
                assert m is None or m in t["modes"], (name, m)
            if r["acled"] is not None:
                ev, sub = r["acled"]
                assert sub in acled[ev], (name, r["acled"])
    assert ["Explosions/Remote violence", "Air/drone strike"] in [
        r["acled"]
        for r in plover["types"]["ASSAULT"]["acled"]["rules"]
        if "aerial" in r["when"].get("mode", [])
    ]


def test_case2021_labels(plover: dict[str, Any]) -> None:
    case = plover["case2021"]
    labels = case["labels"]
    assert len(labels) == 30
    acled = plover["acled"]["event_types"]
    seen = set()
    for lab, d in labels.items():
        for p in d["plover"]:
            assert p["type"] in TYPES, lab
            assert p["mode"] is None or p["mode"] in plover["types"][p["type"]]["modes"], (lab, p)
        if d["acled"] is None:
            assert "unseen" in d["group"], lab
            assert d.get("note"), lab
            continue
        ev, sub = d["acled"]
        assert sub in acled[ev], lab
        seen.add((ev, sub))
        assert case["acled_to_case"][f"{ev}|{sub}"] == lab
    assert len(seen) == 25  # one label per ACLED sub-event type
    for lab in ("NATURAL_DISASTER", "MAN_MADE_DISASTER"):
        assert labels[lab]["plover"] == []
        assert "Not a PLOVER event type" in labels[lab]["note"]
    for name, t in plover["types"].items():
        assert set(t["case2021"]) <= set(labels), name
    tsv = SHARED / "case2021_task2_labels.tsv"
    if tsv.exists():
        rows = [ln.split("\t")[0] for ln in tsv.read_text(encoding="utf-8").splitlines()[1:] if ln.strip()]
        assert set(rows) == set(labels)


def test_codebook_sections(plover: dict[str, Any]) -> None:
    """The type knowledge tidings.core.codebook reads: every list names known types, sectors, CAMEO codes or
    modalities, and carries a "why" (a bare table with no reason is how copies in code drifted apart)."""
    sectors = plover["sectors"]
    for name in ("state", "state_combined", "armed"):
        assert sectors[name]["sectors"] and sectors[name]["why"].strip(), name
    assert all(len(s) == 3 and s.isupper() for s in sectors["state"]["sectors"] + sectors["armed"]["sectors"])
    combined = sectors["state_combined"]["sectors"]
    assert all(len(s) == 6 and s[:3] in sectors["state"]["sectors"] for s in combined)
    for name in ("theme_types", "place_target_types"):
        entry = plover["roles"][name]
        assert entry["types"] and set(entry["types"]) <= set(TYPES) and entry["why"].strip(), name
    graph = plover["graph"]
    relations = graph["relation_of_type"]["types"]
    assert set(relations) <= set(TYPES) and graph["relation_of_type"]["why"].strip()
    assert set(relations.values()) <= set(graph["stance"]["relations"]) and graph["stance"]["why"].strip()
    assert graph["capture_cameo"]["code"] in plover["cameo_codes"] and graph["capture_cameo"]["why"].strip()
    assert set(graph["no_edge_modalities"]["modalities"]) <= set(MODALITIES)
    assert graph["no_edge_modalities"]["why"].strip()
    cues = plover["case2021"]["natural_cues"]
    assert cues["words"] and all(w == w.lower() and " " not in w for w in cues["words"]) and cues["why"].strip()


def test_cameo_to_plover(plover: dict[str, Any]) -> None:
    codes = plover["cameo_codes"]
    contexts = set(plover["contexts"])
    table = plover["cameo_to_plover"]
    assert len(table) >= 250
    for code, e in table.items():
        assert code in codes, code
        assert e["type"] in TYPES, code
        assert e["mode"] is None or e["mode"] in plover["types"][e["type"]]["modes"], (code, e["mode"])
        assert set(e["contexts"]) <= contexts, code
        assert e["context"] == (e["contexts"][0] if e["contexts"] else None), code
        assert code[:2] in _roots(plover, e["type"]), code
    for r in plover["cameo_roots"].values():
        assert set(r["plover"]) <= set(TYPES)
        assert r["gdelt_quad_class"] in (1, 2, 3, 4)
    assert plover["cameo_roots"]["01"]["plover"] == [] and plover["cameo_roots"]["02"]["plover"] == []


def test_cameo_table_matches_the_reference_files(plover: dict[str, Any]) -> None:
    c2p = SHARED / "CAMEO2PLOVER-2021.txt"
    codefile = SHARED / "CAMEO_codefile.txt"
    if not (c2p.exists() and codefile.exists()):
        pytest.skip("reference tables not available")
    labels = set(
        re.findall(r"^LABEL:\s*(\d{2,4})=", codefile.read_text(encoding="utf-8"), flags=re.MULTILINE)
    )
    assert labels <= set(plover["cameo_codes"])
    for line in c2p.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(\d{2,4}):\s*([A-Z]+)", line)
        if not m or len(m.group(1)) == 2:
            continue
        assert plover["cameo_to_plover"][m.group(1)]["type"] == m.group(2), line


def test_modifier_tables(plover: dict[str, Any]) -> None:
    for typ, table in plover["mode_modifiers"].items():
        for word, mode in table.items():
            assert mode in plover["types"][typ]["modes"], (typ, word, mode)
    for lemma, table in plover["type_modifiers"].items():
        for word, target in table.items():
            if target is None:
                continue
            typ, mode = target
            assert typ in TYPES and (mode is None or mode in plover["types"][typ]["modes"]), (lemma, word)
    intent = plover["intent_recode"]
    for table in ("commit", "refuse"):
        for act, (typ, mode) in intent[table].items():
            assert act in TYPES and typ in TYPES and (mode is None or mode in plover["types"][typ]["modes"]), (table, act)
    for key, mode in intent["commit_modes"].items():
        act, act_mode = key.split("/")
        assert act_mode in plover["types"][act]["modes"] and mode in plover["types"]["THREATEN"]["modes"], key


# ------------------------------------------------------------------------------------------ verbs.jsonl
def test_verb_rows_are_valid(plover: dict[str, Any], verbs: list[dict[str, Any]]) -> None:
    seen = set()
    for i, r in enumerate(verbs, 1):
        where = f"verbs.jsonl:{i} {r.get('lemma')}"
        assert set(r) == VERB_FIELDS, where
        assert re.fullmatch(r"[a-z][a-z']*", r["lemma"]), where
        assert r["pos"] in ("VERB", "NOUN"), where
        assert r["type"] in TYPES, where
        assert r["mode"] is None or r["mode"] in plover["types"][r["type"]]["modes"], where
        assert r["cameo"] in plover["cameo_codes"], where
        assert r["cameo"][:2] in _roots(plover, r["type"]), where
        assert isinstance(r["weight"], (int, float)) and 0 < r["weight"] <= 1, where
        for key in ("particle", "prep"):
            assert r[key] is None or re.fullmatch(r"[a-z]+", r[key]), where
        for key in ("object", "not_object"):
            v = r[key]
            assert v is None or (
                isinstance(v, list) and v and all(re.fullmatch(r"[a-z0-9'é]+", x) for x in v)
            ), where
        assert isinstance(r["note"], str) and r["note"].strip(), where
        pattern = (
            r["lemma"],
            r["pos"],
            r["type"],
            r["mode"],
            r["cameo"],
            r["particle"],
            r["prep"],
            tuple(r["object"] or ()),
        )
        assert pattern not in seen, f"duplicate pattern {where}"
        seen.add(pattern)


def test_verb_coverage(verbs: list[dict[str, Any]]) -> None:
    assert len(verbs) >= 400
    per_type = Counter(r["type"] for r in verbs)
    nouns = Counter(r["type"] for r in verbs if r["pos"] == "NOUN")
    for t in TYPES:
        assert per_type[t] >= 10, f"{t}: {per_type[t]} triggers"
        assert nouns[t] >= 1, f"{t}: no nominal trigger"
    have = {(r["lemma"], r["pos"]) for r in verbs}
    for noun in (
        "evacuation",
        "attack",
        "airstrike",
        "protest",
        "talk",
        "ceasefire",
        "sanction",
        "offensive",
        "shelling",
        "withdrawal",
        "clash",
        "fighting",
        "truce",
    ):
        assert (noun, "NOUN") in have, noun
    for verb in (
        "evacuate",
        "flee",
        "capture",
        "seize",
        "redeploy",
        "deploy",
        "supply",
        "support",
        "overthrow",
        "fight",
        "withdraw",
        "shell",
        "arrest",
        "accuse",
        "threaten",
        "meet",
        "sign",
        "impose",
    ):
        assert (verb, "VERB") in have, verb


def _rows(verbs: list[dict[str, Any]], lemma: str, **kw: Any) -> list[dict[str, Any]]:
    return [r for r in verbs if r["lemma"] == lemma and all(r[k] == v for k, v in kw.items())]


def test_light_verbs_and_key_decisions(verbs: list[dict[str, Any]]) -> None:
    def by_object(lemma: str, obj: str) -> set[str]:
        return {r["type"] for r in _rows(verbs, lemma, pos="VERB") if r["object"] and obj in r["object"]}

    assert by_object("take", "control") == {"ASSAULT"}  # taking a place by force: CAMEO 192 under root 19
    assert "ASSAULT" in by_object("launch", "offensive")
    assert by_object("hold", "talk") == {"CONSULT"}
    assert "SANCTION" in by_object("impose", "sanction") and "COERCE" in by_object("impose", "curfew")
    assert by_object("sign", "agreement") == {"SUPPORT"}  # PLOVER: signing is SUPPORT
    assert by_object("reach", "agreement") == {"AGREE"}
    assert by_object("supply", "weapon") == {"AID"}
    assert "ASSAULT" in by_object("capture", "soldier")  # captured combatants: ASSAULT abduct
    assert {r["type"] for r in _rows(verbs, "capture", pos="VERB", object=None)} == {"ASSAULT"}
    assert {r["type"] for r in _rows(verbs, "occupy", pos="VERB", object=None)} == {"COERCE"}
    assert {r["mode"] for r in _rows(verbs, "evacuate", object=None)} == {"withdraw"}
    assert _rows(verbs, "pull", particle="out", type="RETREAT")
    # ambiguous verbs are down-weighted and guarded
    for lemma in ("hit", "strike", "fire", "support"):
        generic = [r for r in _rows(verbs, lemma, pos="VERB", object=None, prep=None, particle=None)]
        assert generic and max(r["weight"] for r in generic) <= 0.6, lemma
    fire = _rows(verbs, "fire", pos="VERB", type="ASSAULT", object=None, prep=None)
    assert fire and all({"employee", "staff"} <= set(r["not_object"] or []) for r in fire)


# ------------------------------------------------------------------------------------------ cues.json
def test_cue_lists(cues: dict[str, Any]) -> None:
    rv = {
        w
        for group in ("neutral", "assertive", "hedging", "denial", "accusing")
        for w in cues["reporting_verbs"][group]
    }
    for w in (
        "say",
        "tell",
        "report",
        "state",
        "announce",
        "claim",
        "add",
        "note",
        "write",
        "inform",
        "confirm",
        "deny",
        "accuse",
    ):
        assert w in rv, w
    for p in (
        "according to",
        "citing",
        "quoted by",
        "on condition of anonymity",
        "speaking on condition",
        "sources close to",
        "was reported by",
    ):
        assert p in cues["attribution_phrases"], p
    anon = cues["anonymity"]
    for p in ("people familiar with the matter", "a source", "on condition of anonymity"):
        assert p in anon["phrases"], p
    assert {"official", "source", "diplomat"} <= set(anon["heads"])
    hedge = (
        set(cues["hedge"]["modal_verbs"]) | set(cues["hedge"]["adverbs"]) | set(cues["hedge"]["adjectives"])
    )
    assert {
        "may",
        "might",
        "could",
        "reportedly",
        "allegedly",
        "possibly",
        "likely",
        "suspected",
        "unconfirmed",
    } <= hedge
    assert {"appear to", "seem to"} <= set(cues["hedge"]["phrases"])
    assert {"not", "never", "no"} <= set(cues["negation"]["particles"])
    assert {"deny", "refute"} <= set(cues["negation"]["verbs"])
    fut = cues["future"]
    assert {"will", "shall"} <= set(fut["auxiliaries"])
    assert {"going to", "plan to", "intend to", "expected to", "is to", "threaten to", "next week"} <= set(
        fut["phrases"]
    )
    hist = cues["historical"]
    assert {
        "has long",
        "for years",
        "throughout",
        "during the height of",
        "in the past",
        "previously",
        "formerly",
        "used to",
        "had been",
        "once",
    } <= set(hist["phrases"])
    for pat in hist["patterns"].values():
        re.compile(pat)
    assert re.search(hist["patterns"]["since_year"], "since 2011")
    assert {"begin", "start", "continue", "resume"} <= set(cues["aspectual_verbs"]["lemmas"])
    ctl = cues["control_verbs"]
    assert {"try", "attempt", "manage"} <= set(ctl["transparent"]) and "fail" in ctl["negating"]
    assert ctl["type_bearing"]["threaten"] == "THREATEN"
    assert set(ctl["type_bearing"].values()) <= set(TYPES)


def test_outlets(cues: dict[str, Any]) -> None:
    kinds = set(get_args(SourceKind))
    names: dict[str, str] = {}
    for o in cues["outlets"]:
        assert o["kind"] in kinds, o["name"]
        assert o["country"] is None or re.fullmatch(r"[A-Z]{3}", o["country"]), o["name"]
        assert isinstance(o["state_affiliated"], bool)
        for n in {o["name"], *o["aliases"]}:
            key = n.lower()
            assert key not in names or names[key] == o["name"], f"alias {n!r} used twice"
            names[key] = o["name"]
    for required in (
        "Reuters",
        "AP",
        "AFP",
        "The New York Times",
        "NYT",
        "Washington Post",
        "BBC",
        "Al Jazeera",
        "TASS",
        "RIA Novosti",
        "Interfax",
        "IRNA",
        "Tasnim",
        "SANA",
        "Ukrinform",
        "RBK-Ukraine",
        "Kyiv Independent",
        "Haaretz",
        "Times of Israel",
        "Anadolu",
        "Xinhua",
    ):
        assert required.lower() in names, required


# ------------------------------------------------------------------------------------------ cases.jsonl
def test_case_schema(plover: dict[str, Any], cases: list[dict[str, Any]]) -> None:
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids))
    for c in cases:
        assert set(c) <= CASE_KEYS and {"id", "text", "published", "must", "must_not"} <= set(c), c["id"]
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", c["id"]), c["id"]
        published = dt.date.fromisoformat(c["published"])
        assert c["must"] or c["must_not"], c["id"]
        text = c["text"].lower()
        for item in c["must"] + c["must_not"]:
            assert set(item) <= ITEM_KEYS and "type" in item, c["id"]
            assert item["type"] in TYPES, c["id"]
            if "mode" in item:
                assert item["mode"] in plover["types"][item["type"]]["modes"], c["id"]
            if "modality" in item:
                assert item["modality"] in MODALITIES, c["id"]
            for role in ("source", "target"):
                if role in item:
                    assert re.fullmatch(r"[A-Z]{3}[A-Z]*", item[role]), c["id"]
            if "date" in item and item["date"] != "undated":
                assert dt.date.fromisoformat(item["date"]) <= published, c["id"]
            if "place" in item:
                alts = item["place"] if isinstance(item["place"], list) else [item["place"]]
                assert all(isinstance(a, str) and a for a in alts), c["id"]
                assert any(a.lower() in text for a in alts if len(a) > 3), f"{c['id']}: place not in text"
            if "attribution" in item:
                for name in item["attribution"]:
                    assert name.lower() in text or name.lower() in (c.get("outlet") or "").lower(), c["id"]
            if "anonymous" in item:
                assert isinstance(item["anonymous"], bool), c["id"]


def test_case_coverage(cases: list[dict[str, Any]]) -> None:
    assert len(cases) >= 100
    per_type = Counter(t for c in cases for t in {m["type"] for m in c["must"]})
    for t in TYPES:
        assert per_type[t] >= 4, f"{t}: {per_type[t]} cases"
    tags = Counter(t for c in cases for t in c.get("tags", []))
    minimum = {
        "passive": 3,
        "coordination": 5,
        "negation": 4,
        "hedged": 4,
        "future": 4,
        "historical": 4,
        "quote": 2,
        "according_to": 2,
        "anonymous": 5,
        "weekday": 20,
        "false_positive": 5,
    }
    for tag, n in minimum.items():
        assert tags[tag] >= n, f"{tag}: {tags[tag]}"
    modalities = Counter(m.get("modality") for c in cases for m in c["must"])
    for mod in ("asserted", "negated", "hedged", "future", "historical"):
        assert modalities[mod] >= 3, mod


# ------------------------------------------------------------------------------------------ matching semantics
def expectation_matches(event: dict[str, Any], item: dict[str, Any]) -> bool:
    """Reference implementation of the case semantics in data/README.md (events as ``Event.model_dump()``)."""

    def actor_ok(actor: dict[str, Any] | None, want: str) -> bool:
        if not actor:
            return False
        return (actor.get("code") or "").startswith(want) or actor.get("country") == want

    for key, want in item.items():
        if key in ("type", "mode", "modality") and event.get(key) != want:
            return False
        if key == "source" and not actor_ok(event.get("source_actor"), want):
            return False
        if key == "target" and not actor_ok(event.get("target_actor"), want):
            return False
        if key == "place":
            place = event.get("place") or {}
            alts = want if isinstance(want, list) else [want]
            vals = {(place.get("name") or "").lower(), place.get("country"), place.get("country3")}
            if not any(a.lower() in vals or a in vals for a in alts):
                return False
        if key == "date":
            start = (event.get("when") or {}).get("start")
            got = "undated" if start is None else str(start)
            if got != want:
                return False
        if key == "attribution":
            names = [s["name"].lower() for s in event.get("attribution", [])]
            if not all(any(w.lower() in n for n in names) for w in want):
                return False
        if key == "anonymous" and any(s.get("anonymous") for s in event.get("attribution", [])) != want:
            return False
    return True


def test_reference_matcher() -> None:
    ev = {
        "type": "ASSAULT",
        "mode": "heavy-weapons",
        "modality": "asserted",
        "source_actor": {"code": "RUSMIL", "country": "RUS"},
        "target_actor": {"code": None, "country": "UKR"},
        "place": {"name": "Kharkiv", "country": "UA", "country3": "UKR"},
        "when": {"start": "2025-03-13"},
        "attribution": [
            {"name": "Reuters", "anonymous": False},
            {"name": "Oleh Syniehubov", "anonymous": False},
        ],
    }
    assert expectation_matches(
        ev,
        {
            "type": "ASSAULT",
            "source": "RUS",
            "target": "UKR",
            "place": ["Kharkiv", "UA"],
            "date": "2025-03-13",
            "attribution": ["syniehubov"],
            "anonymous": False,
        },
    )
    assert expectation_matches(ev, {"place": "UKR"})
    assert not expectation_matches(ev, {"type": "ASSAULT", "modality": "negated"})
    assert not expectation_matches(ev, {"source": "UKR"})
    assert not expectation_matches({**ev, "when": {"start": None}}, {"date": "2025-03-13"})
    assert expectation_matches({**ev, "when": {"start": None}}, {"date": "undated"})


def test_casualties_file_is_consistent() -> None:
    """data/en/casualties.json: every kind is a record kind, every qualifier a record qualifier, numbers are
    positive, no word is both a number and a qualifier, and the people nouns are lower case and unique."""
    from tidings.core.records import CASUALTY_KINDS, Qualifier

    data = json.loads((LANG / "casualties.json").read_text("utf-8"))
    assert set(data["kinds"]) == set(CASUALTY_KINDS)
    assert all(words["after"] or words["before"] for words in data["kinds"].values())
    qualifiers = {k: v for k, v in data["qualifiers"].items() if k != "why"}
    assert set(qualifiers.values()) <= set(get_args(Qualifier))
    assert not set(qualifiers) & set(data["numbers"])
    assert all(isinstance(v, int) and v > 0 for v in data["numbers"].values())
    assert all(isinstance(v, int) and v > 0 for k, v in data["vague"].items() if k != "why")
    assert {v for k, v in data["tolls"].items() if k != "why"} <= set(CASUALTY_KINDS)
    nouns = data["people"]["nouns"]
    assert nouns == sorted(set(nouns)) and all(n == n.lower() for n in nouns)
    assert not {"bird", "birds", "percent", "year", "dollars"} & set(nouns)
