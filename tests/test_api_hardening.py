"""The API answers a hostile or careless caller with a 4xx in the error shape, never a 500 or a silent guess.

The probes come from issue 16 and, for strings, from the schema itself: every string parameter of every
operation is sent over-long, with a NUL and with an escape character, so a route added later is probed too.
Runs in-process (TestClient) over a temporary SQLite database; no engine is loaded except for the German check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the API needs the server extra: pip install 'tidings[server]'")
pytest.importorskip("httpx", reason="TestClient needs httpx: pip install 'tidings[server]'")

from fastapi.testclient import TestClient

from tidings.api.app import create_app
from tidings.api.guard import MAX_JSON_DEPTH, json_too_deep, scrub
from tidings.core.errors import StoreError
from tidings.read import read_text
from tidings.store.database import Store

WEB = Path(__file__).resolve().parents[1] / "src" / "tidings" / "web"


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory, sample_analysis: Any) -> Path:
    path = tmp_path_factory.mktemp("hardening") / "hardening.db"
    with Store(f"sqlite:///{path}") as store:
        store.save(sample_analysis)
    return path


@pytest.fixture(scope="module")
def client(db_path: Path) -> Any:
    with TestClient(create_app(f"sqlite:///{db_path}", deliver_webhooks=False),
                    raise_server_exceptions=False) as test_client:
        yield test_client


def _error(response: Any, status: int, db_path: Path | None = None) -> dict[str, Any]:
    """The error object of a response that must be ``status`` in the one error shape, naming no file."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str)
    if db_path is not None:
        assert db_path.name not in response.text and str(db_path.parent) not in response.text
    return error


# ------------------------------------------------------------------------------------------ parameters

def _string_parameters(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path, parameter, where) for every string-typed query or path parameter in the schema."""
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                kinds = {param["schema"].get("type")} | {s.get("type") for s in param["schema"].get("anyOf", [])}
                items = param["schema"].get("items") or next(
                    (s["items"] for s in param["schema"].get("anyOf", []) if "items" in s), {})
                if "string" in kinds or (items.get("type") == "string" and "enum" not in items):
                    found.append((method, path, param["name"], param["in"]))
    return found


def _probe_url(path: str, name: str, where: str, value: str) -> str:
    from urllib.parse import quote

    if where == "path":
        return path.replace("{" + name + "}", quote(value, safe=""))
    filled = path.replace("{event_id}", "x").replace("{doc_id}", "x").replace("{cluster_id}", "x")
    return f"{filled}?{name}={quote(value, safe='')}"


def test_the_schema_has_the_string_parameters_we_probe(client: Any) -> None:
    params = {(path, name) for _m, path, name, _w in _string_parameters(client.get("/openapi.json").json())}
    assert {("/api/events", "actor"), ("/api/events", "source"), ("/api/events", "text"), ("/api/events", "type"),
            ("/api/actors", "q"), ("/api/places", "country"), ("/api/events/{event_id}", "event_id"),
            ("/api/alerts", "rule")} <= params


@pytest.mark.parametrize("value", ["a" * 50_000, "a\x00b", "a\x1bb", "line\nbreak"],
                         ids=["50k chars", "NUL", "ESC", "newline"])
def test_every_string_parameter_is_bounded_and_free_of_control_characters(client: Any, db_path: Path,
                                                                          value: str) -> None:
    schema = client.get("/openapi.json").json()
    probed = 0
    for method, path, name, where in _string_parameters(schema):
        response = client.request(method.upper(), _probe_url(path, name, where, value))
        error = _error(response, 422, db_path)
        assert error["code"] == "validation_error", (path, name, error)
        assert value not in response.text            # the answer does not echo the input
        probed += 1
    assert probed >= 12


@pytest.mark.parametrize("query", ["type=BOGUS", "modality=bogus", "format=xml", "shape=wide", "typ=ASSAULT",
                                   "q=Homs"])
def test_unknown_values_and_parameters_are_422(client: Any, query: str) -> None:
    """An unknown enum value or parameter name is a mistake to report, not a filter that is dropped (which
    answered every event) or that matches nothing."""
    error = _error(client.get(f"/api/events?{query}"), 422)
    assert error["code"] == "validation_error"
    assert query.split("=")[0] in error["message"] or "BOGUS" in error["message"], error


def test_cluster_types_are_checked_like_event_types(client: Any) -> None:
    assert _error(client.get("/api/clusters?type=BOGUS"), 422)["code"] == "validation_error"
    assert client.get("/api/clusters?type=assault").status_code == 200


def test_good_requests_still_pass_the_guards(client: Any) -> None:
    """The guards refuse only what they say: real filters, repeated keys and ids still answer 200."""
    assert client.get("/api/events?type=ASSAULT&type=RETREAT&modality=reported&modality=hedged&limit=5"
                      "&country=SYR&since=2024-01-01&shape=flat").status_code == 200
    event_id = client.get("/api/events?limit=1").json()["events"][0]["id"]
    assert client.get(f"/api/events/{event_id}").status_code == 200
    assert client.get("/api/actors?q=Iran&limit=3").status_code == 200


@pytest.mark.parametrize("url", ["/?type=ASSAULT&actor=IRN&since=2024-12-01", "/?text=%22peace+talks%22",
                                 "/docs?urls.primaryName=x", "/redoc?nocors"])
def test_pages_keep_their_query_strings(client: Any, url: str) -> None:
    """The dashboard keeps its filters in the page URL (a bookmarked view): the guards are for the API's
    operations, and a page answers whatever its query string."""
    response = client.get(url)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]


# ------------------------------------------------------------------------------------------ HTTP layer

@pytest.mark.parametrize("method, path, status, code", [
    ("GET", "/no/such/page", 404, "not_found"),
    ("GET", "/web/no-such-file.js", 404, "not_found"),
    ("GET", "/web/../api.py", 404, "not_found"),
    ("DELETE", "/api/events", 405, "method_not_allowed"),
    ("PUT", "/api/documents", 405, "method_not_allowed"),
    ("GET", "/api/events?limit=lots", 422, "validation_error"),
])
def test_framework_errors_are_in_the_error_shape(client: Any, method: str, path: str, status: int,
                                                code: str) -> None:
    assert _error(client.request(method, path), status)["code"] == code


def test_server_errors_are_in_the_shape_and_name_no_path(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing database (StoreError) and an unexpected exception both answer 500 in the error shape, and
    neither the database URL nor any file path reaches the caller."""
    store = Store(f"sqlite:///{db_path}")
    app = create_app(store=store, deliver_webhooks=False)

    def broken_events(**_kw: Any) -> Any:
        raise StoreError(f"Could not read {store.url}: disk I/O error", code="E206",
                         hint=f"Check {db_path} exists and is writable.")

    def crashing_stats() -> Any:
        raise RuntimeError(f"unexpected state in {db_path.parent}/cache/index.bin")

    monkeypatch.setattr(store, "events", broken_events)
    monkeypatch.setattr(store, "events_page", broken_events)
    monkeypatch.setattr(store, "stats", crashing_stats)
    with TestClient(app, raise_server_exceptions=False) as api:
        error = _error(api.get("/api/events"), 500, db_path)
        assert error["code"] == "E206" and "the database" in error["message"] and "sqlite:" not in error["message"]
        assert _error(api.get("/api/stats"), 500, db_path)["code"] == "internal_error"


