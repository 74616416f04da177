"""RSS and Atom feeds: poll them, fetch only the new articles, analyse and store them (``tidings follow``).

Why it looks the way it does:

* **Cheap when nothing changed.** Each feed's ``ETag`` and ``Last-Modified`` are kept in the store (table
  ``feeds``), so a poll is a conditional GET and an unchanged feed answers 304 with no body.
* **Every item is remembered** (table ``feed_items``, keyed by a hash of its guid, else its link) with its
  status: ``done`` items are never fetched again, ``retry`` items (timeouts, HTTP errors) are tried again on
  later polls up to :attr:`FollowPolicy.max_attempts`, ``failed`` items (not HTML, not English, ...) never.
  An article already stored through another feed is not analysed twice (same content hash).
* **One failure costs only itself.** A feed that cannot be fetched or parsed, or an article that cannot be
  read, is recorded in the store's errors table and reported; the other feeds and items go on. A failing
  feed backs off exponentially (``every × 2^failures``, at most :attr:`FollowPolicy.max_backoff`); single
  fetches are already retried with backoff by :class:`~tidings.read.web.WebClient`.
* **One workflow.** A poll's new articles go through :func:`tidings.service.ingest` (analyse, store, link,
  fire watch rules), the same call as ``tidings analyze``, the API and ``tidings batch``.

Needs ``httpx`` and ``feedparser`` (``pip install 'tidings[web]'``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import email.utils
import hashlib
import importlib
import importlib.util
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidings.core.errors import IngestError, InputError
from tidings.core.records import Analysis, Document
from tidings.read.readers import InputFailure, read_html, strip_controls
from tidings.read.web import FetchError, WebClient, is_url

if TYPE_CHECKING:
    from tidings.pipeline import Engine
    from tidings.store.database import Store

__all__ = [
    "FeedItem",
    "FollowPolicy",
    "PollReport",
    "follow",
    "parse_every",
    "parse_feed",
    "poll_feed",
    "read_feed_list",
]

log = logging.getLogger(__name__)

FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json;q=0.5, application/xml;q=0.9, "
               "text/xml;q=0.9, */*;q=0.1")
#: Failures worth trying again on a later poll: network errors, HTTP errors and timeouts.
RETRY_CODES = frozenset({"E110", "E111", "E112"})
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class FollowPolicy:
    """How often to poll and how hard to try."""

    every: float = 900.0                 # seconds between polls of one feed
    max_attempts: int = 3                # tries per article before it is marked failed for good
    max_backoff: float = 6 * 3600.0      # a failing feed is polled at least this often


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


@dataclass
class PollReport:
    """What one poll of one feed did."""

    feed_url: str
    status: str = "ok"                   # ok, not_modified, failed, backing_off
    items: int = 0                       # entries in the feed
    new: int = 0                         # entries fetched this time (new or retried)
    analyses: list[Analysis] = field(default_factory=list)
    failures: list[InputFailure] = field(default_factory=list)
    error: str | None = None

    @property
    def events(self) -> int:
        return sum(len(a.events) for a in self.analyses)


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


# --------------------------------------------------------------------------------------------- polling

def poll_feed(url: str, *, store: Store, client: WebClient, engine: Engine, policy: FollowPolicy | None = None,
              force: bool = False, now: dt.datetime | None = None) -> PollReport:
    """Poll one feed: conditional GET, new items fetched and analysed, everything recorded in ``store``.

    Never raises for a bad feed or page: the report and the errors table say what went wrong. ``force``
    polls even a feed that is backing off.
    """
    policy = policy or FollowPolicy()
    now = now or _utcnow()
    report = PollReport(url)
    state = store.feed(url) or {}
    if not state:
        store.save_feed(url)          # first, so the items have their feed row to refer to
    if not force and state.get("next_poll_at") and state["next_poll_at"] > now:
        report.status = "backing_off"
        return report
    try:
        result = client.fetch(url, etag=state.get("etag"), last_modified=state.get("last_modified"),
                              accept=FEED_ACCEPT)
        if result.not_modified:
            report.status = "not_modified"
            store.save_feed(url, polled_at=now, ok_at=now, status=304, failures=0, next_poll_at=None, error=None)
            return report
        title, items, problem = _parse_feed(result.content, url, result.headers.get("content-type"))
    except FetchError as exc:
        return _feed_failed(report, store, state, exc, policy, now)
    report.items = len(items)
    _process_items(report, items, store=store, client=client, engine=engine, policy=policy)
    if problem:
        # The items read before the break are kept; the feed is recorded as failed (E117) and its validators
        # are not saved, so the next poll fetches it whole again.
        return _feed_failed(report, store, state, FetchError(problem, code="E117"), policy, now)
    # Validators are saved only now: had the items failed half way, the next poll must not get a 304.
    store.save_feed(url, title=title, etag=result.etag, last_modified=result.last_modified, polled_at=now,
                    ok_at=now, status=result.status, failures=0, next_poll_at=None, error=None)
    return report


def _feed_failed(report: PollReport, store: Store, state: dict[str, Any], exc: FetchError,
                 policy: FollowPolicy, now: dt.datetime) -> PollReport:
    failures = int(state.get("failures") or 0) + 1
    delay = min(policy.every * 2 ** (failures - 1), policy.max_backoff)
    report.status, report.error = "failed", f"[{exc.code}] {exc.message}"
    store.record_error(report.feed_url, exc.code, f"feed: {exc.message}")
    store.save_feed(report.feed_url, polled_at=now, status=exc.status, failures=failures, error=report.error,
                    next_poll_at=now + dt.timedelta(seconds=delay))
    log.warning("feed %s failed (%s); next try in %.0f s", report.feed_url, report.error, delay)
    return report


def _process_items(report: PollReport, items: Sequence[FeedItem], *, store: Store, client: WebClient,
                   engine: Engine, policy: FollowPolicy) -> None:
    known = store.feed_items(report.feed_url, [i.key for i in items])
    todo = [i for i in items if _wanted(known.get(i.key), policy)]
    report.new = len(todo)
    documents: list[tuple[FeedItem, Document]] = []
    for item in todo:
        attempts = int((known.get(item.key) or {}).get("attempts") or 0) + 1
        read = _read_item(item, client, report.feed_url)
        if isinstance(read, InputFailure):
            _item_failed(report, store, item, read, attempts, policy)
        elif store.has_document(read.id) or any(d.id == read.id for _, d in documents):
            _mark(store, report.feed_url, item, "done", attempts, doc_id=read.id)   # came in by another way
        else:
            documents.append((item, read))
    _analyse_and_store(report, documents, store=store, engine=engine, known=known)


def _wanted(row: dict[str, Any] | None, policy: FollowPolicy) -> bool:
    if row is None:
        return True
    return row["status"] == "retry" and int(row["attempts"] or 0) < policy.max_attempts


def _read_item(item: FeedItem, client: WebClient, feed_url: str) -> Document | InputFailure:
    meta = {"feed": feed_url, **({"feed_guid": item.guid} if item.guid else {}),
            **({"feed_date_invalid": item.bad_date} if item.bad_date else {})}
    if item.link:
        return client.read(item.link, published_fallback=item.published, title=item.title, meta=meta)
    read = read_html(item.content or "", ref=f"{feed_url}#{item.key[:12]}", published=item.published)
    if isinstance(read, InputFailure):
        return read
    return read.model_copy(update={"source_kind": "feed", "path": None, "meta": {**read.meta, **meta}})


def _item_failed(report: PollReport, store: Store, item: FeedItem, failure: InputFailure, attempts: int,
                 policy: FollowPolicy) -> None:
    report.failures.append(failure)
    retry = failure.code in RETRY_CODES and attempts < policy.max_attempts
    store.record_error(failure.ref, failure.code, failure.message)
    _mark(store, report.feed_url, item, "retry" if retry else "failed", attempts, error=str(failure))


def _analyse_and_store(report: PollReport, documents: list[tuple[FeedItem, Document]], *, store: Store,
                       engine: Engine, known: dict[str, dict[str, Any]]) -> None:
    if not documents:
        return
    from tidings.service import ingest

    # The one workflow (analyse → store → link → watch rules); webhooks get their moment after the round.
    done = ingest([d for _, d in documents], store, engine)
    for (item, document), outcome in zip(documents, done.outcomes, strict=True):
        attempts = int((known.get(item.key) or {}).get("attempts") or 0) + 1
        if outcome.failure is not None:
            report.failures.append(outcome.failure)
        if not outcome.stored:
            _mark(store, report.feed_url, item, "failed", attempts, error=str(outcome.failure))
            continue
        _mark(store, report.feed_url, item, "done", attempts, doc_id=document.id)
        report.analyses.append(outcome.analysis)
    for note in done.notes:
        log.warning("%s: %s", report.feed_url, note)


def _mark(store: Store, feed_url: str, item: FeedItem, status: str, attempts: int, *, doc_id: str | None = None,
          error: str | None = None) -> None:
    store.save_feed_items([{"feed_url": feed_url, "item_key": item.key, "guid": item.guid, "link": item.link,
                            "title": item.title, "published": item.published, "status": status,
                            "attempts": attempts, "doc_id": doc_id, "error": error}])


# --------------------------------------------------------------------------------------------- following

def follow(feeds: Iterable[str], *, store: Store, engine: Engine, client: WebClient | None = None,
           policy: FollowPolicy | None = None, once: bool = False,
           on_report: Callable[[PollReport], None] | None = None,
           stop: threading.Event | None = None) -> list[PollReport]:
    """Poll every feed, then (unless ``once``) again every ``policy.every`` seconds until ``stop`` is set.

    Returns the reports of the last round. ``on_report`` sees each report as it is made (the CLI prints it).
    """
    policy = policy or FollowPolicy()
    stop = stop or threading.Event()
    urls = list(feeds)
    own_client = client is None
    client = client or WebClient()
    try:
        while True:
            reports = []
            for url in urls:
                report = _poll_safely(url, store=store, client=client, engine=engine, policy=policy, force=once)
                reports.append(report)
                if on_report is not None:
                    on_report(report)
            _deliver_webhooks(store)
            if once or stop.wait(policy.every):
                return reports
    finally:
        if own_client:
            client.close()


def _deliver_webhooks(store: Store, budget: float = 10.0) -> None:
    """Queued alert webhooks get a bounded moment after each round (never in the middle of a feed)."""
    if importlib.util.find_spec("tidings.across.watch") is None:
        return
    try:
        importlib.import_module("tidings.across.watch").deliver_pending(store, budget=budget)
    except Exception:
        log.exception("webhook delivery failed; `tidings webhooks` retries")


def _poll_safely(url: str, **kwargs: Any) -> PollReport:
    """A programming error on one feed (or the store refusing a write) is reported, not raised: the other
    feeds still get polled."""
    try:
        return poll_feed(url, **kwargs)
    except (IngestError, InputError) as exc:
        return PollReport(url, status="failed", error=str(exc))
    except Exception as exc:
        log.exception("polling %s failed", url)
        return PollReport(url, status="failed", error=f"{type(exc).__name__}: {exc}")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
