"""Every source a user names, read in turn: files, directories, stdin and URLs, each into Documents or
:class:`~tidings.read.readers.InputFailure` records. Apart from the per-format readers because a URL is read
by :mod:`tidings.read.web`, which itself reads what it fetched with those readers.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from tidings.core.errors import IngestError
from tidings.read.readers import (
    MAX_BYTES,
    InputFailure,
    InputItem,
    Meta,
    read_path,
    read_stream,
    readable_suffix,
)

__all__ = ["read_inputs"]


def read_inputs(
    sources: Iterable[str | Path],
    *,
    published: str | dt.date | None = None,
    outlet: str | None = None,
    url: str | None = None,
    title: str | None = None,
    stdin: BinaryIO | None = None,
) -> Iterator[InputItem]:
    """Read every source: a file, a directory (recursively, sorted), ``-`` for stdin, or an ``http(s)://``
    URL (fetched by :mod:`tidings.read.web`, one connection pool for all of them)."""
    meta = Meta(published, outlet, url, title)
    web: _Web = _Web()
    try:
        for source in sources:
            if str(source) == "-":
                stream = stdin if stdin is not None else sys.stdin.buffer
                yield from read_stream(stream.read(MAX_BYTES + 1), "<stdin>", meta, kind="stdin")
                continue
            if _is_url(source):
                yield web.read(str(source), meta)
                continue
            path = Path(source)
            if path.is_dir():
                for child in sorted(p for p in path.rglob("*") if p.is_file()):
                    if readable_suffix(child):
                        yield from read_path(child, meta)
            elif path.exists():
                yield from read_path(path, meta)
            else:
                yield InputFailure(str(path), "E101", "no such file or directory")
    finally:
        web.close()


def _is_url(source: str | Path) -> bool:
    return isinstance(source, str) and source[:8].lower().startswith(("http://", "https://"))


class _Web:
    """The web client, opened on the first URL only (httpx and trafilatura cost an import each)."""

    def __init__(self) -> None:
        self._client: Any = None

    def read(self, url: str, meta: Meta) -> InputItem:
        from tidings.read.web import WebClient  # httpx and trafilatura: imported on the first URL only

        if self._client is None:
            try:
                self._client = WebClient()
            except IngestError as exc:
                return InputFailure(url, exc.code, f"{exc.message} {exc.hint or ''}".strip())
        return self._client.read(url, published=meta.published, outlet=meta.outlet, title=meta.title)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
