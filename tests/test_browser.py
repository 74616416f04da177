"""The dashboard in a real browser: Debian's Chromium driven by Playwright against uvicorn on 127.0.0.1.

Loads the sample article's events, finds markers at Syrian cities on the canvas map, filters to RETREAT,
clicks a marker and checks the evidence and attribution chain in the event panel. Screenshots go to
``test-artifacts/``. Skipped (with the command to fix it) when Chromium or Playwright is missing:
``apt-get install -y chromium`` and ``pip install playwright`` (never ``playwright install``: the system
Chromium is used, no browser is downloaded).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("TIDINGS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
BUSY_DOCUMENTS = 400      # x 10 events
SERVER_LIFETIME_S = 300   # the server stops by itself after this, even if teardown never runs
TIMEOUT_MS = 20_000

if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)
try:
    import uvicorn
    from playwright import sync_api
except ModuleNotFoundError as exc:
    pytest.skip(f"{exc.name} is missing: pip install playwright 'tidings[server]' (never `playwright install`)",
                allow_module_level=True)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:   # a thread cannot own signal handlers (older uvicorn)
        pass


@contextmanager
def _serving(db_url: str, engine: Any = None) -> Iterator[str]:
    """The app over ``db_url``, served by uvicorn in a thread on a free port of 127.0.0.1."""
    from tidings.api import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))     # a free port, held open so nothing else takes it before uvicorn
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(create_app(db_url, engine=engine), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    watchdog = threading.Timer(SERVER_LIFETIME_S, lambda: setattr(server, "should_exit", True))
    watchdog.daemon = True
    thread.start()
    watchdog.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        watchdog.cancel()
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, sample_analysis: Any, engine: Any) -> Iterator[str]:
    """The sample article's events (and the session's engine, for articles posted from the page)."""
    from tidings.store import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'dashboard.db'}"
    with Store(url) as store:
        store.save(sample_analysis)
        try:   # what `tidings analyze` does after storing, where the across-article layer is installed
            from tidings.link import link_pending
        except ModuleNotFoundError:
            pass
        else:
            link_pending(store)
    with _serving(url, engine) as served:
        yield served


def _synthetic(n_docs: int, per_doc: int) -> Iterator[Any]:
    """Analyses shaped like real ones (places, actors, chains, dates, modalities), quick to make."""
    import datetime as dt
    import random

    from tidings.records import MODALITIES, Actor, Analysis, Document, Event, Place, Source, Span, When

    rng = random.Random(5)
    types = ["ASSAULT", "RETREAT", "MOBILIZE", "AID", "CONSULT", "PROTEST", "THREATEN", "AGREE"]
    places = [Place(geonameid=i, name=f"Town {i}", country="SY", country3="SYR", lat=rng.uniform(32.5, 37),
                    lon=rng.uniform(35.8, 42)) for i in range(120)]
    actors = [Actor(code=f"SYR{s}{i:02d}", name=f"Syrian {s.lower()} {i}", country="SYR", sector=s)
              for i in range(12) for s in ("GOV", "MIL", "REB")]
    for d in range(n_docs):
        text = f"Report {d}: forces moved near the town, officials said. " * 3
        published = dt.date(2024, 10, 1) + dt.timedelta(days=d % 60)
        doc = Document(id=f"syn{d:06d}", text=text, published=published)
        events = []
        for i in range(per_doc):
            day = published - dt.timedelta(days=rng.randrange(3))
            events.append(Event(
                id=f"{doc.id}-{i}", doc_id=doc.id, type=rng.choice(types), modality=rng.choice(MODALITIES),  # type: ignore[arg-type]
                source_actor=rng.choice(actors), target_actor=rng.choice(actors), place=rng.choice(places),
                when=When(start=day, end=day, granularity="day"),
                attribution=[Source(name="Wire", kind="agency"), Source(name="officials", kind="official",
                                                                        anonymous=True)],
                evidence={"trigger": Span(start=text.index("moved"), end=text.index("moved") + 5, text="moved"),
                          "sentence": Span(start=0, end=55, text=text[:55])}))
        yield Analysis(document=doc, events=events)


HOSTILE = '<img src=x onerror="window.__xss = 1">Rebels <b>captured</b> Homs, officials said.'


def _hostile() -> Any:
    """A stored document whose text and URL would run script if the page ever treated them as markup."""
    from tidings.records import Analysis, Document, Event, Span

    doc = Document(id="hostile", text=HOSTILE, url="javascript:window.__xss=2", title="<i>t</i>")
    start = HOSTILE.index("captured")
    event = Event(id="hostile-0", doc_id="hostile", type="ASSAULT", evidence={
        "trigger": Span(start=start, end=start + 8, text="captured"),
        "sentence": Span(start=0, end=len(HOSTILE), text=HOSTILE)})
    return Analysis(document=doc, events=[event])


@pytest.fixture(scope="module")
def busy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Thousands of events: the dashboard must stay responsive."""
    from tidings.store import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('busy') / 'busy.db'}"
    with Store(url) as store:
        store.save_many(_synthetic(BUSY_DOCUMENTS, 10))
        store.save(_hostile())
    with _serving(url) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def page(browser: Any, base_url: str) -> Iterator[Any]:
    yield from _open(browser, base_url)


