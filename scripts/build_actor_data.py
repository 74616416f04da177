"""Build the generated actor tables in ``src/tidings/data/en/actors/``.

Two files are generated here; every other file in that folder is written by hand:

``countries.jsonl``
    One record per ISO 3166 country (plus Kosovo, which CAMEO codes ``KSV``): names from
    ``countrynames.txt`` (text_to_CAMEO, MIT) and ``pycountry``; demonyms, English alternative names and
    capitals from ``countryinfo`` (MIT).
``sectors_icews.jsonl``
    ICEWS sector names mapped to CAMEO agent codes, from ``agentnames.txt`` (text_to_CAMEO, MIT).

Hand-written additions and corrections (``America``, ``Kiev``, ``Kremlin``, ``Congolese`` → COD, …) live in
``states.jsonl``, which the loader reads before the generated file, so they win. Re-run after changing the
rules below:

    python scripts/build_actor_data.py [--eval-dir ../shared/eval/events]

``countryinfo`` is needed only here, not at run time (``pip install countryinfo==1.0.1``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

import pycountry

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "src" / "tidings" / "data" / "en" / "actors"
DEFAULT_EVAL_DIR = ROOT.parent / "shared" / "eval" / "events"

# Capitals are metonyms for a government only where a reader would take them so. Small states' capitals
# are mostly ambiguous words or towns elsewhere, so only capitals of countries with ≥ 1 million people are
# used, less these names, which mean something else far more often in English news.
MIN_CAPITAL_POPULATION = 1_000_000
AMBIGUOUS_CAPITALS = {
    "male", "victoria", "kingston", "georgetown", "santiago", "san jose", "hamilton", "stanley",
    "douglas", "jamestown", "plymouth", "saint john's", "sucre", "amsterdam", "nur-sultan",
    "washington d.c.", "city of victoria", "lobamba", "ramallah", "panama city", "saint-denis",
}
# Country names that are also common words or parts of other names ("New Jersey", "family reunion").
AMBIGUOUS_NAMES = {"jersey", "reunion", "man", "guernsey", "georgia south"}
# English words that mark an alternative spelling in countryinfo as an English name worth matching
# (the list also holds native-language names, which only add noise to the entity patterns).
ENGLISH_NAME_WORDS = {
    "republic", "kingdom", "state", "states", "federation", "commonwealth", "islands", "island",
    "principality", "sultanate", "emirates", "union", "confederation", "duchy", "territory", "democratic",
}
# Demonyms that take no plural "s" ("the Chinese", "the Swiss", "the Dutch").
INVARIANT_DEMONYM_ENDINGS = ("ese", "ish", "ch", "ss", "sh", "x")
# ICEWS sector rows that are left out, with why: the row lumps a group under an unrelated code
# (Karen → UIG, Han → KAS), or the name is a category label, not something a text says.
ICEWS_EXCLUDED = {
    "medical / health": "coded MED (media) in the source",
    "national religious": "coded REF (refugees) in the source",
    "religious majority": "coded REF (refugees) in the source",
    "religious minority": "coded REF (refugees) in the source",
    "han": "lumped under KAS (Kashmiri)",
    "acehnese": "lumped under KAS (Kashmiri)",
    "karen": "lumped under UIG (Uyghur); Karen armed groups are in groups.jsonl",
    "hmong": "lumped under UIG (Uyghur)",
    "assamese": "lumped under UIG (Uyghur)",
    "moro": "lumped under CKM (Chakma)",
    "ahmadiyya": "lumped under SIK (Sikh)",
    "shinto": "coded REL, not a CAMEO religion code",
    "daoist": "coded TAO but row id says REL",
    "local": "category label",
    "provincial": "category label",
    "municipal": "category label",
    "social": "category label",
    "elite": "category label (ELI in the third column)",
    "unaffiliated sectors": "category label",
    "international religious": "category label",
    "international ethnic": "category label",
    "national ethnic": "category label",
    "national ethnic majority": "category label",
    "national ethnic minority": "category label",
    "palestinian": "a demonym here (country PSE), not an ethnic code",
    "albanian": "a demonym here (country ALB)",
    "legal": "category label",
    "parties": "category label",
    "research and design wings": "category label",
    "general population": "category label",
    "entertainment": "category label",
}
# Codes kept from agentnames.txt: roles and the religious/ethnic codes that CAMEO defines. ETN and iSec
# are ICEWS placeholders without a CAMEO meaning; the IGO rows are category labels ("Energy NGOs"), and the
# named IGOs are in igos.jsonl.
ICEWS_CODE = re.compile(r"^(?:[A-Z]{3})+$")
ICEWS_DROPPED_CODES = {"ETN", "REL"}
ICEWS_DROPPED_PREFIXES = ("IGO",)
# Pieces left over when a category label is split at " / " ("Army Infantry / Regular" → "regular"),
# and bare adjectives that name no actor.
ICEWS_STOP_TERMS = {
    "regular", "training", "national", "global", "regional", "agricultural", "executive", "social",
    "local", "provincial", "municipal", "legal", "medical", "support", "headquarters", "tribunal",
}
ICEWS_HEAD_WORDS = {"ministry", "business", "court", "party", "mncs"}
# "Foreign Ministry" → "ministry of foreign affairs", not "ministry of foreign".
ICEWS_MINISTRY_FIELDS = {"foreign": "foreign affairs", "home": "home affairs", "ngo": None}
# CAMEO codes of roles (as opposed to religious and ethnic identities, which only apply when a phrase
# names no role: "Pakistani Shiites" → PAKMOSSHI, but "Shiite militias" → REB).
ROLE_CODES = {
    "GOV", "MIL", "COP", "JUD", "LEG", "OPP", "PTY", "REB", "CVL", "BUS", "MNC", "MED", "EDU", "LAB",
    "REF", "CRM", "UAF", "SPY", "ELI", "HLH", "HRI", "NGO", "IGO", "IMG", "INT", "AGR", "DEV", "ENV",
}
ORGANIZATION_HEADS = {
    "government", "cabinet", "office", "court", "business", "party", "house", "police", "military", "army",
    "navy", "force", "guard", "marines", "media", "news", "judicial", "legislative", "parliamentary",
    "unicameral", "divisions", "wings", "headquarters", "support", "medical", "education", "infantry",
    "intelligence", "corporation", "mncs", "labor", "entertainment",
}
HISTORIC_NAMES = {"netherlands antilles", "serbia and montenegro"}
# Codes in countrynames.txt that ISO 3166 has since replaced.
PRE_ISO_CODES = {"TMP": "TLS"}


def fold(text: str) -> str:
    """Accent-fold and lowercase, for comparing names (the loader has its own, richer normaliser)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower().strip()


