"""Fetching web pages: a real HTTP server on 127.0.0.1 (a thread with a bounded lifetime) serving fixture pages.

Covers: article extraction and provenance, redirects, a slow page that times out, a huge page, a page that
is not HTML, HTTP errors with retries, the SSRF guard, and URL dispatch in ``read_inputs``. The server is
also used by ``tests/test_feeds.py``.
"""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import pytest

from tidings.core.records import Document
from tidings.read import InputFailure, read_inputs
from tidings.read.web import USER_AGENT, FetchError, FetchPolicy, WebClient, check_public_url

# ----------------------------------------------------------------------------------------- the server

SERVER_LIFETIME = 120.0   # seconds: the server shuts itself down even if a test forgets to


@dataclass
class Page:
    """A canned answer; ``body`` may be a callable (handler → None) that writes the answer itself."""

    body: bytes | Callable[[http.server.BaseHTTPRequestHandler], None]
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class FixtureServer:
    """``http.server`` in a daemon thread, on a free port of 127.0.0.1. ``pages`` can change between
    requests (a feed that changes between two polls); ``requests`` logs (path, headers) of each request."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                page = owner.pages.get(self.path)
                if page is None:
                    self.send_error(404)
                    return
                if callable(page.body):
                    page.body(self)
                    return
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(page.body)

            def log_message(self, *_args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout tests) closes the socket under a slow handler

        self._server = Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._timer = threading.Timer(SERVER_LIFETIME, self._server.shutdown)
        self._timer.daemon = True

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> Self:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture()
def server() -> Iterator[FixtureServer]:
    with FixtureServer() as running:
        yield running


LOCAL = FetchPolicy(allow_private=True, connect_timeout=2, read_timeout=2, deadline=10, retries=0)


def article_html(title: str, date: str, body: str, site: str = "Levant Wire") -> bytes:
    """A page shaped like a news article: site name and date in the metadata, paragraphs in <article>."""
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title} | {site}</title>
<meta property="og:site_name" content="{site}"><meta property="og:title" content="{title}">
<meta property="article:published_time" content="{date}T08:00:00Z"></head>
<body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>{title}</h1>{paragraphs}</article>
<footer>Copyright {site}. All rights reserved.</footer></body></html>""".encode()


EVACUATION = """Iran began evacuating its military personnel from Syria on Friday, three Iranian officials said, \
as rebel fighters advanced toward the city of Homs after capturing Aleppo and Hama earlier in the week.

The officials, who spoke on condition of anonymity, said that commanders of the Quds Force had left for \
Iraq and Lebanon, and that embassy staff in Damascus had been told to prepare to leave the country.

Rebels led by Hayat Tahrir al-Sham said on Saturday that they had reached the outskirts of Homs, a city \
that links the capital to the coast, and that government troops had withdrawn from several towns."""


# ------------------------------------------------------------------------------------------ articles

def test_article_is_fetched_extracted_and_keeps_its_provenance(server: FixtureServer) -> None:
    server.pages["/world/iran-syria"] = Page(article_html("Iran pulls officers out of Syria", "2024-12-06",
                                                          EVACUATION))
    with WebClient(LOCAL) as client:
        doc = client.read(server.url("/world/iran-syria"))
    assert isinstance(doc, Document), doc
    assert doc.source_kind == "url" and doc.path is None
    assert doc.url == server.url("/world/iran-syria")
    assert doc.outlet == "Levant Wire"
    assert doc.published == dt.date(2024, 12, 6)
    assert doc.title == "Iran pulls officers out of Syria"
    assert "Quds Force" in doc.text and "All rights reserved" not in doc.text
    _path, headers = server.requests[-1]
    assert headers["user-agent"] == USER_AGENT and USER_AGENT.startswith("tidings/")


def test_outlet_falls_back_to_the_host_and_date_to_the_fallback(server: FixtureServer) -> None:
    page = f"<html><body><article><p>{EVACUATION}</p></article></body></html>".encode()
    server.pages["/bare"] = Page(page)
    with WebClient(LOCAL) as client:
        doc = client.read(server.url("/bare"), published_fallback=dt.date(2024, 12, 7))
    assert isinstance(doc, Document), doc
    assert doc.outlet.startswith("127.0.0.1") and doc.published == dt.date(2024, 12, 7)   # the host


def test_plain_text_pages_are_read_as_text(server: FixtureServer) -> None:
    server.pages["/wire.txt"] = Page(EVACUATION.encode(), content_type="text/plain; charset=utf-8")
    with WebClient(LOCAL) as client:
        doc = client.read(server.url("/wire.txt"))
    assert isinstance(doc, Document) and doc.text.startswith("Iran began evacuating")