@pytest.fixture()
def busy_page(browser: Any, busy_url: str) -> Iterator[Any]:
    yield from _open(browser, busy_url)


def _open(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh page on the dashboard, loaded; fails on any script error or any request off 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" else None)
    # Offline, as users may be: any request that leaves 127.0.0.1 fails the test.
    outside: list[str] = []

    def local_only(route: Any) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(base_url)
    page.wait_for_selector("body[data-status=ready]")
    yield page
    context.close()
    assert not outside, f"the dashboard reached outside: {outside}"
    assert not problems, problems


def _markers(page: Any) -> list[dict[str, Any]]:
    page.wait_for_function("window.tidings && window.tidings.markers().length > 0")
    return page.evaluate("window.tidings.markers()")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def test_map_shows_markers_at_syrian_cities(page: Any, sample_analysis: Any) -> None:
    markers = _markers(page)
    cities = {m["place"] for m in markers if m["visible"] and m["country"] == "SY"}
    assert {"Homs", "Damascus"} <= cities, cities
    total = len(sample_analysis.events)
    assert page.locator("#summary").inner_text().startswith(f"{total} events")
    assert page.locator("#event-list li").count() == total
    assert page.locator("#timeline svg rect").count() > 0                 # bars (and the brush overlay)
    assert page.locator("#network svg .node").count() > 2
    # Each modality in the data has its legend swatch next to its filter.
    assert page.locator("#modality-list label").count() == 6
    _shot(page, "dashboard.png")


def test_filter_to_retreat_then_open_an_event(page: Any, sample_analysis: Any) -> None:
    retreats = [e for e in sample_analysis.events if e.type == "RETREAT"]
    page.get_by_label("RETREAT").check()
    page.wait_for_function("document.body.dataset.status === 'ready' && location.search.includes('type=RETREAT')")
    assert page.locator("#event-list li").count() == len(retreats)
    assert set(page.locator("#event-list li").evaluate_all("els => els.map(e => e.dataset.type)")) == {"RETREAT"}
    markers = _markers(page)
    assert markers and {m["type"] for m in markers} == {"RETREAT"}
    _shot(page, "retreat.png")

    # Click the marker of an event whose chain has an anonymous link, on the canvas itself.
    anonymous = {e.id for e in retreats if any(link.anonymous for link in e.attribution)}
    target = next(m for m in markers if m["visible"] and anonymous & set(m["ids"]))
    page.mouse.click(target["x"], target["y"])
    page.wait_for_selector("#detail .chain li")
    event_id = page.locator("#detail").get_attribute("data-event-id")
    assert event_id in target["ids"]
    if event_id not in anonymous:   # several events share the marker: pick the anonymous one from the list
        event_id = next(i for i in target["ids"] if i in anonymous)
        page.locator(f'#event-list li[data-id="{event_id}"]').click()
        page.wait_for_selector(f'#detail[data-event-id="{event_id}"]')
    event = next(e for e in retreats if e.id == event_id)

    detail = page.locator("#detail")
    assert "RETREAT" in detail.locator(".type-badge").inner_text()
    assert detail.locator(".modality-badge").inner_text().strip() == event.modality
    trigger = detail.locator("mark.ev-trigger").first.inner_text()
    assert trigger == event.evidence["trigger"].text
    assert event.evidence["sentence"].text.strip()[:40] in detail.locator(".evidence .sentence").inner_text()
    links = detail.locator(".chain li")
    assert links.count() == len(event.attribution)
    flags = links.evaluate_all("els => els.map(e => e.dataset.anonymous === 'true')")
    assert flags == [link.anonymous for link in event.attribution]
    assert "anonymous" in detail.locator(".chain li.anonymous").first.inner_text()
    if page.evaluate("fetch('api/clusters?limit=1').then(r => r.status)") == 200:
        assert "independent source" in detail.locator(".corroboration").inner_text()
    _shot(page, "event.png")


def test_timeline_brush_narrows_the_list(page: Any) -> None:
    before = page.locator("#event-list li").count()
    box = page.locator("#timeline svg .brush .overlay").bounding_box()
    assert box
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.8, y)     # the last days of the sample
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 1, y, steps=5)
    page.mouse.up()
    page.wait_for_function(f"document.querySelectorAll('#event-list li').length < {before}")
    since = page.locator("input[name=since]").input_value()
    assert since, "the brushed range is written into the date filters"
    dates = page.locator("#event-list li .when").all_inner_texts()
    assert dates and all(d != "undated" for d in dates)
    _shot(page, "brushed.png")


