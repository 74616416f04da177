"""Hostile input, as an attacker or a careless user would give it (issue 12: nothing lost, nothing let in).

* A local HTTP server on 127.0.0.1 (a thread; every handler loop is bounded and stops by itself) serves slow,
  redirecting, huge and malformed pages and feeds, and plays a webhook that never answers. DNS rebinding is
  played by a fake resolver: nothing here leaves the machine.
* Long documents (over spaCy's limit, made small for the test) and NUL-bearing documents go through every
  face: ``analyze``, ``batch``, ``follow`` and the API. Each must keep every other document.
* ``analyze`` and ``batch`` are killed (SIGKILL) mid-run and resumed: nothing lost, nothing twice.

No assertion here is about elapsed time (speed goals are benchmarks): they count requests, bytes, rows.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tidings import pipeline, service
from tidings.core.records import Document
from tidings.read import InputFailure, read_jsonl
from tidings.read.web import FetchError, FetchPolicy, WebClient
from tidings.store.database import Store

pytest.importorskip("httpx", reason="the outbound policy needs httpx: pip install 'tidings[web]'")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = (ROOT / "examples" / "iran-syria-evacuation.txt").read_text("utf-8")
SHORT = ["Foreign ministers of Iran, Russia and Turkey met in Doha on Saturday to discuss the fighting in Syria, "
         f"a Qatari official said. Talk number {n} ended without an agreement." for n in range(4)]
LOCAL = ("127.0.0.0/8",)
TOO_LONG = ("The council met again on Monday and said it would meet again. " * 600).strip()   # > 30,000
runner = CliRunner()


# ------------------------------------------------------------------------------------------- the server

class Hostile(BaseHTTPRequestHandler):
    """Routes by path; ``server.routes[path](handler)`` answers. Every loop below has a fixed bound."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.requests.append((self.command, self.path, self.headers.get("Host")))  # type: ignore[attr-defined]
        if self.command == "POST":
            self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = self.server.routes.get(self.path.split("?")[0])  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the client gave up, as it should

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


