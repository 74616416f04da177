"""Matching semantics of ``tests/data/cases.jsonl`` (documented in ``src/tidings/data/README.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CASES = Path(__file__).parent / "data" / "cases.jsonl"


def load_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CASES.read_text("utf-8").splitlines() if line.strip()]


def expectation_matches(event: dict[str, Any], item: dict[str, Any]) -> bool:
    """True when ``event`` (``Event.model_dump(mode="json")``) satisfies every key of ``item``."""
    return all(_key_matches(event, key, want) for key, want in item.items())


def _actor_ok(actor: dict[str, Any] | None, want: str) -> bool:
    if not actor:
        return False
    return (actor.get("code") or "").startswith(want) or actor.get("country") == want


def _key_matches(event: dict[str, Any], key: str, want: Any) -> bool:
    if key in ("type", "mode", "modality"):
        return event.get(key) == want
    if key == "source":
        return _actor_ok(event.get("source_actor"), want)
    if key == "target":
        return _actor_ok(event.get("target_actor"), want)
    if key == "place":
        place = event.get("place") or {}
        values = {(place.get("name") or "").lower(), place.get("country"), place.get("country3")}
        return any(a.lower() in values or a in values for a in (want if isinstance(want, list) else [want]))
    if key == "date":
        start = (event.get("when") or {}).get("start")
        return ("undated" if start is None else str(start)) == want
    if key == "attribution":
        names = [s["name"].lower() for s in event.get("attribution", [])]
        return all(any(w.lower() in n for n in names) for w in want)
    if key == "anonymous":
        return any(s.get("anonymous") for s in event.get("attribution", [])) == want
    return True


def case_failures(case: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """What a case misses: each unmatched ``must`` item and each violated ``must_not`` item."""
    problems = []
    for item in case.get("must", []):
        if not any(expectation_matches(e, item) for e in events):
            problems.append(f"missing {item}")
    for item in case.get("must_not", []):
        bad = [e for e in events if expectation_matches(e, item)]
        if bad:
            problems.append(f"forbidden {item} matched {bad[0]['type']} '{bad[0]['evidence']['trigger']['text']}'")
    return problems