def test_scrub_removes_urls_and_paths_but_keeps_the_words() -> None:
    assert scrub("Could not read sqlite:////srv/data/x.db: locked", "sqlite:////srv/data/x.db") == \
        "Could not read the database: locked"
    assert scrub("no such file /home/ana/tidings/cache.bin, giving up") == "no such file <path>, giving up"
    assert scrub(r"cannot open C:\Users\ana\t.db") == "cannot open <path>"
    assert scrub("connect postgresql://u:pw@db.example/x failed") == "connect the database failed"
    assert scrub("a/b is a ratio, 3/4 too") == "a/b is a ratio, 3/4 too"


# ----------------------------------------------------------------------------------------------- bodies

def test_json_depth_is_measured_before_parsing() -> None:
    flat = json.dumps([{"text": "Rebels took [the town] {again}", "title": "\"[[[[\""}] * 100).encode()
    assert not json_too_deep(flat)
    nested: Any = 1
    for _ in range(MAX_JSON_DEPTH):
        nested = [nested]
    assert not json_too_deep(json.dumps(nested).encode())
    assert json_too_deep(json.dumps([nested]).encode())
    assert json_too_deep(b"[" * 10_000) and json_too_deep(b'{"a":' * 5000 + b"1" + b"}" * 5000)
    assert not json_too_deep(b"[[1, 2}")       # broken but shallow: the parser says what is wrong


@pytest.mark.parametrize("body", ["[" * 10_000, '{"a":' * 5000 + "1" + "}" * 5000, "[" * 40 + "]" * 40],
                         ids=["10k arrays", "5k objects", "balanced 40"])
def test_deep_json_bodies_are_422(client: Any, body: str) -> None:
    response = client.post("/api/documents", content=body, headers={"content-type": "application/json"})
    assert _error(response, 422)["code"] == "invalid_json"


@pytest.mark.parametrize("field, value", [("title", "a\x00b"), ("outlet", "x\x1b[31m"), ("title", "t" * 1001),
                                          ("url", "https://example.org/" + "u" * 2100), ("outlet", "o" * 201)])
def test_document_metadata_is_bounded_and_clean(client: Any, field: str, value: str) -> None:
    body = {"text": "Rebels attacked Homs on Friday, officials said.", field: value}
    error = _error(client.post("/api/documents", json=body), 422)
    assert error["code"] == "validation_error" and field in error["message"]


def test_a_batch_with_nothing_usable_carries_the_error_shape(client: Any) -> None:
    response = client.post("/api/documents", json=[{"text": ""}, 7])
    error = _error(response, 422)
    assert error["code"] == "no_documents" and len(response.json()["failures"]) == 2


