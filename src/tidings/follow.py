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

import datetime as dt
import importlib
import importlib.util
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidings.core.errors import IngestError, InputError
from tidings.core.records import Analysis, Document
from tidings.read.feeds import FeedItem, _parse_feed
from tidings.read.readers import InputFailure, read_html
from tidings.read.web import FetchError, WebClient

if TYPE_CHECKING:
    from tidings.pipeline import Engine
    from tidings.store.database import Store

__all__ = ["FollowPolicy", "PollReport", "follow", "poll_feed"]


log = logging.getLogger(__name__)


FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json;q=0.5, application/xml;q=0.9, "
               "text/xml;q=0.9, */*;q=0.1")


#: Failures worth trying again on a later poll: network errors, HTTP errors and timeouts.
RETRY_CODES = frozenset({"E110", "E111", "E112"})


@dataclass(frozen=True)
class FollowPolicy:
    """How often to poll and how hard to try."""

    every: float = 900.0                 # seconds between polls of one feed
    max_attempts: int = 3                # tries per article before it is marked failed for good
    max_backoff: float = 6 * 3600.0      # a failing feed is polled at least this often


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