def is_latin(text: str) -> bool:
    """True when the text is Latin script (after folding accents)."""
    return all(ord(ch) < 128 for ch in fold(text))


def read_countrynames(path: Path) -> list[tuple[str, str]]:
    """(name, CAMEO code) rows of text_to_CAMEO's countrynames.txt."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1] and parts[1] != "---":
            rows.append((parts[0].strip(), parts[1].strip()))
    return rows


def iso3_for(name: str, cameo: str, by_name: dict[str, str]) -> str | None:
    """Map a countrynames row to an ISO alpha-3 code.

    The file mixes ISO codes, CAMEO parent+territory codes (``USAASM``) and a pre-2002 code (``TMP``);
    the name (accent-folded) is the better key, the code the fallback. Kosovo keeps CAMEO's ``KSV``.
    """
    if fold(name) in by_name:
        return by_name[fold(name)]
    for candidate in (PRE_ISO_CODES.get(cameo, cameo[-3:]), cameo[:3]):
        if pycountry.countries.get(alpha_3=candidate):
            return candidate
    return cameo if len(cameo) == 3 else None


def pycountry_names() -> dict[str, str]:
    """Folded ISO short, common and official names → alpha-3."""
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value:
                names.setdefault(fold(value), country.alpha_3)
    return names


def read_countryinfo() -> dict[str, dict[str, Any]]:
    """countryinfo's per-country JSON, merged per alpha-3 (some countries have two files)."""
    import importlib.resources

    merged: dict[str, dict[str, Any]] = {}
    data_dir = importlib.resources.files("countryinfo") / "data"
    for entry in sorted(data_dir.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".json"):
            continue
        info = json.loads(entry.read_text(encoding="utf-8"))
        code = (info.get("ISO") or {}).get("alpha3")
        if not code:
            continue
        slot = merged.setdefault(code, {"names": [], "demonyms": [], "capitals": [], "alts": [], "population": 0})
        slot["names"].append(info.get("name") or "")
        slot["demonyms"].extend(d.strip() for d in (info.get("demonym") or "").split(",") if d.strip())
        capital = info.get("capital")
        slot["capitals"].extend(capital if isinstance(capital, list) else [capital] if capital else [])
        slot["alts"].extend(a for a in info.get("altSpellings") or [] if isinstance(a, str))
        slot["population"] = max(slot["population"], int(info.get("population") or 0))
    return merged