class HostileServer:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}      # type: ignore[attr-defined]
        self.httpd.requests = []    # type: ignore[attr-defined]
        self.stop = threading.Event()
        self.sent: dict[str, int] = {}
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, answer: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.httpd.routes[path] = answer  # type: ignore[attr-defined]

    @property
    def requests(self) -> list[tuple[str, str, str]]:
        return self.httpd.requests  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ answers
    def page(self, body: bytes, content_type: str = "text/html; charset=utf-8", status: int = 200
             ) -> Callable[[BaseHTTPRequestHandler], None]:
        def answer(h: BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        return answer

    def redirect(self, location: str) -> Callable[[BaseHTTPRequestHandler], None]:
        def answer(h: BaseHTTPRequestHandler) -> None:
            h.send_response(302)
            h.send_header("Location", location)
            h.send_header("Content-Length", "0")
            h.end_headers()
        return answer

    def drip(self, name: str, total: int = 200, pause: float = 0.1) -> Callable[[BaseHTTPRequestHandler], None]:
        """One byte every ``pause`` seconds, ``total`` bytes at most (then it stops by itself)."""
        def answer(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", str(total))
            h.end_headers()
            for _ in range(total):
                if self.stop.wait(pause):
                    return
                h.wfile.write(b"a")
                h.wfile.flush()
                self.sent[name] = self.sent.get(name, 0) + 1
        return answer

    def flood(self, name: str, megabytes: int = 4) -> Callable[[BaseHTTPRequestHandler], None]:
        """A body with no Content-Length, ``megabytes`` MB at most, in 64 kB chunks."""
        def answer(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Connection", "close")
            h.end_headers()
            chunk = b"word " * 13_000
            for _ in range(megabytes * 16):
                if self.stop.is_set():
                    return
                h.wfile.write(chunk)
                self.sent[name] = self.sent.get(name, 0) + len(chunk)
        return answer

    def silent(self, limit: float = 30.0) -> Callable[[BaseHTTPRequestHandler], None]:
        """Reads the request, never answers; lets go when the test ends (or after ``limit`` s)."""
        def answer(h: BaseHTTPRequestHandler) -> None:
            self.stop.wait(limit)
            h.close_connection = True
        return answer


@pytest.fixture()
def server() -> Iterator[HostileServer]:
    hostile = HostileServer()
    hostile.thread.start()
    try:
        yield hostile
    finally:
        hostile.stop.set()
        hostile.httpd.shutdown()
        hostile.httpd.server_close()
        hostile.thread.join(timeout=5)


def _policy(**changes: Any) -> FetchPolicy:
    values: dict[str, Any] = {"allow_networks": LOCAL, "connect_timeout": 2.0, "read_timeout": 2.0,
                              "deadline": 5.0, "retries": 0}
    values.update(changes)
    return FetchPolicy(**values)


def article_html(title: str, text: str) -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n") if p.strip())
    return (f"<html><head><title>{title}</title><meta property='article:published_time' content='2024-12-07'>"
            f"</head><body><article><h1>{title}</h1>{paragraphs}</article></body></html>").encode()


# ------------------------------------------------------------------------------------- outbound policy

def test_loopback_is_refused_unless_allowed(server: HostileServer) -> None:
    server.route("/a", server.page(article_html("Doha", SAMPLE)))
    refusing = FetchPolicy(allow_networks=(), allow_private=False, retries=0)
    with WebClient(refusing) as client, pytest.raises(FetchError) as err:
        client.fetch(server.url("/a"))
    assert err.value.code == "E115" and server.requests == []
    with WebClient(_policy()) as client:
        assert client.fetch(server.url("/a")).status == 200


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/",
                                    "http://[::1]/", "http://10.0.0.1/", "file:///etc/passwd", "ftp://x.org/a"])
def test_a_redirect_is_vetted_again(server: HostileServer, target: str) -> None:
    server.route("/go", server.redirect(target))
    with WebClient(_policy()) as client, pytest.raises(FetchError) as err:
        client.fetch(server.url("/go"))
    assert err.value.code in ("E110", "E115")
    assert [path for _, path, _ in server.requests] == ["/go"]


def test_dns_rebinding_cannot_reach_another_address(server: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is resolved once per hop, and the connection goes to the address that was checked: the
    system resolver is never asked again (it would fail here), and a second answer never matters."""
    server.route("/a", server.page(article_html("Doha", SAMPLE)))
    answers = iter([["127.0.0.1"], ["10.0.0.5"], ["169.254.169.254"]])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    real_getaddrinfo = socket.getaddrinfo

    def no_system_dns(host: Any, *args: Any, **kw: Any) -> Any:
        ipaddress.ip_address(host)   # the socket layer may look up the pinned address itself, never the name
        return real_getaddrinfo(host, *args, **kw)

    monkeypatch.setattr("socket.getaddrinfo", no_system_dns)
    with WebClient(_policy(resolver=rebinding)) as client:
        result = client.fetch(f"http://rebind.test:{server.port}/a")
    assert result.status == 200 and result.url == f"http://rebind.test:{server.port}/a"
    assert asked == ["rebind.test"]
    assert server.requests == [("GET", "/a", f"rebind.test:{server.port}")]
    # Now the name answers with the metadata address: refused before any connection.
    metadata = _policy(resolver=lambda host, port: ["169.254.169.254"])
    with WebClient(metadata) as client, pytest.raises(FetchError) as err:
        client.fetch(f"http://rebind.test:{server.port}/a")
    assert err.value.code == "E115" and len(server.requests) == 1


def test_a_redirect_to_a_name_that_resolves_inside_is_refused(server: HostileServer) -> None:
    server.route("/go", server.redirect("http://intranet.test/admin"))
    resolve = {"intranet.test": ["10.1.2.3"]}
    policy = _policy(resolver=lambda host, port: resolve.get(host, ["127.0.0.1"]))
    with WebClient(policy) as client, pytest.raises(FetchError) as err:
        client.fetch(server.url("/go"))
    assert err.value.code == "E115" and "10.1.2.3" in err.value.message


def test_a_drip_feed_server_costs_one_total_deadline_not_one_per_attempt(server: HostileServer) -> None:
    """One byte every 0.1 s: no read timeout trips. The total deadline (connect + body + every retry) ends it,
    and no retry starts after it: the server sees one request, not three."""
    server.route("/drip", server.drip("drip", total=200, pause=0.1))
    policy = _policy(deadline=1.0, read_timeout=2.0, retries=2, backoff=0.1)
    with WebClient(policy) as client, pytest.raises(FetchError) as err:
        client.fetch(server.url("/drip"))
    assert err.value.code == "E112"
    assert [path for _, path, _ in server.requests] == ["/drip"]
    assert server.sent.get("drip", 0) < 200


def test_a_huge_body_is_cut_at_the_byte_cap(server: HostileServer) -> None:
    server.route("/huge", server.flood("huge", megabytes=4))
    with WebClient(_policy(max_bytes=200_000)) as client, pytest.raises(FetchError) as err:
        client.fetch(server.url("/huge"))
    assert err.value.code == "E113"


def test_malformed_pages_are_failures_not_crashes(server: HostileServer) -> None:
    server.route("/binary", server.page(b"\x00\x01\x02" * 1000, "text/html"))
    server.route("/empty", server.page(b"<html><body></body></html>"))
    server.route("/pdf", server.page(b"%PDF-1.4", "application/pdf"))
    with WebClient(_policy()) as client:
        codes = [client.read(server.url(p)).code for p in ("/binary", "/empty", "/pdf")]  # type: ignore[union-attr]
    assert codes == ["E103", "E108", "E114"]


# ------------------------------------------------------------------------------------------- feeds

def _rss(items: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Wire</title>'
            f"<link>http://wire.test/</link><description>x</description>{items}</channel></rss>").encode()


def _item(guid: str, link: str, date: str = "Sat, 07 Dec 2024 09:00:00 GMT", title: str = "") -> str:
    return (f"<item><title>{title or guid}</title><link>{link}</link><guid>{guid}</guid>"
            f"<pubDate>{date}</pubDate></item>")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new database on each backend (PostgreSQL skips, saying why, when no test server is configured)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_schema_url"))
    return f"sqlite:///{tmp_path / 'hostile.db'}"


@pytest.fixture()
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as opened:
        yield opened


def test_a_truncated_feed_is_the_feeds_error(server: HostileServer, store: Store, engine: Any) -> None:
    from tidings.follow import FollowPolicy, poll_feed

    server.route("/a", server.page(article_html("Doha", SAMPLE)))
    whole = _rss(_item("one", server.url("/a")) + _item("two", server.url("/a")))
    server.route("/feed", server.page(whole[: len(whole) - 40], "application/rss+xml"))
    with WebClient(_policy()) as client:
        report = poll_feed(server.url("/feed"), store=store, client=client, engine=engine, policy=FollowPolicy())
    assert report.status == "failed" and "E117" in (report.error or "")
    assert any(e["code"] == "E117" and e["ref"] == server.url("/feed") for e in store.errors())
    assert store.feed(server.url("/feed"))["etag"] is None   # the next poll fetches it whole again


def test_an_impossible_item_date_is_dropped_and_flagged(server: HostileServer, store: Store, engine: Any) -> None:
    from tidings.follow import FollowPolicy, poll_feed
    from tidings.read.feeds import parse_feed

    text = SAMPLE.replace("Saturday", "the weekend")
    server.route("/a", server.page(f"{text}".encode(), "text/plain; charset=utf-8"))
    feed = _rss(_item("one", server.url("/a"), date="2024-13-45T99:99:99Z"))
    _title, (item,) = parse_feed(feed, "http://wire.test/feed")
    assert item.published is None and item.bad_date == "2024-13-45T99:99:99Z"
    server.route("/feed", server.page(feed, "application/rss+xml"))
    with WebClient(_policy()) as client:
        report = poll_feed(server.url("/feed"), store=store, client=client, engine=engine, policy=FollowPolicy())
    (analysis,) = report.analyses
    assert analysis.document.meta["feed_date_invalid"] == "2024-13-45T99:99:99Z"
    assert analysis.document.published != dt.date(2025, 1, 1)


def test_markup_in_feed_links_and_names_is_printed_as_is(tmp_path: Path) -> None:
    from rich.console import Console

    from tidings.cli.scale import _report_line
    from tidings.follow import PollReport

    report = PollReport("http://wire.test/[/x]", items=1, new=1,
                        failures=[InputFailure("http://wire.test/a[/x][bold]b", "E111", "HTTP 404 [/red]")])
    console = Console(record=True, width=200)
    console.print(_report_line(report))
    assert "http://wire.test/a[/x][bold]b" in console.export_text()
    failed = PollReport("http://wire.test/[/x]", status="failed", error="[E117] broken [/x]")
    console.print(_report_line(failed))
    assert "[E117] broken [/x]" in console.export_text()


# -------------------------------------------------------------------------------- long documents, every face

@pytest.fixture()
def small_limits(engine: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """spaCy's limit and ours made small, so 'long' costs milliseconds: texts over 1,500 characters are split,
    over 3,000 spaCy itself would refuse them (E088, as over 1,000,000 for real), over 30,000 are refused."""
    monkeypatch.setattr(pipeline, "CHUNK_CHARS", 1_500)
    monkeypatch.setattr(engine.nlp, "max_length", 3_000)
    monkeypatch.setenv("TIDINGS_MAX_CHARS", "30000")
    return {"chunk": 1_500, "spacy": 3_000, "max": 30_000}


def _long_text() -> str:
    text = "\n\n".join([SAMPLE] * 4)
    assert 3_000 < len(text) < 30_000
    return text


def _corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for n, text in enumerate(SHORT):
        (folder / f"{n:02d}-short.txt").write_text(text, "utf-8")
    (folder / "50-long.txt").write_text(_long_text(), "utf-8")
    (folder / "60-too-long.txt").write_text(TOO_LONG, "utf-8")
    # NUL past the first 8 KiB (within them, the file counts as binary: E103).
    (folder / "70-nul.txt").write_text(SHORT[0] + " More news." * 900 + " Do\x00ha.", "utf-8")
    return folder


def _check_offsets(analysis: Any) -> None:
    text = analysis.document.text
    for event in analysis.events:
        for span in event.evidence.values():
            assert text[span.start:span.end] == span.text


def test_analyze_keeps_every_document_around_a_long_one(tmp_path: Path, db_url: str, engine: Any, small_limits: Any) -> None:
    db = db_url
    result = service.analyze_paths([_corpus(tmp_path)], db=db, engine=engine)
    assert [f.code for f in result.failures] == ["E119"]
    by_name = {Path(a.document.path or "").name: a for a in result.analyses}
    assert sorted(by_name) == ["00-short.txt", "01-short.txt", "02-short.txt", "03-short.txt", "50-long.txt",
                               "70-nul.txt"]
    long_one = by_name["50-long.txt"]
    assert long_one.events and long_one.document.text == _long_text()
    assert max(e.evidence["sentence"].start for e in long_one.events) > 3 * len(SAMPLE)   # the last part coded
    for analysis in result.analyses:
        _check_offsets(analysis)
    # The NUL is gone and replaced by a space, so offsets into the text stay those of the file.
    nul_text = by_name["70-nul.txt"].document.text
    assert "\x00" not in nul_text and " Do ha." in nul_text
    with Store(db) as store:
        assert store.stats()["documents"] == 6
        assert [e["code"] for e in store.errors()] == ["E119"]


def test_a_parse_that_raises_costs_one_document(tmp_path: Path, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """spaCy refusing one text (E088 before the split existed) or any crash inside one document's analysis:
    that document is its error row, the others are stored."""
    real_parse = engine.parse

    def parse(text: str) -> Any:
        if "Talk number 2" in text:
            raise ValueError("[E088] Text of length 1100000 exceeds maximum of 1000000.")
        return real_parse(text)

    def pipe(texts: Any, **_kw: Any) -> Any:
        texts = list(texts)
        if any("Talk number 2" in t for t in texts):
            raise ValueError("[E088] Text of length 1100000 exceeds maximum of 1000000.")
        return (real_parse(t) for t in texts)

    monkeypatch.setattr(engine, "parse", parse)
    monkeypatch.setattr(engine.nlp, "pipe", pipe)
    folder = tmp_path / "c"
    folder.mkdir()
    for n, text in enumerate(SHORT):
        (folder / f"{n}.txt").write_text(text, "utf-8")
    db = f"sqlite:///{tmp_path / 'p.db'}"
    result = service.analyze_paths([folder], db=db, engine=engine)
    assert [f.code for f in result.failures] == ["E401"]
    with Store(db) as store:
        assert store.stats()["documents"] == 4                 # stored, the failed one without events
        (error,) = store.errors()
        assert error["code"] == "E401" and "E088" in error["message"]


def test_a_write_that_fails_costs_one_document(tmp_path: Path, db_url: str, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tidings.core.errors import StoreError

    db = db_url
    real_save = Store.save

    def save(self: Store, analysis: Any) -> None:
        if "Talk number 1" in analysis.document.text:
            raise StoreError("could not write: value too long", code="E206")
        real_save(self, analysis)

    monkeypatch.setattr(Store, "save", save)
    folder = tmp_path / "c"
    folder.mkdir()
    for n, text in enumerate(SHORT):
        (folder / f"{n}.txt").write_text(text, "utf-8")
    result = service.analyze_paths([folder], db=db, engine=engine)
    assert [f.code for f in result.failures] == ["E206"]
    with Store(db) as store:
        assert store.stats()["documents"] == 3
        assert [e["code"] for e in store.errors()] == ["E206"]


def test_batch_keeps_every_document_around_a_long_one(tmp_path: Path, db_url: str, engine: Any, small_limits: Any) -> None:
    from tidings.scale import run_batch

    db = db_url
    stats = run_batch([_corpus(tmp_path)], [db], local_engine=engine)
    assert (stats.done, stats.failed) == (6, 1)
    with Store(db) as store:
        assert store.stats()["documents"] == 6
        long_doc = next(d for d in store.documents() if d.path and d.path.endswith("50-long.txt"))
        analysis = store.analysis(long_doc.id)
        assert analysis is not None and analysis.events
        _check_offsets(analysis)


@pytest.mark.slow
def test_batch_with_worker_processes_keeps_every_document_around_a_long_one(tmp_path: Path, engine: Any,
                                                                            small_limits: Any) -> None:
    """spaCy's worker processes never see a text over the limit: long ones are parsed in parts in the main
    process, in order with the stream."""
    from tidings.scale import run_batch

    db = f"sqlite:///{tmp_path / 'w2.db'}"
    stats = run_batch([_corpus(tmp_path)], [db], local_engine=engine, workers=2, batch_size=2)
    assert (stats.done, stats.failed) == (6, 1)
    with Store(db) as store:
        assert store.stats()["documents"] == 6
        assert [e["code"] for e in store.errors()] == ["E119"]


def test_split_text_covers_the_text_and_cuts_at_paragraphs_then_sentences() -> None:
    text = "\n\n".join(f"Paragraph {n}. It has two sentences." for n in range(200))
    parts = pipeline.split_text(text, 500)
    assert "".join(text[a:b] for a, b in parts) == text and all(b - a <= 500 for a, b in parts)
    assert all(text[b - 2:b] == "\n\n" for _a, b in parts[:-1])            # after a paragraph break
    one = "One sentence here. " * 100                                       # no breaks: sentence ends
    parts = pipeline.split_text(one, 300)
    assert all(one[b - 2:b] == ". " for _a, b in parts[:-1])
    blob = "x" * 1000                                                        # nothing to cut at: hard cuts
    assert pipeline.split_text(blob, 300) == [(0, 300), (300, 600), (600, 900), (900, 1000)]


def test_follow_keeps_every_item_around_a_long_one(server: HostileServer, store: Store, engine: Any,
                                                   small_limits: Any) -> None:
    from tidings.follow import FollowPolicy, poll_feed

    pages = {"/s0": SHORT[0], "/s1": SHORT[1], "/long": _long_text(),
             "/huge": TOO_LONG, "/nul": SHORT[2] + " More news." * 900 + "\x00 More."}
    for path, text in pages.items():
        server.route(path, server.page(text.encode(), "text/plain; charset=utf-8"))
    server.route("/feed", server.page(_rss("".join(_item(p, server.url(p)) for p in pages)),
                                      "application/rss+xml"))
    with WebClient(_policy()) as client:
        report = poll_feed(server.url("/feed"), store=store, client=client, engine=engine, policy=FollowPolicy())
    assert report.status == "ok" and len(report.analyses) == 4
    assert [f.code for f in report.failures] == ["E119"]
    assert store.stats()["documents"] == 4
    assert all("\x00" not in a.document.text for a in report.analyses)


def test_the_api_keeps_every_line_around_a_long_one(tmp_path: Path, db_url: str, engine: Any, small_limits: Any) -> None:
    from fastapi.testclient import TestClient

    from tidings.api.app import create_app

    lines = [{"text": SHORT[0]}, {"text": _long_text()}, {"text": TOO_LONG},
             {"text": SHORT[1].replace("Doha", "Do\u0000ha")}, {"text": SHORT[3]}]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    with TestClient(create_app(db_url, engine=engine)) as api:
        answer = api.post("/api/documents", content=body, headers={"Content-Type": "application/x-ndjson"})
        assert answer.status_code == 201, answer.text
        result = answer.json()
        assert len(result["analyses"]) == 4 and [f["code"] for f in result["failures"]] == ["E119"]
        one = api.post("/api/documents", json={"text": TOO_LONG})
        assert one.status_code == 422 and one.json()["error"]["code"] == "E119"
        nul = api.post("/api/documents", json={"text": SHORT[2].replace("Doha", "Do\u0000ha")})
        assert nul.status_code == 201 and "\x00" not in nul.json()["document"]["text"]
        assert api.get("/api/stats").json()["documents"] == 5


def test_nul_in_jsonl_is_stripped_on_reading() -> None:
    line = json.dumps({"text": SHORT[0].replace("Doha", "Do\u0000ha\u0007"), "title": "a\u0000b"})
    (document,) = read_jsonl(line + "\n", ref="x.jsonl")
    assert isinstance(document, Document)
    assert "\x00" not in document.text and "\x07" not in document.text and document.title == "ab"


def test_a_nul_in_a_hand_made_document_never_reaches_the_database(tmp_path: Path) -> None:
    """Readers strip NUL; a Document built by hand still carries it. The store writes U+FFFD instead (same
    length: offsets stay right), the same on SQLite and PostgreSQL (which refuses NUL outright)."""
    from tidings.core.records import Analysis

    document = Document.from_text("Rebels entered Homs\x00 on Friday.")
    with Store(f"sqlite:///{tmp_path / 'n.db'}") as store:
        store.save(Analysis(document=document))
        stored = store.document(document.id)
    assert stored is not None and stored.text == "Rebels entered Homs\ufffd on Friday."


def test_a_nul_document_on_postgresql_is_stored_and_the_next_one_too(pg_schema_url: str) -> None:
    from tidings.core.records import Analysis

    bad = Document.from_text("Rebels entered Homs\x00 on Friday.")
    good = Document.from_text("Rebels entered Hama on Saturday.")
    with Store(pg_schema_url) as store:
        assert store.save_many([Analysis(document=bad), Analysis(document=good)]) == 2
        assert store.document(bad.id).text == "Rebels entered Homs\ufffd on Friday."   # type: ignore[union-attr]
        assert store.document(good.id) is not None


# ---------------------------------------------------------------------------------------------- re-runs

def test_reruns_add_no_error_rows_and_skip_unchanged_documents(tmp_path: Path, db_url: str, engine: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    for n, text in enumerate(SHORT[:2]):
        (folder / f"{n}.txt").write_text(text, "utf-8")
    (folder / "empty.txt").write_text("  ", "utf-8")
    (folder / "binary.txt").write_bytes(b"\x00\x01" * 100)
    db = db_url
    first = service.analyze_paths([folder], db=db, engine=engine)
    assert len(first.failures) == 2 and not first.skipped
    coded: list[str] = []
    real_code = engine.code
    monkeypatch.setattr(engine, "code", lambda document, doc: coded.append(document.id) or real_code(document, doc))
    second = service.analyze_paths([folder], db=db, engine=engine)
    assert len(second.skipped) == 2 and coded == []
    assert [a.document.id for a in second.analyses] == [a.document.id for a in first.analyses]   # shown as stored
    third = service.analyze_paths([folder], db=db, engine=engine, force=True)
    assert not third.skipped and len(coded) == 2 and len(third.analyses) == 2
    with Store(db) as store:
        assert sorted(e["code"] for e in store.errors()) == ["E103", "E105"]   # once each, after three runs


# ------------------------------------------------------------------------------------------ webhooks

def _analyse_with_rule(tmp_path: Path, engine: Any, webhook: str, db: str | None = None, deliver_for: float = 3.0
                       ) -> tuple[service.AnalyzeResult, str]:
    from tidings.across.watch import WatchRule, add_rule

    db = db or f"sqlite:///{tmp_path / 'hook.db'}"
    with Store(db) as store:
        add_rule(store, WatchRule(name="everything", webhook=webhook))
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    (folder / "a.txt").write_text(SAMPLE, "utf-8")
    return service.analyze_paths([folder], db=db, engine=engine, published="2024-12-07",
                                 deliver_for=deliver_for), db


def test_a_webhook_that_never_answers_does_not_hold_up_analysis(server: HostileServer, tmp_path: Path, db_url: str,
                                                               engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tidings.across.watch import alerts, deliver_pending, outbox_table

    monkeypatch.setenv("TIDINGS_ALLOW_NETWORKS", "127.0.0.0/8")
    server.route("/hook", server.silent())
    result, db = _analyse_with_rule(tmp_path, engine, server.url("/hook"), db_url)
    assert result.analyses and not result.failures and not result.notes   # the analysis is untouched
    with Store(db) as store:
        stored = alerts(store)
        assert stored and all(not a.delivered and (a.last_error or "").startswith("retry") for a in stored)
        with store.read() as conn:
            rows = list(conn.execute(outbox_table.select()))
        assert rows and all(r.status == "pending" and r.attempts <= 1 for r in rows)
        assert sum(r.attempts for r in rows) == 1 and any("E112" in (r.last_error or "") for r in rows)
        # Not due yet (per-URL backoff): a new round sends nothing.
        assert deliver_pending(store, budget=0.5).delivered == 0
    assert sum(1 for method, _, _ in server.requests if method == "POST") == 1


@pytest.mark.parametrize("webhook", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9/hook",
                                     "file:///etc/passwd", "ftp://example.org/hook"])
def test_a_webhook_the_policy_refuses_is_never_contacted(tmp_path: Path, engine: Any, webhook: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tidings.across.watch import alerts

    monkeypatch.delenv("TIDINGS_ALLOW_NETWORKS", raising=False)
    monkeypatch.delenv("TIDINGS_ALLOW_PRIVATE_URLS", raising=False)
    result, db = _analyse_with_rule(tmp_path, engine, webhook)
    assert result.analyses and not result.failures
    with Store(db) as store:
        stored = alerts(store)
    assert stored and all(not a.delivered and (a.last_error or "").startswith("gave up") for a in stored)
    assert all(("E115" in a.last_error or "E110" in a.last_error) for a in stored)  # type: ignore[operator]


def test_the_webhooks_verb_delivers_what_is_due(server: HostileServer, tmp_path: Path, engine: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tidings.across.watch import WatchRule, add_rule, alerts
    from tidings.cli.main import app

    monkeypatch.setenv("TIDINGS_ALLOW_NETWORKS", "127.0.0.0/8")
    server.route("/hook", server.page(b"ok", "text/plain"))
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(SAMPLE, "utf-8")
    db = f"sqlite:///{tmp_path / 'v.db'}"
    with Store(db) as store:
        add_rule(store, WatchRule(name="everything", webhook=server.url("/hook")))
    service.analyze_paths([folder], db=db, engine=engine, published="2024-12-07", deliver_for=0)
    with Store(db) as store:
        assert all(a.last_error == "queued" for a in alerts(store))
    result = runner.invoke(app, ["webhooks", "--db", db, "--budget", "30"])
    assert result.exit_code == 0 and "0 failed" in result.output, result.output
    with Store(db) as store:
        assert all(a.delivered for a in alerts(store))


def test_an_entry_another_worker_took_is_not_sent_twice(server: HostileServer, tmp_path: Path, engine: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from tidings.across.watch import _claim, deliver_pending, outbox_table

    monkeypatch.setenv("TIDINGS_ALLOW_NETWORKS", "127.0.0.0/8")
    server.route("/hook", server.page(b"ok", "text/plain"))
    _result, db = _analyse_with_rule(tmp_path, engine, server.url("/hook"), deliver_for=0)
    with Store(db) as store:
        with store.read() as conn:
            rows = list(conn.execute(outbox_table.select().where(outbox_table.c.status == "pending")))
        assert len(rows) > 1
        first = rows[0]
        assert _claim(store, first, lease=60) and not _claim(store, first, lease=60)   # one taker only
        report = deliver_pending(store, budget=30)
    posts = sum(1 for method, _, _ in server.requests if method == "POST")
    assert report.delivered == len(rows) - 1 and posts == report.delivered


def test_a_webhook_is_delivered_once_it_answers(server: HostileServer, tmp_path: Path, engine: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tidings.across.watch import alerts

    monkeypatch.setenv("TIDINGS_ALLOW_NETWORKS", "127.0.0.0/8")
    server.route("/hook", server.page(b"ok", "text/plain"))
    _result, db = _analyse_with_rule(tmp_path, engine, server.url("/hook"))
    with Store(db) as store:
        stored = alerts(store)
    assert stored and all(a.delivered and a.last_error is None for a in stored)


# ---------------------------------------------------------------------------------------- one-line errors

def test_user_text_is_never_read_as_markup(tmp_path: Path, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tidings.cli.main import app

    monkeypatch.setattr(service, "Engine", lambda: engine)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "[bold]x[bold].txt").write_text(SAMPLE, "utf-8")
    (folder / "[red]empty[bold].txt").write_text(" ", "utf-8")
    db = f"sqlite:///{tmp_path / 'm.db'}"
    result = runner.invoke(app, ["analyze", str(folder), "--db", db, "--published", "2024-12-07"])
    assert result.exit_code == 1, result.output
    assert "[bold]x[bold].txt" in result.output and "[red]empty[bold].txt" in result.output
    listed = runner.invoke(app, ["errors", "--db", db])
    assert "[red]empty[bold].txt" in listed.output


@pytest.mark.parametrize("args", [["events", "--modality", "bogus"], ["events", "--text", '"'],
                                  ["export", "{dir}", "--format", "csv"], ["export", "/dev/full", "--format", "csv"],
                                  ["export", "{dir}/x.csv", "--format", "nope"]])
def test_bad_values_are_one_line_with_a_code(tmp_path: Path, args: list[str]) -> None:
    from tidings.cli.main import app

    db = f"sqlite:///{tmp_path / 'e.db'}"
    Store(db).close()
    if args[0] == "export" and args[1] == "/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    result = runner.invoke(app, [a.replace("{dir}", str(tmp_path)) for a in args] + ["--db", db])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit | None), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "[E" in lines[0], result.output


def test_export_refuses_to_write_through_a_symlink(tmp_path: Path) -> None:
    from tidings.cli.main import app

    db = f"sqlite:///{tmp_path / 'x.db'}"
    Store(db).close()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me", "utf-8")
    link = tmp_path / "events.jsonl"
    link.symlink_to(precious)
    refused = runner.invoke(app, ["export", str(link), "--db", db])
    assert refused.exit_code == 1 and "E314" in refused.output and precious.read_text("utf-8") == "keep me"
    forced = runner.invoke(app, ["export", str(link), "--db", db, "--force"])
    assert forced.exit_code == 0 and precious.read_text("utf-8") == ""


# ------------------------------------------------------------------------------------- kill and resume

def _documents(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def _kill_when_stored(command: list[str], db_path: Path, at_least: int, limit: float = 300.0) -> int:
    """Start ``command``, SIGKILL it once ``at_least`` documents are stored; returns the count at the kill.
    The wait is bounded (``limit`` s): a run that never stores fails the test instead of hanging."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stop_at = time.monotonic() + limit
    try:
        while time.monotonic() < stop_at and process.poll() is None:
            if _documents(db_path) >= at_least:
                break
            time.sleep(0.2)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        return _documents(db_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _many(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(count):
        (folder / f"{n:03d}.txt").write_text(f"{SHORT[n % 4]} Report {n} of the day, from desk {n * 7}.", "utf-8")
    return folder


@pytest.mark.slow
def test_analyze_killed_mid_run_resumes_without_loss_or_duplicates(tmp_path: Path, engine: Any) -> None:
    folder = _many(tmp_path, 150)
    db_path = tmp_path / "kill.db"
    command = [sys.executable, "-c", "from tidings.cli.main import main; main()", "analyze", str(folder),
               "--db", f"sqlite:///{db_path}", "--format", "jsonl"]
    at_kill = _kill_when_stored(command, db_path, at_least=3)
    assert 0 < at_kill < 150
    result = service.analyze_paths([folder], db=f"sqlite:///{db_path}", engine=engine)
    assert len(result.skipped) >= at_kill and not result.failures
    with Store(f"sqlite:///{db_path}") as store:
        assert store.stats()["documents"] == 150
        ids = [d.id for d in store.documents(limit=1000)]
        assert len(ids) == len(set(ids)) == 150
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_batch_killed_mid_run_resumes_without_loss_or_duplicates(tmp_path: Path, engine: Any) -> None:
    from tidings.scale import run_batch

    folder = _many(tmp_path, 150)
    db_path = tmp_path / "batch.db"
    code = ("import sys; from tidings.scale import run_batch; "
            f"run_batch([{str(folder)!r}], ['sqlite:///{db_path}'], flush_every=4, batch_size=4)")
    at_kill = _kill_when_stored([sys.executable, "-c", code], db_path, at_least=4)
    assert 0 < at_kill < 150
    stats = run_batch([folder], [f"sqlite:///{db_path}"], local_engine=engine)
    assert stats.skipped >= at_kill and stats.done == 150 - stats.skipped and stats.failed == 0
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM documents").fetchone() == (150, 150)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