GERMAN_LONG = ("Die Regierung in Berlin hat am Montag neue Gespräche mit den Nachbarländern angekündigt. "
               "Der Minister sagte, dass die Verhandlungen über die Grenze und den Handel noch in dieser Woche "
               "beginnen sollen, und dass man mit einer schnellen Einigung rechne, wenn alle Seiten zustimmen.")
FRENCH_LONG = ("Le gouvernement a annoncé lundi de nouvelles discussions avec les pays voisins. Le ministre a "
               "déclaré que les négociations sur la frontière et le commerce devraient commencer cette semaine "
               "et qu'il espérait un accord rapide si toutes les parties donnaient leur accord.")


@pytest.mark.parametrize("text", [GERMAN_LONG, FRENCH_LONG], ids=["German", "French"])
def test_language_check_is_the_clis(db_path: Path, engine: Any, text: str) -> None:
    """The API refuses exactly what ``tidings analyze`` refuses: both faces read text through read_text."""
    cli = read_text(text, ref="<stdin>")
    assert getattr(cli, "code", None) == "E106"
    with TestClient(create_app(f"sqlite:///{db_path}", engine=engine, deliver_webhooks=False)) as api:
        before = api.get("/api/stats").json()["documents"]
        assert _error(api.post("/api/documents", json={"text": text}), 422)["code"] == "E106"
        assert api.get("/api/stats").json()["documents"] == before


# ------------------------------------------------------------------------------------------ API manual

@pytest.mark.parametrize("page, asset", [("/docs", "swagger-ui/swagger-ui-bundle.js"),
                                         ("/redoc", "redoc/redoc.standalone.js")])
def test_api_manual_is_served_from_the_package(client: Any, page: str, asset: str) -> None:
    """Swagger UI and ReDoc load their bundles from /web/apidocs, not a CDN, and the bundles are there."""
    import re

    html = client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert not re.search(r"(?:src|href)\s*=\s*[\"'](?:https?:)?//", html.text), html.text
    assert f"/web/apidocs/{asset}" in html.text and "/openapi.json" in html.text
    served = client.get(f"/web/apidocs/{asset}")
    assert served.status_code == 200 and len(served.content) > 100_000


def test_vendored_api_manual_ships_its_licences() -> None:
    for library in ("swagger-ui", "redoc"):
        assert (WEB / "apidocs" / library / "LICENSE").is_file(), library
    assert "swagger-ui-dist" in (WEB / "apidocs" / "VERSIONS").read_text("utf-8")


# ---------------------------------------------------------------------------------------- events as JSON

def test_event_pages_are_the_events_the_store_holds(client: Any, db_path: Path) -> None:
    """The JSON page passes the stored JSON through: it must be exactly what the Event model serialises."""
    from tidings.core.records import Event

    with Store(f"sqlite:///{db_path}") as store:
        expected = [json.loads(e.model_dump_json()) for e in store.events(limit=50)]
    page = client.get("/api/events?limit=50").json()
    assert page["events"] == expected and len(expected) >= 2
    assert all(Event.model_validate(e) for e in page["events"])


def test_events_stored_by_an_older_tidings_are_answered_whole(tmp_path: Path, sample_analysis: Any) -> None:
    """A row written before a field existed (here: ``why`` removed from the stored JSON) is answered with the
    field at its default, like Store.events reads it, not passed through without it."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    with Store(url) as store:
        store.save(sample_analysis)
        with store.write() as conn:
            conn.execute(sa.text("UPDATE events SET data = json_remove(data, '$.why')"))
        expected = [json.loads(e.model_dump_json()) for e in store.events(limit=100)]
    with TestClient(create_app(url, deliver_webhooks=False)) as api:
        events = api.get("/api/events?limit=100").json()["events"]
    assert events == expected and all("why" in e for e in events)


@pytest.mark.parametrize("filters", [{}, {"type": "RETREAT"}, {"country": "SYR"}, {"actor": "IRN"},
                                     {"modality": ["reported", "hedged"]}, {"place": "Syria"},
                                     {"source": "officials"}, {"since": "2024-12-01"}])
@pytest.mark.parametrize("limit, offset", [(100, 0), (3, 0), (3, 2), (5, 1000), (0, 0)])
def test_events_page_is_events_and_their_count(db_path: Path, filters: dict[str, Any], limit: int,
                                              offset: int) -> None:
    """Store.events_page (one plan, one transaction) answers what events() and count_events() answer."""
    import datetime as dt

    if "since" in filters:
        filters = {**filters, "since": dt.date.fromisoformat(filters["since"])}
    with Store(f"sqlite:///{db_path}") as store:
        rows, total = store.events_page(**filters, limit=limit, offset=offset)
        assert [json.loads(r)["id"] for r in rows] == [e.id for e in store.events(**filters, limit=limit,
                                                                                  offset=offset)]
        assert total == store.count_events(**filters)