def plural_demonym(demonym: str) -> str | None:
    """'Iranian' → 'Iranians'; None for demonyms used unchanged as plurals ('Chinese')."""
    if demonym.lower().endswith(INVARIANT_DEMONYM_ENDINGS):
        return None
    return demonym + "s"


def english_alts(alts: list[str], alpha2: str, alpha3: str) -> list[str]:
    """The English alternative names in countryinfo's altSpellings (native-script names dropped)."""
    kept = []
    for alt in alts:
        alt = alt.strip()
        if not alt or "," in alt or alt in {alpha2, alpha3} or not is_latin(alt):
            continue
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", alt)}
        acronym = alt.isupper() and 3 <= len(alt) <= 4       # DRC, UAE, RSA
        if acronym or (words & ENGLISH_NAME_WORDS and alt[0].isupper()):
            kept.append(alt)
    return kept


def clean_name(name: str) -> str | None:
    """Drop names a text never uses ('Iran, Islamic Republic of'); strip a leading 'the'."""
    name = re.sub(r"\s*\(.*?\)\s*", " ", name).strip()
    if not name or "," in name:
        return None
    if name.lower().startswith("the "):
        name = name[4:]
    return name


def build_countries(eval_dir: Path) -> list[dict[str, Any]]:
    """One state record per country."""
    info = read_countryinfo()
    names_by_code: dict[str, list[str]] = defaultdict(list)
    by_name = pycountry_names()
    for name, cameo in read_countrynames(eval_dir / "countrynames.txt"):
        code = iso3_for(name, cameo, by_name)
        if code:
            names_by_code[code].append(name)

    codes = sorted({c.alpha_3 for c in pycountry.countries} | {c for c in names_by_code if len(c) == 3})
    records: dict[str, dict[str, Any]] = {}
    for code in codes:
        country = pycountry.countries.get(alpha_3=code)
        ci = info.get(code, {"names": [], "demonyms": [], "capitals": [], "alts": [], "population": 0})
        official = getattr(country, "official_name", None) if country else None
        common = getattr(country, "common_name", None) if country else None
        iso_name = country.name if country else None
        ci_name = next((n for n in ci["names"] if n and "," not in n and not n.startswith("Republic of")
                        and "(" not in n), None)
        canonical = clean_name(common or ci_name or iso_name or names_by_code[code][0])
        candidates = [canonical, common, iso_name, official, ci_name, *names_by_code[code],
                      *english_alts(ci["alts"], country.alpha_2 if country else "", code)]
        aliases: list[str] = []
        for candidate in candidates:
            cleaned = clean_name(candidate) if candidate else None
            if (cleaned and fold(cleaned) not in AMBIGUOUS_NAMES | HISTORIC_NAMES
                and cleaned not in aliases):
                aliases.append(cleaned)
        records[code] = {
            "code": code,
            "name": canonical,
            "aliases": aliases,
            "demonyms": [],
            "capitals": [],
            "country": code,
            "sector": None,
            "kind": "state",
            "population": ci["population"],
            "source": "countrynames.txt (text_to_CAMEO); pycountry; countryinfo",
            "_ci": ci,
        }

    _assign_demonyms(records)
    _assign_capitals(records)
    for record in records.values():
        del record["_ci"], record["population"]
    return [records[c] for c in sorted(records)]


def _assign_demonyms(records: dict[str, dict[str, Any]]) -> None:
    """Give each demonym to one country: the most populous claimant ('Congolese' → COD, 'French' → FRA)."""
    claims: dict[str, list[str]] = defaultdict(list)
    for code, record in records.items():
        for demonym in record["_ci"]["demonyms"]:
            claims[demonym].append(code)
    all_names = {fold(a) for r in records.values() for a in r["aliases"]}
    for demonym, codes in claims.items():
        owner = max(codes, key=lambda c: records[c]["population"])
        forms = [demonym, *([p] if (p := plural_demonym(demonym)) else [])]
        for form in forms:
            # A demonym that is another country's name ("Djibouti") stays a name, not an adjective.
            if fold(form) in all_names and form not in records[owner]["aliases"]:
                continue
            if form not in records[owner]["demonyms"] and form not in records[owner]["aliases"]:
                records[owner]["demonyms"].append(form)


