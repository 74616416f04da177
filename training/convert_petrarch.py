"""Convert the PETRARCH unit-test records (CAMEO-coded validation sentences) to tidings training rows.

    # from a git mirror (repository and commit are read from it):
    python training/convert_petrarch.py --git-dir /path/to/petrarch2.git \
        --out training/corpus/petrarch_unittests.jsonl \
        --sources-md training/corpus/petrarch_unittests.SOURCES.md
    # or from a checked-out file (then say where it came from):
    python training/convert_petrarch.py PETR.UnitTest.records.xml --repo openeventdata/petrarch2 \
        --commit 676801cd9cb2... --path petrarch2/data/text/PETR.UnitTest.records.xml --out OUT.jsonl

Standard library only. Input: the XML record file ``PETR.UnitTest.records.xml`` of openeventdata/petrarch2
(``petrarch2/data/text/``) or openeventdata/petrarch (``petrarch/data/text/``; same content), MIT licence.
Each ``<Sentence id=... category=... sentence=...>`` holds
``<EventCoding sourcecode= targetcode= eventcode=>`` elements (the events PETRARCH is expected to produce),
or ``<EventCoding noevents="True">`` (expects none), or ``<EventCoding error="...">`` (expects a pipeline
error / discard), and a ``<Text>``.

Output rows (JSONL)::

    {"id": "petr-<record id>", "text", "label", "labels", "mode", "cameo", "source_code", "target_code",
     "events", "petr_category", "petr_enabled", "petr_note", "duplicate_ids", "origin", "licence"}

* ``label``/``mode``/``cameo``/``source_code``/``target_code`` come from the first *codable* expected event:
  one whose eventcode is in tidings' CAMEO->PLOVER table (src/tidings/data/plover.json ``cameo_to_plover``).
  ``labels`` lists the PLOVER types of all codable events, in order, without repeats.
* CAMEO 01x/02x codes (statements, appeals: PLOVER drops them) and codes that are not CAMEO codes at all
  (the validation dictionary's own test codes such as 222, 345, 901-915, 174K) are not codable. A record whose
  expected events are all uncodable is skipped (counted by reason), never labelled NONE.
* ``label: "NONE"`` (``labels: []``, ``mode``/``cameo``/codes null) only for records marked
  ``noevents="True"``. Skipped as well: ``error=`` records, records without any EventCoding (their expectation
  is implicit), and the FINAL-RECORD sentinel.
* Identical sentences (whitespace-normalised) are kept once, the first in file order; the others' ids go to
  ``duplicate_ids``; a duplicate with a different label set (the file re-tests some sentences with another
  parse tree) is also listed in ``duplicate_conflicts`` on the kept row and printed. A repeated record id
  (the file has two AGENTS-18 and two AGENTS-19) gets a ``.2`` suffix.

CAVEAT (read before training on the labels): the unit tests are coded with PETRARCH's *validation*
dictionaries, whose verb codes are mostly WEIS-derived and were "tweaked quite unsystematically" to exercise
program features (PETR.Validate.verbs.txt says so itself). Many eventcodes therefore do not carry their CAMEO
meaning (e.g. "restore diplomatic ties" -> 064 "share intelligence", "postponed their meeting" -> 191
"impose blockade"), and ``noevents`` means "the test dictionaries produce nothing", not "no event happens".
See the SOURCES file written with ``--sources-md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLOVER_JSON = ROOT / "src" / "tidings" / "data" / "plover.json"
RECORD_PATHS = (
    "petrarch2/data/text/PETR.UnitTest.records.xml",
    "petrarch/data/text/PETR.UnitTest.records.xml",
)
LICENCE = "MIT"
SENTINEL_IDS = {"FINAL-RECORD"}

SKIP_REASONS = {
    "error": "record expects a pipeline error or discard (error=dateline / bad_input_parse / storydiscard / "
    "sentencediscard), not an event or a non-event",
    "sentinel": "FINAL-RECORD sentinel ('ALL OF THE UNIT TESTS WERE CODED CORRECTLY.'), not a news sentence",
    "no_eventcoding": "record has no EventCoding element at all; its expectation is only implicit "
    "(comments), so it is not taken as an explicit no-event record",
    "only_01_02": "all expected events have CAMEO 01x/02x codes (statements/appeals), which PLOVER "
    "drops; the record does expect an event, so it is not NONE",
    "only_noncameo": "all expected events have codes that are not CAMEO codes (validation-dictionary test "
    "codes such as 066, 095, 096, 1010, 1717, 174K, 212, 222-224, 345, 802, 901-915)",
    "only_01_02_or_noncameo": "all expected events are CAMEO 01x/02x or non-CAMEO test codes",
    "duplicate_text": "identical sentence already kept (first occurrence in file order)",
}


NOTES_MD = """\
- The same file, byte-identical, is `petrarch/data/text/PETR.UnitTest.records.xml` in `openeventdata/petrarch`
  at commit `7b36d67e8e20` (PETRARCH 1).
