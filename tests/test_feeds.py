"""Following feeds: a local server serves an RSS feed that changes between polls, answers 304 when unchanged,
and links to fixture articles (one of them slow, one not HTML). ``follow --once`` twice adds exactly the new
articles and nothing twice.
"""

from __future__ import annotations

import datetime as dt
import http.server
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_web_ingest import EVACUATION, FixtureServer, Page, article_html
from tidings.follow import FollowPolicy, follow, poll_feed
from tidings.read.feeds import parse_every, parse_feed, read_feed_list
from tidings.read.web import FetchError, FetchPolicy, WebClient
from tidings.store.database import Store

STORIES = {
    "homs": ("Rebels reach Homs", "2024-12-06", EVACUATION),
    "talks": ("Talks in Doha", "2024-12-07", """Foreign ministers of Iran, Russia and Turkey met in Doha on \
Saturday to discuss the fighting in Syria, a Qatari official said, and called for an immediate halt to the \
offensive.

The ministers agreed to keep talking, the official said, while rebels said they would press on toward the \
capital Damascus."""),
    "aid": ("Aid convoy reaches Idlib", "2024-12-08", """A United Nations convoy carrying food and medicine \
reached the city of Idlib on Sunday, the World Food Programme said, after fighting had blocked the road for \
three days.

Aid workers said that thousands of families had fled their homes in the countryside of Hama and needed \
shelter before the winter."""),
}


def rss(base: str, items: list[tuple[str, str]]) -> bytes:
    """An RSS 2.0 feed; items are (guid, path) pairs, newest first as feeds list them."""
    entries = "".join(
        f"<item><title>{guid}</title><link>{base}{path}</link><guid>{guid}</guid>"
        f"<pubDate>Fri, 06 Dec 2024 0{n}:00:00 GMT</pubDate></item>"
        for n, (guid, path) in enumerate(items))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Levant Wire</title>'
            f"<link>{base}/</link><description>News</description>{entries}</channel></rss>").encode()


class ConditionalFeed:
    """Serves ``body`` with an ETag of its version, and 304 to a request that already has that version."""

    def __init__(self) -> None:
        self.version = 0
        self.body = b""
        self.not_modified = 0

    def set(self, body: bytes) -> None:
        self.version += 1
        self.body = body

    def __call__(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        etag = f'"v{self.version}"'
        if handler.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        handler.send_header("ETag", etag)
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body)


@pytest.fixture()
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FixtureServer, ConditionalFeed]]:
    monkeypatch.setenv("TIDINGS_ALLOW_PRIVATE_URLS", "1")
    feed = ConditionalFeed()
    with FixtureServer() as server:
        for slug, (title, date, body) in STORIES.items():
            server.pages[f"/{slug}"] = Page(article_html(title, date, body))
        server.pages["/feed.xml"] = Page(feed)
        yield server, feed


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'feeds.db'}") as opened:
        yield opened


POLICY = FetchPolicy(allow_private=True, read_timeout=1, deadline=3, retries=0)


def _poll(url: str, store: Store, engine: Any, **kwargs: Any) -> Any:
    with WebClient(POLICY) as client:
        return poll_feed(url, store=store, client=client, engine=engine, force=True, **kwargs)


def test_a_poll_analyses_new_items_then_only_what_changed(site: Any, store: Store, engine: Any) -> None:
    server, feed = site
    url = server.url("/feed.xml")
    feed.set(rss(server.base, [("talks", "/talks"), ("homs", "/homs")]))

    first = _poll(url, store, engine)
    assert (first.status, first.items, first.new, len(first.analyses)) == ("ok", 2, 2, 2)
    assert [a.document.title for a in first.analyses] == ["Rebels reach Homs", "Talks in Doha"]  # oldest first
    assert store.stats()["documents"] == 2

    unchanged = _poll(url, store, engine)
    assert unchanged.status == "not_modified" and feed.not_modified == 1

    feed.set(rss(server.base, [("aid", "/aid"), ("talks", "/talks"), ("homs", "/homs")]))
    second = _poll(url, store, engine)
    assert (second.status, second.items, second.new) == ("ok", 3, 1)
    assert [a.document.title for a in second.analyses] == ["Aid convoy reaches Idlib"]
    assert store.stats()["documents"] == 3
    article_requests = [path for path, _ in server.requests if path != "/feed.xml"]
    assert sorted(article_requests) == ["/aid", "/homs", "/talks"]          # each article fetched once

    state = store.feed(url)
    assert state["etag"] == '"v2"' and state["failures"] == 0 and state["title"] == "Levant Wire"
    doc = store.document(second.analyses[0].document.id)
    assert doc.url == server.url("/aid") and doc.meta["feed"] == url and doc.source_kind == "url"


def test_failing_items_are_recorded_retried_and_do_not_stop_the_others(site: Any, store: Store,
                                                                       engine: Any) -> None:
    server, feed = site
    server.pages["/image"] = Page(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, content_type="image/png")
    feed.set(rss(server.base, [("never", "/never"), ("gone", "/gone"), ("image", "/image"), ("homs", "/homs")]))
    url = server.url("/feed.xml")
    policy = FollowPolicy(max_attempts=3)

    report = _poll(url, store, engine, policy=policy)
    assert len(report.analyses) == 1
    assert sorted(f.code for f in report.failures) == ["E111", "E111", "E114"]
    assert {e["ref"] for e in store.errors()} == {server.url(p) for p in ("/gone", "/image", "/never")}

    feed.set(feed.body + b" ")                                 # a new version, same items
    again = _poll(url, store, engine, policy=policy)
    assert again.new == 2 and [f.code for f in again.failures] == ["E111", "E111"]   # 404s retried, PNG not
    server.pages["/gone"] = Page(article_html("Back again", "2024-12-09", STORIES["aid"][2]))
    feed.set(feed.body + b" ")
    third = _poll(url, store, engine, policy=policy)
    assert third.new == 2 and len(third.analyses) == 1       # the page that came back is analysed at last
    feed.set(feed.body + b" ")
    fourth = _poll(url, store, engine, policy=policy)
    assert fourth.new == 0                                   # /never had its three attempts
    assert [path for path, _ in server.requests].count("/never") == 3


