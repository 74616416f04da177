"""Cheap checks that catch bad input before the NLP pipeline sees it."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["decode_text", "looks_binary", "looks_english", "parse_published"]

# The 60 most frequent English function words: an English news text of any length has many of them.
_ENGLISH = frozenset(
    ["the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "was", "with", "on", "by", "he", "be", "at", "are", "from", "this", "have", "an", "or", "which", "his", "not", "but", "had", "they", "has", "were", "their", "been", "its", "will", "after", "who", "said", "would", "more", "than", "one", "into", "about", "also", "over", "can", "new", "other", "all", "two", "could", "she", "we", "there", "when", "up", "out", "first"]
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KiB mean the file is not text."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return bool(head) and control / len(head) > 0.05


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM); raises UnicodeDecodeError on anything else."""
    return data.decode("utf-8-sig")


def looks_english(text: str, *, min_words: int = 30) -> bool:
    """True unless the text is long enough to judge and has almost no English function words.

    A stop-word ratio is crude but costs microseconds and needs no model; short snippets
    (headlines, test sentences) are given the benefit of the doubt.
    """
    words = _WORD.findall(text[:20000].lower())
    if len(words) < min_words:
        return True
    hits = sum(1 for w in words if w in _ENGLISH)
    return hits / len(words) >= 0.05


def parse_published(value: str | dt.date | None) -> dt.date | None:
    """Parse a publication date given by a user or a metadata field.

    Accepts ISO dates and ISO date-times; raises ValueError with a readable message otherwise.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).date()   # 3.11+: "Z" included
    except ValueError:
        raise ValueError(f"not a valid date: {text!r} (expected YYYY-MM-DD)") from None