- Licence: **MIT** — `LICENSE` in both repositories: "The MIT License (MIT) Copyright (c) 2014 Open Event
  Data". Keep that notice with the data.
- Licence doubt: a handful of sentences are quoted from wire news (ids `AFP...` are Agence France-Presse
  sentences; the record comments of `AFP0808020593-1a` say its parse was "provided by GigaWord", i.e. the LDC
  Gigaword corpus; `TABDEBUG-19`, `TextCodes-1/-2`, `ACTOR-13`, `COMPOUND-34/-35/-38...42` also read like news
  text). The repository's MIT grant cannot cover a third party's text; each is a single sentence. Most
  sentences were invented by the PETRARCH authors (Tolkien / Harry Potter names).
- CAMEO -> PLOVER type and mode: tidings' own `src/tidings/data/plover.json` (`cameo_to_plover`).

## Caveat: the event codes are test codes, not reliable CAMEO labels

The unit tests run against PETRARCH's validation dictionaries (`PETR.Validate.verbs.txt` and friends). That
verb dictionary says it "started out as part of a KEDS dictionary -- hence most of the codes are WEIS, not
CAMEO -- and then small parts of it were tweaked quite unsystematically to accommodate various unit tests". So
an eventcode often does not carry its CAMEO meaning: "restore full diplomatic ties" is 064 (share intelligence
-> COOPERATE; 43 of the 44 COOPERATE rows are this one template, the other is "renewed diplomatic ties"),
"welcomed a resumption of diplomatic ties" is 041 (discuss by telephone -> CONSULT), "postponed their meeting"
is 191 (impose blockade -> COERCE), "condemned an attack" is 122 (REJECT, not ACCUSE), "signed a trade
protocol" is 085 (ease sanctions -> RETREAT). Likewise `noevents="True"` means the test dictionaries code
nothing (unknown actor, misspelt verb, passive without an actor ...), not that no event is reported (e.g.
`TextCodes-2` "held a one-on-one meeting" and `PASSIVE-05` "Rebuked by Eriador ..." are NONE). Actor codes are
the validation dictionaries' fictional codes (ARN, GON, ...). Use these rows for regression / robustness
checks (actor handling, compounds, negation, passives) or as text to re-annotate, not as gold PLOVER labels.

## Manual check (2 Dec 2026)

30 random rows (seed 30) were compared by eye with the XML records: text, first codable eventcode, source and
target codes and `labels` matched the file in 30/30. Judged against the sentence itself, the PLOVER `label`
was plausible in only about 6 of 30 (SYNSET-11a, PASSIVE-03 AID; ACTOR-12 ASSAULT; DEMO-29 COERCE; two AFP
NONE rows); the rest carry test-dictionary codes (restore ties -> COOPERATE, welcomed resumption of ties ->
CONSULT/phone, delayed a meeting -> COERCE, met -> AGREE, condemned/deplored -> REJECT, rebuked / restore ties
with an unknown actor -> NONE).

## Rules

- `label`, `mode`, `cameo`, `source_code`, `target_code`: the first expected event whose code maps to a PLOVER
  type; `labels`: the PLOVER types of all codable expected events (in order, no repeats); `events`: every
  expected event as recorded (uncodable ones with `type: null`).
- `NONE` only for records with `noevents="True"`.
- `petr_enabled`: the record's `sentence` attribute (`false` = test switched off in PETRARCH, mostly features
  noted as "currently not implemented"); `petr_note`: the record's comments.