def test_redirects_are_followed_and_the_final_url_kept(server: FixtureServer) -> None:
    server.pages["/a"] = Page(b"", status=301, headers={"Location": "/b"})
    server.pages["/b"] = Page(b"", status=302, headers={"Location": server.url("/article")})
    server.pages["/article"] = Page(article_html("Moved", "2024-12-06", EVACUATION))
    with WebClient(LOCAL) as client:
        doc = client.read(server.url("/a"))
    assert isinstance(doc, Document)
    assert doc.url == server.url("/article") and doc.meta["requested_url"] == server.url("/a")


def test_redirect_loops_stop_at_the_limit(server: FixtureServer) -> None:
    server.pages["/loop"] = Page(b"", status=302, headers={"Location": "/loop"})
    with WebClient(FetchPolicy(allow_private=True, max_redirects=3, retries=0)) as client:
        failure = client.read(server.url("/loop"))
    assert isinstance(failure, InputFailure) and failure.code == "E116"
    assert len(server.requests) == 4


def _slow(handler: http.server.BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.end_headers()
    for _ in range(40):
        time.sleep(0.1)
        handler.wfile.write(b"<p>still coming</p>")
        handler.wfile.flush()


def _silent(handler: http.server.BaseHTTPRequestHandler) -> None:
    time.sleep(3)


@pytest.mark.parametrize(("body", "policy"), [
    (_silent, FetchPolicy(allow_private=True, read_timeout=0.3, retries=0)),          # nothing at all
    (_slow, FetchPolicy(allow_private=True, read_timeout=2, deadline=0.6, retries=0)),  # a drip, never done
], ids=["read timeout", "overall deadline"])
def test_a_slow_page_times_out(server: FixtureServer, body: Any, policy: FetchPolicy) -> None:
    server.pages["/slow"] = Page(body)
    started = time.monotonic()
    with WebClient(policy) as client:
        failure = client.read(server.url("/slow"))
    assert isinstance(failure, InputFailure) and failure.code == "E112", failure
    assert time.monotonic() - started < 2.5


def _chunked_huge(handler: http.server.BaseHTTPRequestHandler) -> None:
    """No Content-Length: the limit must hold while streaming."""
    handler.protocol_version = "HTTP/1.1"
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"<p>" + b"x" * 16_000 + b"</p>"
    try:
        for _ in range(200):
            handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")
    except OSError:
        pass


@pytest.mark.parametrize("path", ["/huge-declared", "/huge-chunked"])
def test_a_huge_page_is_refused_without_reading_it_all(server: FixtureServer, path: str) -> None:
    server.pages["/huge-declared"] = Page(b"<p>" + b"y" * 400_000 + b"</p>")
    server.pages["/huge-chunked"] = Page(_chunked_huge)
    with WebClient(FetchPolicy(allow_private=True, max_bytes=100_000, retries=0)) as client:
        failure = client.read(server.url(path))
    assert isinstance(failure, InputFailure) and failure.code == "E113", failure


@pytest.mark.parametrize(("content_type", "body", "code"), [
    ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "E114"),
    ("application/pdf", b"%PDF-1.4 not really", "E114"),
    ("application/octet-stream", b"\x00\x01\x02", "E114"),
    ("text/html", b"<html><head><title>x</title></head><body></body></html>", "E108"),  # no article
    ("text/html", b"\x00\x01binary\x00 pretending", "E103"),
])
def test_a_page_that_is_not_an_article_is_a_clear_failure(server: FixtureServer, content_type: str, body: bytes,
                                                          code: str) -> None:
    server.pages["/thing"] = Page(body, content_type=content_type)
    with WebClient(LOCAL) as client:
        failure = client.read(server.url("/thing"))
    assert isinstance(failure, InputFailure) and failure.code == code, failure
    assert failure.ref == server.url("/thing")


def test_transient_http_errors_are_retried_with_backoff(server: FixtureServer) -> None:
    answers = iter([503, 503, 200])

    def flaky(handler: http.server.BaseHTTPRequestHandler) -> None:
        status = next(answers)
        body = article_html("Third time lucky", "2024-12-06", EVACUATION) if status == 200 else b"busy"
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server.pages["/flaky"] = Page(flaky)
    with WebClient(FetchPolicy(allow_private=True, retries=2, backoff=0.05)) as client:
        doc = client.read(server.url("/flaky"))
    assert isinstance(doc, Document) and len(server.requests) == 3


