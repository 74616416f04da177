"""The dashboard in a real browser: Debian's Chromium driven by Playwright against uvicorn on 127.0.0.1.

Three stores: the sample article analysed by the engine (evidence and chains as the pipeline makes them),
4,000 synthetic events (responsiveness, markup safety), and the wire-style corpus of 320 articles from
``tests/wire_corpus.py`` (map clustering and precision, timeline outliers, actor network, filter errors and
counts, downloads), whose events are built directly into the store (analysing 320 articles would take
minutes; these tests are about what the dashboard draws). Every page fails its test on any console error
or any request off 127.0.0.1. Screenshots go to ``test-artifacts/``. Skipped (with the command to fix it) when Chromium or Playwright is missing:
``apt-get install -y chromium`` and ``pip install playwright`` (never ``playwright install``: the system
Chromium is used, no browser is downloaded).
"""

from __future__ import annotations

import json
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
    from tidings.api.app import create_app

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
    from tidings.store.database import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'dashboard.db'}"
    with Store(url) as store:
        store.save(sample_analysis)
        try:   # what `tidings analyze` does after storing, where the across-article layer is installed
            from tidings.across.link import link_pending
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

    from tidings.core.records import MODALITIES, Actor, Analysis, Document, Event, Place, Source, Span, When

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
    from tidings.core.records import Analysis, Document, Event, Span

    doc = Document(id="hostile", text=HOSTILE, url="javascript:window.__xss=2", title="<i>t</i>")
    start = HOSTILE.index("captured")
    event = Event(id="hostile-0", doc_id="hostile", type="ASSAULT", evidence={
        "trigger": Span(start=start, end=start + 8, text="captured"),
        "sentence": Span(start=0, end=len(HOSTILE), text=HOSTILE)})
    return Analysis(document=doc, events=[event])


@pytest.fixture(scope="module")
def busy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Thousands of events: the dashboard must stay responsive."""
    from tidings.store.database import Store

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


@pytest.fixture(scope="module")
def wire_events() -> list[Any]:
    from wire_corpus import events

    return events()


@pytest.fixture(scope="module")
def wire_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The wire-style corpus (320 articles, ~640 events), stored once for the module."""
    from wire_corpus import stored

    url = stored(f"sqlite:///{tmp_path_factory.mktemp('wire') / 'wire.db'}")
    with _serving(url) as served:
        yield served


@pytest.fixture()
def wire_page(browser: Any, wire_url: str) -> Iterator[Any]:
    yield from _open(browser, wire_url)