def test_a_broken_feed_backs_off_and_is_reported(site: Any, store: Store, engine: Any) -> None:
    server, _feed = site
    server.pages["/not-a-feed"] = Page(b"<html><body>maintenance</body></html>")
    url = server.url("/not-a-feed")
    now = dt.datetime(2024, 12, 8, 12, 0)
    with WebClient(POLICY) as client:
        report = poll_feed(url, store=store, client=client, engine=engine, now=now)
        assert report.status == "failed" and "E117" in report.error
        state = store.feed(url)
        assert state["failures"] == 1 and state["next_poll_at"] == now + dt.timedelta(minutes=15)
        later = poll_feed(url, store=store, client=client, engine=engine, now=now + dt.timedelta(minutes=5))
        assert later.status == "backing_off"
        poll_feed(url, store=store, client=client, engine=engine, now=now + dt.timedelta(minutes=16))
    assert store.feed(url)["next_poll_at"] == now + dt.timedelta(minutes=16 + 30)   # doubled
    assert [e["code"] for e in store.errors()] == ["E117"]   # one row per feed and code: updated, not repeated


def test_follow_keeps_going_when_one_feed_fails(site: Any, store: Store, engine: Any) -> None:
    server, feed = site
    feed.set(rss(server.base, [("homs", "/homs")]))
    reports = follow([server.url("/missing.xml"), server.url("/feed.xml")], store=store, engine=engine,
                     client=WebClient(POLICY), once=True)
    assert [r.status for r in reports] == ["failed", "ok"]
    assert len(reports[1].analyses) == 1


def test_follow_once_twice_adds_exactly_the_new_articles(site: Any, tmp_path: Path, engine: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI, end to end: twice `follow --once`, the feed changing in between."""
    from typer.testing import CliRunner

    import tidings.pipeline
    from tidings.cli.main import app

    monkeypatch.setattr(tidings.pipeline, "Engine", lambda *a, **k: engine)   # one model load per session
    server, feed = site
    feeds_file = tmp_path / "feeds.txt"
    feeds_file.write_text(f"# our feeds\n{server.url('/feed.xml')}\n", "utf-8")
    db = f"sqlite:///{tmp_path / 'follow.db'}"
    runner = CliRunner()

    feed.set(rss(server.base, [("talks", "/talks"), ("homs", "/homs")]))
    first = runner.invoke(app, ["follow", str(feeds_file), "--once", "--db", db])
    assert first.exit_code == 0, first.output
    feed.set(rss(server.base, [("aid", "/aid"), ("talks", "/talks"), ("homs", "/homs")]))
    second = runner.invoke(app, ["follow", str(feeds_file), "--once", "--db", db])
    assert second.exit_code == 0, second.output
    assert "1 new" in second.output

    with Store(db) as store:
        docs = store.documents()
        assert sorted(d.title for d in docs) == sorted(t for t, _, _ in STORIES.values())
        assert len({d.id for d in docs}) == 3
        assert store.stats()["errors"] == 0
        events_after = store.count_events()
    third = runner.invoke(app, ["follow", str(feeds_file), "--once", "--db", db])
    assert third.exit_code == 0 and "not modified" in third.output
    with Store(db) as store:
        assert store.stats()["documents"] == 3 and store.count_events() == events_after


def test_parse_feed_reads_rss_and_atom() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><id>tag:a,2024:1</id><title>One</title><link href="https://example.org/1"/>
<updated>2024-12-06T10:00:00Z</updated></entry></feed>"""
    title, [item] = parse_feed(atom, "https://example.org/atom")
    assert title == "A" and item.link == "https://example.org/1" and item.published == dt.date(2024, 12, 6)
    assert len(item.key) == 64
    with pytest.raises(FetchError) as err:
        parse_feed(b"{not a feed", "https://example.org/x")
    assert err.value.code == "E117"


def test_durations_and_feed_lists(tmp_path: Path) -> None:
    assert [parse_every(x) for x in ("15m", "30s", "2h", "1d", "90")] == [900, 30, 7200, 86400, 90]
    with pytest.raises(Exception) as err:
        parse_every("soon")
    assert "E308" in str(err.value)
    listing = tmp_path / "feeds.txt"
    listing.write_text("https://a.example/rss\n\n# comment\nhttps://b.example/atom  # inline\n", "utf-8")
    assert read_feed_list([str(listing), "https://a.example/rss"]) == ["https://a.example/rss",
                                                                       "https://b.example/atom"]


def test_watch_rules_fire_on_followed_articles(site: Any, store: Store, engine: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    watch = pytest.importorskip("tidings.across.watch", reason="tidings.across.watch (watch rules) is not installed")
    calls: list[list[str]] = []
    monkeypatch.setattr(watch, "after_store", lambda _store, analyses: calls.append(
        [a.document.title for a in analyses]))
    server, feed = site
    feed.set(rss(server.base, [("homs", "/homs")]))
    _poll(server.url("/feed.xml"), store, engine)
    feed.set(feed.body + b" ")
    _poll(server.url("/feed.xml"), store, engine)             # nothing new: no call
    assert calls == [["Rebels reach Homs"]]
