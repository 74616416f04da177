"""Readers that turn files, directories, stdin, HTML and JSONL into :class:`~tidings.core.records.Document`.

Every reader yields either a ``Document`` or an :class:`InputFailure` — bad input never stops a batch,
it becomes a failure record that the caller stores and reports.
"""

from tidings.read.readers import (
    MAX_BYTES,
    MAX_CHARS,
    InputFailure,
    InputItem,
    read_html,
    read_jsonl,
    read_text,
)
from tidings.read.sources import read_inputs

__all__ = [
    "MAX_BYTES",
    "MAX_CHARS",
    "InputFailure",
    "InputItem",
    "read_html",
    "read_inputs",
    "read_jsonl",
    "read_text",
]
