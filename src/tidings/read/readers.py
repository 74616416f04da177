"""File, directory, stdin, HTML and JSONL readers."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidings.core.records import Document
from tidings.read.checks import decode_text, looks_binary, looks_english, parse_published

__all__ = ["MAX_BYTES", "MAX_CHARS", "InputFailure", "InputItem", "read_html", "read_jsonl", "read_path", "read_stream",
           "read_text", "readable_suffix"]

#: Articles are rarely above 200 kB; anything over this is almost surely not one article.
MAX_BYTES = 10 * 1024 * 1024
#: The longest text analysed, in characters (spaCy's own default limit, some 150 pages); longer ones are
#: refused with E119. Texts over ``tidings.pipeline.CHUNK_CHARS`` are parsed in parts, so the limit is ours,
#: not spaCy's: ``TIDINGS_MAX_CHARS`` changes it. Coding time grows faster than the length (some stages
#: look at every entity per sentence), so texts near the limit take minutes, not seconds.
MAX_CHARS = 1_000_000
# NUL and the C0/C1 control characters other than tab, line feed, form feed and carriage return: no news
# text needs them, PostgreSQL refuses NUL outright, and SQLite would store it. Removed on reading, the same
# for every source and every backend.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
TEXT_SUFFIXES = {".txt", ".text", ".md", ""}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
SIDECAR_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class InputFailure:
    """A document that could not be read; ``ref`` names it (path, ``path:line`` or ``<stdin>``)."""

    ref: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.ref}: {self.message} [{self.code}]"


InputItem = Document | InputFailure


@dataclass(frozen=True)
class Meta:
    """Metadata the user gives on the command line; it fills what the document does not say."""

    published: str | dt.date | None = None
    outlet: str | None = None
    url: str | None = None
    title: str | None = None


def readable_suffix(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith(".") or name.endswith(SIDECAR_SUFFIX):
        return False
    suffix = path.suffix.lower()
    return suffix in TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES


def read_path(path: Path, meta: Meta) -> Iterator[InputItem]:
    size = path.stat().st_size
    if size > MAX_BYTES:
        yield InputFailure(str(path), "E102", f"file too large ({size / 1e6:.1f} MB > {MAX_BYTES / 1e6:.0f} MB)")
        return
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from read_jsonl(path.read_bytes(), ref=str(path), defaults=meta)
        return
    meta = _with_sidecar(path, meta)
    data = path.read_bytes()
    if suffix in HTML_SUFFIXES:
        yield read_html(data, ref=str(path), published=meta.published, outlet=meta.outlet, url=meta.url)
    else:
        yield from read_stream(data, str(path), meta, kind="text")


def _with_sidecar(path: Path, meta: Meta) -> Meta:
    """``article.txt`` may have ``article.txt.meta.json`` or ``article.meta.json`` beside it."""
    for candidate in (path.with_name(path.name + SIDECAR_SUFFIX), path.with_suffix(SIDECAR_SUFFIX)):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text("utf-8"))
            except (OSError, ValueError):
                return meta
            # Command-line values win over the sidecar: the user said so explicitly.
            return Meta(
                meta.published or data.get("published"),
                meta.outlet or data.get("outlet"),
                meta.url or data.get("url"),
                meta.title or data.get("title"),
            )
    return meta


def read_stream(data: bytes, ref: str, meta: Meta, *, kind: str) -> Iterator[InputItem]:
    if len(data) > MAX_BYTES:
        yield InputFailure(ref, "E102", f"input too large (> {MAX_BYTES / 1e6:.0f} MB)")
        return
    if looks_binary(data):
        yield InputFailure(ref, "E103", "binary data, not text")
        return
    try:
        text = decode_text(data)
    except UnicodeDecodeError as exc:
        yield InputFailure(ref, "E104", f"not valid UTF-8 (byte {exc.start}); convert the file to UTF-8")
        return
    if text.lstrip()[:1] == "<" and "<html" in text[:2000].lower():
        yield read_html(data, ref=ref, published=meta.published, outlet=meta.outlet, url=meta.url)
        return
    yield read_text(text, ref=ref, kind=kind, **_meta_fields(meta))


def _meta_fields(meta: Meta) -> dict[str, Any]:
    return {"published": meta.published, "outlet": meta.outlet, "url": meta.url, "title": meta.title}


def read_text(
    text: str,
    *,
    ref: str = "<text>",
    kind: str = "text",
    published: str | dt.date | None = None,
    outlet: str | None = None,
    url: str | None = None,
    title: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> InputItem:
    """Validate a plain text and wrap it as a Document (or an InputFailure saying what is wrong)."""
    # A control character in the body becomes a space rather than vanishing, so character offsets into the
    # text (evidence spans, gold annotations) stay those of the source.
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text.strip():
        return InputFailure(ref, "E105", "empty document")
    limit = max_chars()
    if len(text) > limit:
        return InputFailure(ref, "E119", f"text too long ({len(text):,} characters > {limit:,}); split it into "
                            "separate documents (or raise TIDINGS_MAX_CHARS)")
    if not looks_english(text):
        return InputFailure(ref, "E106", "text does not look like English; tidings codes English news only")
    try:
        date = parse_published(published)
    except ValueError as exc:
        return InputFailure(ref, "E107", f"bad publication date: {exc}")
    if date is not None and date > dt.date.today() + dt.timedelta(days=2):
        return InputFailure(ref, "E107", f"bad publication date: {date} is in the future")
    return Document.from_text(
        text,
        title=strip_controls(title),
        url=strip_controls(url),
        outlet=strip_controls(outlet),
        published=date,
        source_kind=kind,
        path=None if ref.startswith("<") else ref,
        meta=_clean_meta(meta or {}),
    )


def max_chars() -> int:
    """:data:`MAX_CHARS`, or ``$TIDINGS_MAX_CHARS`` when set to a positive number."""
    value = os.environ.get("TIDINGS_MAX_CHARS", "")
    return int(value) if value.isdigit() and int(value) > 0 else MAX_CHARS


def strip_controls(value: Any) -> Any:
    """``value`` without NUL and other control characters (tab and line breaks stay); non-strings as is."""
    return _CONTROL.sub("", value) if isinstance(value, str) else value


def _clean_meta(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {strip_controls(str(k)): _clean_meta(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_meta(v) for v in value]
    return strip_controls(value)


def read_html(
    data: bytes | str,
    *,
    ref: str = "<html>",
    published: str | dt.date | None = None,
    outlet: str | None = None,
    url: str | None = None,
) -> InputItem:
    """Main text, title, date and site name of an HTML page, via trafilatura."""
    import trafilatura  # imported here: costs ~0.3 s and only HTML input needs it

    if isinstance(data, bytes) and looks_binary(data):
        return InputFailure(ref, "E103", "binary data, not HTML")
    try:
        extracted = trafilatura.bare_extraction(data, url=url, with_metadata=True)
        result = extracted.as_dict() if extracted is not None and hasattr(extracted, "as_dict") else extracted
    except Exception as exc:  # trafilatura raises many types on broken markup  # noqa: BLE001
        return InputFailure(ref, "E108", f"could not parse HTML ({type(exc).__name__})")
    if not result or not (result.get("text") or "").strip():
        return InputFailure(ref, "E108", "no article text found in the HTML")
    page_date = result.get("date")
    return read_text(
        result["text"],
        ref=ref,
        kind="html",
        published=published or page_date,
        outlet=outlet or result.get("sitename"),
        url=url or result.get("url"),
        title=result.get("title"),
        meta={k: result[k] for k in ("author", "hostname", "description") if result.get(k)},
    )


def read_jsonl(data: bytes | str, *, ref: str = "<jsonl>", defaults: Meta | None = None) -> Iterator[InputItem]:
    """One document per line: ``text`` (required), ``title``, ``url``, ``outlet``, ``published``, ``id``."""
    defaults = defaults or Meta()
    if isinstance(data, bytes):
        try:
            data = decode_text(data)
        except UnicodeDecodeError as exc:
            yield InputFailure(ref, "E104", f"not valid UTF-8 (byte {exc.start})")
            return
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        line_ref = f"{ref}:{number}"
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:   # RecursionError: "[[[[…" nested past Python's stack
            yield InputFailure(line_ref, "E109", f"invalid JSON ({getattr(exc, 'msg', 'nested too deeply')})")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            yield InputFailure(line_ref, "E109", "each line must be an object with a string field 'text'")
            continue
        extra = {k: v for k, v in row.items() if k not in {"text", "title", "url", "outlet", "published"}}
        yield read_text(
            row["text"],
            ref=line_ref,
            kind="jsonl",
            published=row.get("published") or defaults.published,
            outlet=row.get("outlet") or defaults.outlet,
            url=row.get("url") or defaults.url,
            title=row.get("title") or defaults.title,
            meta=extra,
        )
