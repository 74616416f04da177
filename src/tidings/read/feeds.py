"""RSS and Atom feeds read into items: what a feed lists (guid, link, title, date, content), and the
feed lists and poll intervals a user gives. Reading only: following feeds (polling, fetching what is new,
analysing and storing it) is :mod:`tidings.follow`.

Needs ``feedparser`` (``pip install 'tidings[web]'``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import email.utils
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidings.core.errors import InputError
from tidings.read.readers import strip_controls
from tidings.read.web import FetchError, is_url

__all__ = ["FeedItem", "parse_every", "parse_feed", "read_feed_list"]


_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed: where the article is and what the feed says about it."""

    key: str
    guid: str | None
    link: str | None
    title: str | None
    published: dt.date | None
    content: str | None = None           # full HTML content, for feeds that carry the article itself
    bad_date: str | None = None          # the item's date as written, when it is not a real date (then
    #                                      published is None: an impossible date is never normalised into another)


# --------------------------------------------------------------------------------------------- parsing

def parse_every(text: str | float) -> float:
    """``"15m"`` → 900.0; plain numbers are seconds; units s, m, h, d."""
    if isinstance(text, (int, float)):
        return float(text)
    match = _EVERY.match(text)
    if not match or float(match.group(1)) <= 0:
        raise InputError(f"Not a duration: {text!r}.", code="E308", hint="Write it like 30s, 15m, 2h or 1d.")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def read_feed_list(sources: Sequence[str]) -> list[str]:
    """Feed URLs from arguments that are URLs or files with one URL per line (``#`` starts a comment)."""
    urls: list[str] = []
    for source in sources:
        if is_url(source):
            urls.append(source)
            continue
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{source!r} is neither a feed URL nor a file of feed URLs.", code="E309",
                             hint="Give http(s):// URLs, or a text file with one URL per line.")
        for line in path.read_text("utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                urls.append(line)
    return list(dict.fromkeys(urls))


def parse_feed(data: bytes, url: str, content_type: str | None = None) -> tuple[str | None, list[FeedItem]]:
    """The feed's title and its items, oldest first (feeds list newest first; storing oldest first keeps
    the store in publication order). Raises FetchError E117 when the bytes are not a feed, or not all of
    one (malformed or truncated XML: the items before the break are not trusted to be all there is)."""
    title, items, problem = _parse_feed(data, url, content_type)
    if problem:
        raise FetchError(problem, code="E117")
    return title, items


def _parse_feed(data: bytes, url: str, content_type: str | None) -> tuple[str | None, list[FeedItem], str | None]:
    """(title, items, problem): ``problem`` says why the XML is not well formed (truncated, broken), else
    None. Items read before the break are returned too, so a poll can keep them and still record the error."""
    from tidings.core.errors import IngestError
    from tidings.core.extras import require

    feedparser = require("feedparser", "web", "Reading feeds", code="E118", error=IngestError)

    headers = {"content-location": url, **({"content-type": content_type} if content_type else {})}
    parsed = feedparser.parse(data, response_headers=headers)
    reason = getattr(parsed, "bozo_exception", None)
    if not parsed.entries and (parsed.bozo or not parsed.version):
        raise FetchError(f"not a readable RSS/Atom feed ({reason or 'no RSS or Atom structure'})", code="E117")
    problem = None
    if parsed.bozo and not isinstance(reason, _benign_bozo()):
        problem = f"malformed or truncated feed ({type(reason).__name__}: {reason})"
    items = [_item(entry) for entry in parsed.entries]
    title = strip_controls(parsed.feed.get("title"))
    return title, list(reversed([i for i in items if i is not None])), problem


def _benign_bozo() -> tuple[type, ...]:
    """feedparser's complaints that do not mean the XML is broken (a charset or content type it overrode)."""
    import feedparser

    return tuple(getattr(feedparser, name) for name in ("CharacterEncodingOverride", "NonXMLContentType")
                 if hasattr(feedparser, name))


def _item(entry: Any) -> FeedItem | None:
    guid, link = strip_controls(entry.get("id")) or None, strip_controls(entry.get("link")) or None
    content = None
    if entry.get("content"):
        content = entry["content"][0].get("value")
    identity = guid or link or (f"{entry.get('title', '')}|{entry.get('published', '')}" if content else None)
    if identity is None:
        return None
    published, bad_date = _item_date(entry)
    return FeedItem(key=hashlib.sha256(identity.encode("utf-8")).hexdigest(), guid=guid, link=link,
                    title=strip_controls(entry.get("title")), published=published, content=content,
                    bad_date=bad_date)


_ISO_DATE = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}")
_MONTH_NAME = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.IGNORECASE)


def _item_date(entry: Any) -> tuple[dt.date | None, str | None]:
    """The item's date, or ``(None, raw)`` when what the feed wrote is not a real date. feedparser turns
    ``2024-13-45T99:99:99Z`` into a date by rolling the overflow over (2025-01-01); the raw text is checked
    strictly first, for the two formats feeds use (ISO 8601 / W3C and RFC 822)."""
    for parsed_key, raw_key in (("published_parsed", "published"), ("updated_parsed", "updated")):
        raw = entry.get(raw_key)
        moment = entry.get(parsed_key)
        if not raw and not moment:
            continue
        if raw and not _real_date(str(raw)):
            return None, str(raw)
        if moment:
            return dt.datetime.fromtimestamp(calendar.timegm(moment), dt.UTC).date(), None
        return None, str(raw)        # written, but feedparser could not read it either
    return None, None


def _real_date(raw: str) -> bool:
    text = raw.strip()
    if _ISO_DATE.match(text):
        try:
            dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            return True
        except ValueError:
            pass
        try:
            dt.date.fromisoformat(text[:10])
        except ValueError:
            return False
        clock = re.search(r"[T ](\d{1,2}):(\d{2})(?::(\d{2}))?", text)
        return clock is None or (int(clock.group(1)) < 24 and int(clock.group(2)) < 60
                                 and int(clock.group(3) or 0) < 61)
    if _MONTH_NAME.search(text):
        try:
            email.utils.parsedate_to_datetime(text)
            return True
        except (TypeError, ValueError, IndexError):
            return False
    return True   # another format feedparser knows: trust its reading




# --------------------------------------------------------------------------------------------- following