def test_analyse_an_article_from_the_page(page: Any) -> None:
    before = int(page.locator("#summary").inner_text().split()[0])
    page.locator("#add-article summary").click()
    page.locator("#add-form textarea").fill(
        "Turkish troops withdrew from the town of Tal Abyad on Monday, the defence ministry in Ankara said.")
    page.locator("#add-form input[name=published]").fill("2024-10-14")
    page.locator("#add-form button[type=submit]").click()
    page.wait_for_function("document.querySelector('#add-status').textContent.includes('stored')")
    page.wait_for_function(f"document.body.dataset.status === 'ready' "
                           f"&& parseInt(document.querySelector('#summary').textContent) > {before}")
    assert page.locator('#event-list li[data-type="RETREAT"]').count() >= 1


def test_thousands_of_events_stay_responsive(busy_page: Any) -> None:
    page = busy_page
    total = BUSY_DOCUMENTS * 10 + 1
    assert page.locator("#summary").inner_text().startswith(f"{total} events")
    assert len(page.evaluate("window.tidings.state.rows")) == total      # paged in, 1000 at a time
    markers = _markers(page)
    assert 100 < len(markers) < total                                      # aggregated, not one per event
    frame = page.evaluate("window.tidings.redraw()")
    assert frame < 250, f"one map frame took {frame:.0f} ms"
    assert page.locator("#event-list li").count() == 200                   # the list renders a page at a time
    page.locator("#list-more").click()
    assert page.locator("#event-list li").count() == 400
    target = next(m for m in markers if m["visible"])
    page.mouse.click(target["x"], target["y"])
    page.wait_for_selector("#detail .chain li.anonymous")
    started = time.perf_counter()
    page.get_by_label("ASSAULT").check()
    page.wait_for_function("document.body.dataset.status === 'ready' && location.search.includes('ASSAULT')")
    assert time.perf_counter() - started < 15
    assert set(page.locator("#event-list li").evaluate_all("els => els.map(e => e.dataset.type)")) == {"ASSAULT"}
    _shot(page, "thousands.png")


def test_article_text_is_never_markup(busy_page: Any) -> None:
    page = busy_page
    page.evaluate("window.tidings.select('hostile-0')")
    page.wait_for_selector('#detail[data-event-id="hostile-0"]')
    detail = page.locator("#detail")
    assert detail.locator("img, b, i").count() == 0
    assert HOSTILE.split(">", 1)[1][:20] in detail.locator(".evidence").inner_text()
    assert detail.locator("a").count() == 0                       # a javascript: URL is not a link
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
