"""tidings: news reports in, evidenced and attributed PLOVER events out.

>>> import tidings
>>> analysis = tidings.analyze("Rebels captured Homs on Friday.", published="2024-12-07")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tidings.core import __version__
from tidings.core.records import (
    MODALITIES,
    Actor,
    Analysis,
    Document,
    Event,
    Mention,
    Place,
    Source,
    Span,
    When,
)
from tidings.core.settings import Settings

if TYPE_CHECKING:
    from tidings.pipeline import Engine, analyze


__all__ = [
    "MODALITIES",
    "Actor",
    "Analysis",
    "Document",
    "Engine",
    "Event",
    "Mention",
    "Place",
    "Settings",
    "Source",
    "Span",
    "When",
    "__version__",
    "analyze",
]


def __getattr__(name: str) -> Any:
    # The engine imports spaCy (about a second); load it only when it is asked for.
    if name in ("Engine", "analyze"):
        from tidings import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'tidings' has no attribute {name!r}")
