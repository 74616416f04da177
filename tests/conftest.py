"""Shared fixtures: one Engine (one spaCy model load) per test session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "iran-syria-evacuation.txt"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def engine():
    from tidings.pipeline import Engine

    return Engine()


@pytest.fixture(scope="session")
def sample_text() -> str:
    return SAMPLE.read_text("utf-8")


@pytest.fixture(scope="session")
def sample_analysis(engine, sample_text):
    return engine.analyze(sample_text, published=dt.date(2024, 12, 7))