- Duplicate sentences: first kept, later ids in `duplicate_ids`; a duplicate whose expected events differ
  (same text re-tested with another parse tree) is also named in `duplicate_conflicts` on the kept row.
  Repeated record ids (the file has two `AGENTS-18` and two `AGENTS-19`) get `.2`."""


def load_plover(path: Path = PLOVER_JSON) -> tuple[dict[str, Any], dict[str, str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["cameo_to_plover"], data["cameo_codes"]


def read_source(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """Return ``[(origin, full commit, xml_text)]``."""
    out = []
    if args.git_dir:
        git = ["git", "--git-dir", args.git_dir]
        commit = subprocess.run(
            git + ["rev-parse", args.rev + "^{commit}"], check=True, capture_output=True, text=True
        ).stdout.strip()
        repo = args.repo or repo_from_mirror(args.git_dir)
        paths = args.path or [
            p
            for p in RECORD_PATHS
            if subprocess.run(
                git + ["cat-file", "-e", f"{commit}:{p}"], check=False, capture_output=True
            ).returncode
            == 0
        ]
        if not paths:
            sys.exit(f"no unit-test record file found in {args.git_dir} at {commit}; give --path")
        for p in paths:
            text = subprocess.run(git + ["show", f"{commit}:{p}"], check=True, capture_output=True).stdout
            out.append((f"{repo}@{commit[:12]}:{p}", commit, text.decode("utf-8")))
    for i, f in enumerate(args.files):
        if not (args.repo and args.commit):
            sys.exit("a record file given by path needs --repo and --commit for its origin")
        p = args.path[i] if args.path and i < len(args.path) else Path(f).name
        out.append((f"{args.repo}@{args.commit[:12]}:{p}", args.commit, Path(f).read_text(encoding="utf-8")))
    if not out:
        sys.exit("give record file path(s) or --git-dir")
    return out


def repo_from_mirror(git_dir: str) -> str:
    # /work/.mirror/owner+name/repo/.git -> owner/name
    for part in Path(git_dir).resolve().parts[::-1]:
        if "+" in part:
            owner, _, name = part.partition("+")
            return f"{owner}/{name}"
    sys.exit("cannot tell the repository from --git-dir; give --repo owner/name")


def norm(text: str) -> str:
    return " ".join(text.split())


def parse_records(xml_text: str) -> list[dict[str, Any]]:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(xml_text, parser=parser)
    records = []
    for sent in root.iter("Sentence"):
        notes, codings, text = [], [], None
        for child in sent:
            if child.tag is ET.Comment:
                c = norm(child.text or "")
                if c and not c.lower().startswith("last update"):
                    notes.append(c)
            elif child.tag == "EventCoding":
                codings.append({k.strip(): v for k, v in child.attrib.items()})
            elif child.tag == "Text":
                text = norm(child.text or "")
        records.append(
            {
                "id": sent.get("id", "").strip(),
                "category": sent.get("category"),
                "enabled": (sent.get("sentence") or "").strip().lower() == "true",
                "codings": codings,
                "text": text,
                "note": " | ".join(notes) or None,
            }
        )
    return records


def classify_code(code: str, c2p: dict[str, Any], cameo: dict[str, str]) -> str:
    if code in c2p:
        return "codable"
    if code in cameo and code[:2] in ("01", "02"):
        return "01_02"
    return "noncameo" if code not in cameo else "unmapped"


def convert(sources: list[tuple[str, str, str]], c2p: dict[str, Any], cameo: dict[str, str]):
    rows: list[dict[str, Any]] = []
    skipped: Counter = Counter()
    skipped_ids: dict[str, list[str]] = {}
    event_codes: Counter = Counter()
    uncodable_codes: Counter = Counter()
    by_text: dict[str, dict[str, Any]] = {}
    conflicts: list[str] = []
    seen_ids: Counter = Counter()
    n_records = 0

    def skip(reason: str, rid: str) -> None:
        skipped[reason] += 1
        skipped_ids.setdefault(reason, []).append(rid)

    for origin, _commit, xml_text in sources:
        for rec in parse_records(xml_text):
            n_records += 1
            seen_ids[rec["id"]] += 1
            rid = rec["id"] if seen_ids[rec["id"]] == 1 else f"{rec['id']}.{seen_ids[rec['id']]}"
            codings = rec["codings"]
            if rec["id"] in SENTINEL_IDS:
                skip("sentinel", rid)
                continue
            if any("error" in c for c in codings):
                skip("error", rid)
                continue
            if not codings:
                skip("no_eventcoding", rid)
                continue
            events, kinds = [], []
            noevents = any((c.get("noevents") or "").strip().lower() == "true" for c in codings)
            for c in codings:
                if "eventcode" not in c:
                    continue
                code = c["eventcode"].strip()
                kind = classify_code(code, c2p, cameo)
                kinds.append(kind)
                event_codes[code] += 1
                if kind != "codable":
                    uncodable_codes[(code, kind)] += 1
                m = c2p.get(code) or {}
                events.append(
                    {
                        "cameo": code,
                        "type": m.get("type"),
                        "mode": m.get("mode"),
                        "source_code": c.get("sourcecode"),
                        "target_code": c.get("targetcode"),
                    }
                )
            if noevents and events:
                sys.exit(f"record {rid} has both noevents and eventcodes")
            row: dict[str, Any] = {"id": f"petr-{rid}", "text": rec["text"]}
            if noevents:
                row.update(label="NONE", labels=[], mode=None, cameo=None, source_code=None, target_code=None)
            else:
                codable = [e for e in events if e["type"]]
                if not codable:
                    ks = set(kinds)
                    skip(
                        "only_01_02"
                        if ks == {"01_02"}
                        else "only_noncameo"
                        if ks <= {"noncameo", "unmapped"}
                        else "only_01_02_or_noncameo",
                        rid,
                    )
                    continue
                first = codable[0]
                labels = list(OrderedDict.fromkeys(e["type"] for e in codable))
                row.update(
                    label=first["type"],
                    labels=labels,
                    mode=first["mode"],
                    cameo=first["cameo"],
                    source_code=first["source_code"],
                    target_code=first["target_code"],
                )
            row.update(
                events=events,
                petr_category=rec["category"],
                petr_enabled=rec["enabled"],
                petr_note=rec["note"],
                duplicate_ids=[],
                origin=origin,
                licence=LICENCE,
            )
            key = rec["text"]
            if key in by_text:
                kept = by_text[key]
                kept["duplicate_ids"].append(row["id"])
                skip("duplicate_text", rid)
                if (kept["label"], kept["labels"]) != (row["label"], row["labels"]):
                    kept.setdefault("duplicate_conflicts", []).append(
                        f"{row['id']}: {row['label']} {row['labels']}"
                    )
                    conflicts.append(
                        f"{row['id']} ({row['label']} {row['labels']}) duplicates {kept['id']} "
                        f"({kept['label']} {kept['labels']})"
                    )
                continue
            by_text[key] = row
            rows.append(row)
    stats = {
        "records": n_records,
        "skipped": skipped,
        "skipped_ids": skipped_ids,
        "event_codes": event_codes,
        "uncodable_codes": uncodable_codes,
        "conflicts": conflicts,
    }
    return rows, stats


def sources_md(
    rows: list[dict[str, Any]], stats: dict[str, Any], origins: list[tuple[str, str]], out_name: str
) -> str:
    labels = Counter(r["label"] for r in rows)
    all_labels = Counter(t for r in rows for t in r["labels"])
    lines = [
        "# petrarch_unittests.jsonl: sources",
        "",
        f"Converted by `training/convert_petrarch.py` into `{out_name}`.",
        "",
        "## Origin",
        "",
    ]
    for o, commit in origins:
        repo, _, rest = o.partition("@")
        path = rest.partition(":")[2]
        lines.append(f"- repository `{repo}`, commit `{commit}`, file `{path}` (origin field `{o}`)")
    lines += [
        NOTES_MD,
        "",
        "## Counts",
        "",
        f"- records in file(s): {stats['records']}",
        f"- rows written: {len(rows)}",
        "",
        "Rows per `label`:",
        "",
        "| label | rows |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += ["", "Rows mentioning each PLOVER type in `labels`:", "", "| type | rows |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(all_labels.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += ["", "Rows per `mode` (first event):", ""]
    modes = Counter(r["mode"] for r in rows if r["label"] != "NONE")
    lines += [f"- {k}: {v}" for k, v in sorted(modes.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    lines += ["", "## Skipped records", "", "| reason | records | ids |", "|---|---|---|"]
    for reason, n in sorted(stats["skipped"].items(), key=lambda kv: -kv[1]):
        ids = ", ".join(stats["skipped_ids"][reason])
        lines.append(f"| {SKIP_REASONS[reason]} | {n} | {ids} |")
    lines += ["", "Uncodable expected events (inside kept or skipped records):", ""]
    kinds = {
        "01_02": "CAMEO 01/02 (dropped by PLOVER)",
        "noncameo": "not a CAMEO code",
        "unmapped": "CAMEO code without PLOVER mapping",
    }
    for (code, kind), n in sorted(stats["uncodable_codes"].items()):
        lines.append(f"- `{code}` ({kinds[kind]}): {n}")
    lines += [
        "",
        "Duplicate sentences with differing labels: "
        + ("; ".join(stats["conflicts"]) if stats["conflicts"] else "none"),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="record file(s) on disk")
    ap.add_argument("--git-dir", help="git directory of a petrarch/petrarch2 mirror (read with git show)")
    ap.add_argument("--rev", default="HEAD", help="revision in --git-dir (default HEAD)")
    ap.add_argument("--repo", help="owner/name for the origin field")
    ap.add_argument("--commit", help="commit for the origin field (files given by path)")
    ap.add_argument("--path", action="append", help="path of the record file inside the repository")
    ap.add_argument("--plover", default=str(PLOVER_JSON), help="tidings plover.json")
    ap.add_argument("--out", required=True, help="output JSONL")
    ap.add_argument("--sources-md", help="also write a SOURCES markdown file")
    args = ap.parse_args(argv)

    c2p, cameo = load_plover(Path(args.plover))
    sources = read_source(args)
    rows, stats = convert(sources, c2p, cameo)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    if args.sources_md:
        Path(args.sources_md).write_text(
            sources_md(rows, stats, [(o, c) for o, c, _ in sources], out.name), encoding="utf-8"
        )
    print(f"records: {stats['records']}  rows written: {len(rows)} -> {out}")
    print("rows per label:", dict(Counter(r["label"] for r in rows).most_common()))
    print("skipped:", dict(stats["skipped"]))
    if stats["conflicts"]:
        print("duplicate sentences with differing labels:", *stats["conflicts"], sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
