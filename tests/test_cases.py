"""The must / must-not cases of ``tests/data/cases.jsonl``: real-style wire sentences from many regions.

Cases the engine does not handle yet are listed in ``tests/data/cases_known_failures.txt`` and run as
strict xfails: when one starts passing, the test fails until it is taken off the list, so the list can
only shrink. The share of passing cases is also pinned from below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cases_support import case_failures, load_cases

CASES = load_cases()
KNOWN = {line.split("#")[0].strip() for line in
         (Path(__file__).parent / "data" / "cases_known_failures.txt").read_text("utf-8").splitlines()} - {""}
MIN_PASS_RATE = 0.84


def _params() -> list:
    strict_xfail = [pytest.mark.xfail(strict=True, reason="known failure")]
    return [pytest.param(c, id=c["id"], marks=strict_xfail if c["id"] in KNOWN else []) for c in CASES]


@pytest.fixture(scope="module")
def analysed(engine):
    return {c["id"]: engine.analyze(c["text"], published=c.get("published"), outlet=c.get("outlet")) for c in CASES}


@pytest.mark.parametrize("case", _params())
def test_case(case, analysed):
    events = [e.model_dump(mode="json") for e in analysed[case["id"]].events]
    assert not case_failures(case, events), [(e["type"], e["evidence"]["trigger"]["text"]) for e in events]


def test_known_failures_exist_and_pass_rate(analysed):
    ids = {c["id"] for c in CASES}
    assert KNOWN <= ids, KNOWN - ids
    passing = sum(1 for c in CASES if not case_failures(c, [e.model_dump(mode="json")
                                                             for e in analysed[c["id"]].events]))
    assert passing / len(CASES) >= MIN_PASS_RATE, passing


def test_every_case_event_has_evidence(analysed):
    for case in CASES:
        analysis = analysed[case["id"]]
        for event in analysis.events:
            for span in event.evidence.values():
                assert analysis.document.text[span.start:span.end] == span.text
