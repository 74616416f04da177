"""Matching semantics of ``tests/data/casualty_cases.jsonl``: each ``must`` item is a figure some event of the
text carries, each ``must_not`` item one no event may carry. An item matches a figure when every key given
matches: ``kind``, ``low``, ``high``, ``qualifier``, ``background`` exactly; ``evidence`` a substring of the
figure's span (case-insensitive); ``source`` a substring of who says so; ``trigger`` the event's trigger text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CASES = Path(__file__).parent / "data" / "casualty_cases.jsonl"


def load_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CASES.read_text("utf-8").splitlines() if line.strip()]


def figures(events: list[Any]) -> list[dict[str, Any]]:
    """Every figure of ``events`` (records), with its event's trigger text."""
    return [{**c.model_dump(mode="json"), "trigger": e.evidence["trigger"].text}
            for e in events for c in e.casualties]


def _matches(figure: dict[str, Any], item: dict[str, Any]) -> bool:
    for key, want in item.items():
        if key == "evidence":
            if want.lower() not in figure["span"]["text"].lower():
                return False
        elif key == "source":
            if not figure.get("source") or want.lower() not in figure["source"].lower():
                return False
        elif figure.get(key) != want:
            return False
    return True


def case_failures(case: dict[str, Any], found: list[dict[str, Any]]) -> list[str]:
    problems = [f"missing {item}" for item in case["must"] if not any(_matches(f, item) for f in found)]
    problems += [f"forbidden {item}" for item in case["must_not"] if any(_matches(f, item) for f in found)]
    return problems