def test_permanent_http_errors_are_not_retried(server: FixtureServer) -> None:
    with WebClient(FetchPolicy(allow_private=True, retries=3, backoff=0.05)) as client:
        failure = client.read(server.url("/missing"))
    assert isinstance(failure, InputFailure) and failure.code == "E111" and "404" in failure.message
    assert len(server.requests) == 1


def test_conditional_get_sends_validators(server: FixtureServer) -> None:
    def conditional(handler: http.server.BaseHTTPRequestHandler) -> None:
        fresh = handler.headers.get("If-None-Match") == '"v1"'
        handler.send_response(304 if fresh else 200)
        handler.send_header("ETag", '"v1"')
        handler.send_header("Content-Length", "0" if fresh else "2")
        handler.end_headers()
        if not fresh:
            handler.wfile.write(b"ok")

    server.pages["/c"] = Page(conditional)
    with WebClient(LOCAL) as client:
        first = client.fetch(server.url("/c"))
        second = client.fetch(server.url("/c"), etag=first.etag)
    assert (first.status, first.etag, second.not_modified) == (200, '"v1"', True)


# ---------------------------------------------------------------------------------------------- SSRF

@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost:8080/x", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/", "http://224.0.0.1/",
])
def test_private_loopback_and_link_local_addresses_are_refused(url: str) -> None:
    with pytest.raises(FetchError) as err:
        check_public_url(url)
    assert err.value.code == "E115"
    assert check_public_url(url, allow_private=True)


def test_public_addresses_pass() -> None:
    assert check_public_url("https://93.184.216.34/article") == ["93.184.216.34"]
    assert check_public_url("http://[2606:4700::6810:85e5]/") == ["2606:4700::6810:85e5"]


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host: str, port: int, **_kw: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(FetchError) as err:
        check_public_url("https://news.example.org/a")
    assert err.value.code == "E115" and "10.0.0.7" in err.value.message


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "javascript:alert(1)", "http://"])
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(FetchError) as err:
        check_public_url(url)
    assert err.value.code == "E110"


def test_a_redirect_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each hop is checked: a public page cannot bounce the fetcher to the cloud metadata service."""
    import httpx

    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34"] if host == "news.example.org" else [host]

    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers["host"]))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    with WebClient(FetchPolicy(retries=0, resolver=resolver), transport=httpx.MockTransport(handler)) as client:
        failure = client.read("http://news.example.org/story")
    assert isinstance(failure, InputFailure) and failure.code == "E115"
    # The request went to the vetted address (pinned), named in the Host header; the metadata address was
    # never asked.
    assert seen == [("http://93.184.216.34/story", "news.example.org")]


def test_server_mode_refuses_the_local_server_by_default(server: FixtureServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDINGS_ALLOW_PRIVATE_URLS", raising=False)
    server.pages["/x"] = Page(article_html("x", "2024-12-06", EVACUATION))
    with WebClient(FetchPolicy(retries=0)) as client:
        failure = client.read(server.url("/x"))
    assert isinstance(failure, InputFailure) and failure.code == "E115"
    assert server.requests == []


# ------------------------------------------------------------------------------------- read_inputs

def test_read_inputs_fetches_urls_among_paths(server: FixtureServer, tmp_path: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_ALLOW_PRIVATE_URLS", "1")
    server.pages["/one"] = Page(article_html("One", "2024-12-06", EVACUATION))
    local = tmp_path / "local.txt"
    local.write_text("Rebels captured Homs on Friday, a monitor said.", "utf-8")
    items = list(read_inputs([server.url("/one"), str(local), server.url("/nope")]))
    assert [type(i).__name__ for i in items] == ["Document", "Document", "InputFailure"]
    assert items[0].source_kind == "url" and items[0].outlet == "Levant Wire"
    assert items[2].code == "E111" and items[2].ref == server.url("/nope")


def test_analyze_cli_takes_a_url(server: FixtureServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from tidings.cli.main import app
    from tidings.store.database import Store

    monkeypatch.setenv("TIDINGS_ALLOW_PRIVATE_URLS", "1")
    server.pages["/story"] = Page(article_html("Iran pulls officers out of Syria", "2024-12-06", EVACUATION))
    db = f"sqlite:///{tmp_path / 'web.db'}"
    result = CliRunner().invoke(app, ["analyze", server.url("/story"), "--db", db, "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        [doc] = store.documents()
        assert doc.url == server.url("/story") and doc.outlet == "Levant Wire"
        assert store.count_events() >= 1