def _open(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh page on the dashboard, loaded; fails on any script error or any request off 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" else None)
    page.expected_statuses = set()   # a test that provokes an HTTP error lists its status here
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
    expected = {f"status of {status} " for status in page.expected_statuses}
    assert not [p for p in problems if not any(e in p for e in expected)], problems


def _markers(page: Any) -> list[dict[str, Any]]:
    page.wait_for_function("window.tidings && window.tidings.markers().length > 0")
    page.wait_for_timeout(450)   # the refit transition (350 ms) ends
    return page.evaluate("window.tidings.markers()")


def _texts(page: Any, selector: str) -> list[str]:
    """textContent of every match (SVG text has no innerText)."""
    return page.locator(selector).evaluate_all("els => els.map(e => e.textContent)")


def _ready(page: Any) -> None:
    page.wait_for_function("document.body.dataset.status === 'ready'")


def _place_marker(page: Any, name: str | None = None) -> dict[str, Any]:
    """A visible place marker (named ``name`` if given), zooming into clusters until one shows."""
    for _ in range(12):
        markers = _markers(page)
        found = [m for m in markers if m["kind"] == "place" and m["visible"] and (name is None or m["place"] == name)]
        if found:
            return found[0]
        clusters = sorted((m for m in markers if m["kind"] == "cluster" and m["visible"]), key=lambda m: m["places"])
        assert clusters, f"no place marker {name} and no cluster to open"
        page.mouse.click(clusters[0]["x"], clusters[0]["y"])
    raise AssertionError(f"no place marker {name} after zooming")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


# ------------------------------------------------------------------------------------ the sample article

def test_map_shows_markers_at_syrian_cities(page: Any, sample_analysis: Any) -> None:
    markers = _markers(page)
    cities = {m["place"] for m in markers if m["visible"] and m["kind"] == "place" and m["country"] == "SY"}
    clustered = [m for m in markers if m["kind"] == "cluster"]
    assert {"Homs", "Damascus"} <= cities or clustered, cities
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
    assert markers and all(set(m["types"]) == {"RETREAT"} for m in markers)
    _shot(page, "retreat.png")

    # Click a place's marker on the canvas itself: the list narrows to that place, the panel opens one of them.
    target = _place_marker(page)
    page.mouse.click(target["x"], target["y"])
    page.wait_for_selector("#detail .chain li")
    event_id = page.locator("#detail").get_attribute("data-event-id")
    event = next(e for e in retreats if e.id == event_id)
    assert event.place is not None and event.place.name == target["place"]
    assert target["place"] in page.locator("#list-title").inner_text()
    detail = page.locator("#detail")
    assert "RETREAT" in detail.locator(".type-badge").inner_text()
    assert detail.locator(".modality-badge").inner_text().strip() == event.modality
    assert detail.locator("mark.ev-trigger").first.inner_text() == event.evidence["trigger"].text
    assert event.evidence["sentence"].text.strip()[:40] in detail.locator(".evidence .sentence").inner_text()
    links = detail.locator(".chain li")
    assert links.count() == len(event.attribution)
    flags = links.evaluate_all("els => els.map(e => e.dataset.anonymous === 'true')")
    assert flags == [link.anonymous for link in event.attribution]
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
    page.wait_for_function(f"document.body.dataset.status === 'ready' "
                           f"&& document.querySelectorAll('#event-list li').length < {before}")
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


# ----------------------------------------------------------------------------------- thousands of events

def test_thousands_of_events_stay_responsive(busy_page: Any) -> None:
    page = busy_page
    total = BUSY_DOCUMENTS * 10 + 1
    assert page.locator("#summary").inner_text().startswith(f"{total} events")
    assert len(page.evaluate("window.tidings.state.rows")) == 200        # one page of rows, not thousands
    markers = _markers(page)
    assert 0 < len(markers) < 120                                         # 120 towns, clustered
    assert sum(m["events"] for m in markers) == total - 1                 # every placed event counted once
    assert page.locator("#event-list li").count() == 200
    page.locator("#list-more").click()
    page.wait_for_function("document.querySelectorAll('#event-list li').length === 400")
    target = _place_marker(page)
    page.mouse.click(target["x"], target["y"])
    page.wait_for_selector("#detail .chain li.anonymous")
    page.get_by_label("ASSAULT").check()
    page.wait_for_function("document.body.dataset.status === 'ready' && location.search.includes('ASSAULT')")
    assert set(page.locator("#event-list li").evaluate_all("els => els.map(e => e.dataset.type)")) == {"ASSAULT"}
    _shot(page, "thousands.png")


# -------------------------------------------------------------------------- the wire corpus (issue 16)

def test_clusters_split_on_zoom_and_a_click_opens_its_own_place(wire_page: Any, wire_events: list[Any]) -> None:
    page = wire_page
    markers = _markers(page)
    clusters = [m for m in markers if m["kind"] == "cluster" and m["visible"]]
    assert clusters, "dense regions (eastern US, Syria and Turkey) are clustered at the world view"
    assert sum(m["events"] for m in markers) == sum(1 for e in wire_events if e.place)
    _shot(page, "wire-map.png")
    biggest = max(clusters, key=lambda m: m["places"])
    page.mouse.click(biggest["x"], biggest["y"])
    page.wait_for_timeout(500)
    after = _markers(page)
    assert len([m for m in after if m["visible"]]) > len([m for m in markers if m["visible"]]) - 1
    assert any(m["kind"] == "place" for m in after), "a cluster splits when zoomed into"
    # The clicked place is the one opened, even where marks overlap (Aleppo is not Kayseri).
    target = _place_marker(page)
    page.mouse.click(target["x"], target["y"])
    page.wait_for_function("document.querySelector('#detail').dataset.eventId")
    event_id = page.locator("#detail").get_attribute("data-event-id")
    event = next(e for e in wire_events if e.id == event_id)
    assert event.place.name == target["place"]
    wanted = sum(1 for e in wire_events if e.place and e.place.geonameid == target["geonameid"])
    assert page.locator("#list-title").inner_text().startswith(f"{wanted} event")
    whos = page.locator("#event-list li .who").all_inner_texts()
    assert whos and all(w.endswith(f"@ {target['place']}") for w in whos)
    _shot(page, "wire-place.png")


def test_hover_lists_everything_under_the_cursor(wire_page: Any) -> None:
    page = wire_page
    markers = [m for m in _markers(page) if m["visible"]]
    pairs = [(a, b) for a in markers for b in markers if a is not b and a["r"] < b["r"]
             and (a["x"] - b["x"]) ** 2 + (a["y"] - b["y"]) ** 2 < (b["r"] - 2) ** 2]
    assert pairs, "the world view has overlapping marks (a country's mark under its cities)"
    small, _big = pairs[0]
    page.mouse.move(small["x"], small["y"])
    page.wait_for_selector("#map .tooltip:not([hidden])")
    lines = page.locator("#map .tooltip div").all_inner_texts()
    assert len(lines) >= 2, lines
    page.mouse.wheel(0, -300)                                   # a tooltip never outlives a zoom
    page.wait_for_selector("#map .tooltip", state="hidden")


def test_places_show_their_precision(wire_page: Any) -> None:
    page = wire_page
    markers = _markers(page)
    areas = [m for m in markers if m["kind"] == "area"]
    assert {m["level"] for m in areas} >= {"country", "admin1"}
    assert all(m["level"] not in ("country", "admin1") for m in markers if m["kind"] == "place")
    page.select_option("select[name=map-mode]", "admin1-events")
    page.wait_for_selector("#map .map-legend:not([hidden])")
    provinces = page.evaluate("window.tidings.markers()")
    assert provinces and {m["kind"] for m in provinces} == {"admin1"}
    _shot(page, "wire-provinces.png")


def test_the_map_refits_when_filters_change(wire_page: Any, wire_events: list[Any]) -> None:
    page = wire_page
    page.locator("input[name=country]").fill("MEX")
    page.locator("#filter-form button[type=submit]").click()
    page.wait_for_function("document.body.dataset.status === 'ready' && location.search.includes('MEX')")
    markers = _markers(page)
    mexico = sum(1 for e in wire_events if e.place and "MEX" in
                 {e.place.country3, *(a.country for a in (e.source_actor, e.target_actor) if a)})
    assert sum(m["events"] for m in markers) == sum(
        1 for e in wire_events if e.place and "MEX" in
        {e.place.country3, *(a.country for a in (e.source_actor, e.target_actor) if a)}) == mexico
    mexican = [m for m in markers if m["country"] == "MX" or m["kind"] == "cluster"]
    assert mexican and all(m["visible"] for m in mexican), "the view moved to the matching places"
    box = page.locator("#map canvas").bounding_box()
    mx = [m for m in markers if m["country"] == "MX"]
    assert all(box["x"] <= m["x"] <= box["x"] + box["width"] for m in mx)
    _shot(page, "wire-mexico.png")


def test_timeline_clips_outliers_zooms_and_draws_precision(wire_page: Any) -> None:
    page = wire_page
    note = page.locator("#timeline .timeline-note")
    assert note.is_visible()
    text = note.inner_text()
    assert "outside" in text and "1961-05-01" in text and "2030-01-01" in text
    clipped = _texts(page, "#timeline .x-axis .tick text")
    assert not any(t.startswith(("1961", "1970", "2030")) for t in clipped), clipped
    assert page.locator("#timeline .ranges rect[data-granularity=year]").count() > 0
    assert page.locator("#timeline .ranges rect[data-granularity=month]").count() > 0
    _shot(page, "wire-timeline.png")
    box = page.locator("#timeline svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -600)
    page.wait_for_function(f"JSON.stringify([...document.querySelectorAll('#timeline .x-axis .tick text')]"
                           f".map(t => t.textContent)) !== {json.dumps(json.dumps(clipped))}")
    page.locator("#timeline .show-all").click()
    page.wait_for_function("[...document.querySelectorAll('#timeline .x-axis .tick text')]"
                           ".some(t => /^(19[6-9]|20[0-3])\\d$/.test(t.textContent))")
    page.select_option("select[name=stack-by]", "region")
    page.wait_for_function("[...document.querySelectorAll('#timeline .legend text')]"
                           ".some(t => t.textContent === 'Middle East')")
    _shot(page, "wire-timeline-regions.png")


def test_network_labels_its_top_actors_without_clipping(wire_page: Any, wire_events: list[Any]) -> None:
    page = wire_page
    ids = set(page.locator("#network .node").evaluate_all("els => els.map(e => e.dataset.id)"))
    assert {"Barack Obama [USAGOV]", "Donald Trump [USAGOV]"} <= ids     # one code, two people
    counts: dict[str, int] = {}
    for e in wire_events:
        for a in {(x.name, x.code) for x in (e.source_actor, e.target_actor) if x}:
            label = f"{a[0]} [{a[1]}]"
            counts[label] = counts.get(label, 0) + 1
    top = sorted(counts, key=lambda k: (-counts[k], k))[:8]
    labels = set(_texts(page, "#network .node text"))
    assert set(top) <= labels, set(top) - labels
    svg = page.locator("#network svg").bounding_box()
    for element in page.locator("#network .node text, #network .node circle").all():
        b = element.bounding_box()
        assert b and svg["x"] - 1 <= b["x"] and b["x"] + b["width"] <= svg["x"] + svg["width"] + 1
        assert svg["y"] - 1 <= b["y"] and b["y"] + b["height"] <= svg["y"] + svg["height"] + 1
    radii = page.locator("#network .node circle").evaluate_all("els => els.map(e => +e.getAttribute('r'))")
    assert min(radii) > 0
    before = len(ids)
    page.locator("#network input[name=min-events]").fill("60")
    page.wait_for_function(f"document.querySelectorAll('#network .node').length < {before}")
    page.locator("#network button.enlarge").click()
    big = page.locator("#network").bounding_box()
    assert big["width"] > svg["width"] * 1.4
    _shot(page, "wire-network.png")


def test_filter_errors_show_next_to_their_field(wire_page: Any) -> None:
    page = wire_page
    page.expected_statuses.add(422)   # Chromium logs the API's 422 answer as "Failed to load resource"
    page.locator("input[name=text]").fill('"unclosed')
    page.locator("#filter-form button[type=submit]").click()
    error = page.locator('.field-error[data-field="text"]')
    error.wait_for()
    assert "full-text" in error.inner_text()
    b = error.bounding_box()
    assert b and 0 <= b["y"] and b["y"] + b["height"] <= 900, "the error is in the viewport"
    assert page.locator("body").get_attribute("data-status") == "error"
    _shot(page, "wire-error.png")
    page.locator("input[name=text]").fill("")
    page.locator("input[name=since]").fill("2017-05-01")
    page.locator("input[name=until]").fill("2017-01-01")
    page.locator("#filter-form button[type=submit]").click()
    page.locator('.field-error[data-field="until"]').wait_for()
    assert page.locator('.field-error[data-field="text"]').count() == 0


def test_counts_follow_the_filters(wire_page: Any, wire_events: list[Any]) -> None:
    page = wire_page
    page.get_by_label("ASSAULT").check()
    page.wait_for_function("document.body.dataset.status === 'ready' && location.search.includes('ASSAULT')")
    shown = dict(zip(page.locator("#modality-list label").evaluate_all("els => els.map(e => e.dataset.value)"),
                     page.locator("#modality-list .count").all_inner_texts(), strict=True))
    for modality, n in shown.items():
        assert int(n) == sum(1 for e in wire_events if e.type == "ASSAULT" and e.modality == modality), modality
    assaults = sum(1 for e in wire_events if e.type == "ASSAULT")
    assert page.locator("#summary").inner_text().startswith(f"{assaults} events")


def test_download_this_view(wire_page: Any, wire_events: list[Any], tmp_path: Path) -> None:
    page = wire_page
    page.get_by_label("RETREAT").check()
    page.wait_for_function("document.body.dataset.status === 'ready' && location.search.includes('RETREAT')")
    retreats = {e.id for e in wire_events if e.type == "RETREAT"}
    with page.expect_download() as download:
        page.locator("#download-geojson").click()
    path = tmp_path / "view.geojson"
    download.value.save_as(path)
    features = json.loads(path.read_text("utf-8"))["features"]
    assert {f["id"] for f in features} == retreats
    with page.expect_download() as download:
        page.locator("#download-csv").click()
    download.value.save_as(tmp_path / "view.csv")
    assert len((tmp_path / "view.csv").read_text("utf-8").strip().splitlines()) == len(retreats) + 1
    status = page.evaluate("fetch(document.querySelector('#download-parquet').href).then(r => r.status)")
    assert status == 200

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