def _assign_capitals(records: dict[str, dict[str, Any]]) -> None:
    """Capitals as government metonyms ('Tehran' → IRNGOV), where unambiguous."""
    claims: dict[str, set[str]] = defaultdict(set)
    for code, record in records.items():
        for capital in record["_ci"]["capitals"]:
            if capital:
                claims[fold(capital)].add(code)
    all_names = {fold(a) for r in records.values() for a in r["aliases"]}
    for code, record in records.items():
        if record["population"] < MIN_CAPITAL_POPULATION:
            continue
        for capital in record["_ci"]["capitals"]:
            key = fold(capital or "")
            if (not key or key in AMBIGUOUS_CAPITALS or key in all_names or len(claims[key]) > 1
                    or "/" in key):
                continue
            record["capitals"].append(capital)


def _icews_terms(name: str) -> list[str]:
    """'Agriculture / Fishing / Forestry Ministry' → agriculture ministry, fishing ministry, ...; plus
    the 'ministry of agriculture' and 'agriculture minister' forms that news text uses as often."""
    name = re.sub(r"\s*\(.*?\)", "", name).strip()
    parts = [p.strip() for p in name.split(" / ") if p.strip()]
    last_words = parts[-1].split()
    head = last_words[-1].lower() if len(last_words) > 1 else None
    if head in ICEWS_HEAD_WORDS and len(parts) > 1:
        parts = [p if p.lower().endswith(head) else f"{p} {last_words[-1]}" for p in parts]
    elif len(parts[0].split()) > 1:
        # "State-Owned Heavy Industrial / Chemical": the later parts qualify the first, not alone.
        parts = [p for p in parts if len(p.split()) > 1]
    terms: list[str] = []
    for part in parts:
        lowered = part.lower()
        terms.append(lowered)
        words = lowered.split()
        if len(words) >= 2 and words[-1] == "ministry":
            field = ICEWS_MINISTRY_FIELDS.get(" ".join(words[:-1]), " ".join(words[:-1]))
            if field:
                terms += [f"ministry of {field}", f"{' '.join(words[:-1])} minister", f"minister of {field}"]
    return [t for t in terms if t not in ICEWS_STOP_TERMS]


def build_icews_sectors(eval_dir: Path) -> list[dict[str, Any]]:
    """Sector records from agentnames.txt, grouped by CAMEO code.

    A term listed under two codes goes to the first, as the file lists the main sense first
    ("Military" → MIL before "Military / Tribunal" → JUD).
    """
    by_code: dict[str, list[str]] = defaultdict(list)
    claimed: set[str] = set()
    for line in (eval_dir / "agentnames.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        name, code = parts[0].strip(), parts[1].strip()
        bare = fold(re.sub(r"\s*\(.*?\)", "", name))
        if (not ICEWS_CODE.match(code) or code in ICEWS_DROPPED_CODES or code.startswith(ICEWS_DROPPED_PREFIXES)
                or "," in name or fold(name) in ICEWS_EXCLUDED or bare in ICEWS_EXCLUDED):
            continue
        for term in _icews_terms(name):
            if term not in claimed:
                claimed.add(term)
                by_code[code].append(term)
    records = []
    for code, terms in sorted(by_code.items()):
        by_kind: dict[str, list[str]] = defaultdict(list)
        for term in terms:
            by_kind[_icews_kind(term)].append(term)
        for kind, kind_terms in sorted(by_kind.items()):
            record: dict[str, Any] = {"code": code, "sector": code, "kind": kind, "terms": kind_terms}
            if code[:3] not in ROLE_CODES:
                record["identity"] = True
            record["source"] = "agentnames.txt (ICEWS via text_to_CAMEO)"
            records.append(record)
    return records


def _icews_kind(term: str) -> str:
    """'finance minister' → person, 'finance ministry' → organization, 'insurgents' → group."""
    words = term.split()
    if "minister" in words:
        return "person"
    if words[-1] in ORGANIZATION_HEADS or "ministry" in words:
        return "organization"
    return "group"


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """One compact JSON object per line, keys in a stable order, UTF-8 kept readable."""
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR,
                        help="folder holding countrynames.txt and agentnames.txt")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    countries = build_countries(args.eval_dir)
    sectors = build_icews_sectors(args.eval_dir)
    write_jsonl(args.out_dir / "countries.jsonl", countries)
    write_jsonl(args.out_dir / "sectors_icews.jsonl", sectors)
    print(f"countries.jsonl: {len(countries)} records; sectors_icews.jsonl: {len(sectors)} records",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
