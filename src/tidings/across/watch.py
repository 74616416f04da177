"""Watch rules: say what you care about once; get an alert when it is reported (and corroborated enough).

Why it works the way it does:

* **Rules are data**: kept in the store (``tidings watch add``) or in a YAML/JSON file (``--rules`` or
  ``$TIDINGS_WATCH``), with the same fields either way (:class:`WatchRule`).
* **Evaluated on what is new**: :func:`evaluate_new` looks only at the events of the analyses just
  stored, after linking them, so a rule asking for two independent sources fires when the second one
  arrives, whichever order the reports came in.
* **One alert per rule and real-world event** (cluster): re-evaluating, a syndicated copy, or a merge of
  two clusters never alerts twice. Alerts are stored in the ``alerts`` table and printed.
* **Webhooks never hold up analysis.** A new alert with a webhook is put in an outbox in the store
  (``webhook_outbox``, bounded to :data:`OUTBOX_LIMIT` waiting entries); :func:`deliver_pending` sends what
  is due within a time budget (``tidings analyze`` gives it a few seconds at its end, ``tidings follow``
  after each round, ``tidings serve`` in a background thread, ``tidings webhooks`` on demand). A failure is
  retried later with exponential backoff per URL, up to :data:`MAX_ATTEMPTS`; the state is recorded on the
  alert (``tidings alerts``). Every POST goes through the outbound policy of :mod:`tidings.read.web`:
  http(s) only, the address vetted and pinned (no loopback, private, link-local or metadata addresses
  unless allowed), a total deadline and a byte cap.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tidings.across.link import (
    clusters_of,
    distance_km,
    family_of,
    link_documents,
)
from tidings.core.errors import InputError
from tidings.core.records import MODALITIES, Analysis, Event, Place
from tidings.store.database import Store
from tidings.store.schema import alerts_table, aliases_table, clusters_table, outbox_table, rules_table

__all__ = ["Alert", "DeliveryReport", "WatchRule", "add_rule", "after_store", "alerts", "deliver", "deliver_pending",
           "enqueue", "evaluate_new", "evaluate_stored", "list_rules", "load_rules_file", "post_webhook",
           "remove_rule"]

DEFAULT_MODALITIES = ("asserted", "reported", "hedged")   # not denials, plans or history, unless asked
RULES_ENV = "TIDINGS_WATCH"

OUTBOX_LIMIT = 10_000        # waiting deliveries at most; beyond, new ones are recorded as dropped
MAX_ATTEMPTS = 8             # deliveries of one alert before it is given up
RETRY_BASE = 30.0            # seconds before the first retry of a failed URL; doubles each time ...
RETRY_MAX = 3600.0           # ... up to this


# ------------------------------------------------------------------------------------------------ rules

@dataclass(frozen=True)
class WatchRule:
    """What to watch for. Every field given must match; ``min_sources`` counts independent origins."""

    name: str
    actor: str | None = None                  # code prefix (IRN) or name, source or target
    type: tuple[str, ...] = ()                # PLOVER types (compatible types match: COERCE/seize ~ ASSAULT)
    place: str | None = None                  # a place name; with radius_km, anywhere within it
    radius_km: float | None = None
    modality: tuple[str, ...] = DEFAULT_MODALITIES
    min_sources: int = 1
    country: str | None = None                # ISO3 (or ISO2) of an actor or the place
    webhook: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchRule:
        """Validate a rule given as a mapping (a file entry, a JSON body); errors say what to fix."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known - {"radius"})
        if unknown:
            raise InputError(f"Unknown watch rule field(s): {', '.join(unknown)}.", code="E601",
                             hint=f"Use: {', '.join(sorted(known))}.")
        if not str(data.get("name") or "").strip():
            raise InputError("A watch rule needs a name.", code="E602", hint="Add name: <something short>.")
        values = dict(data)
        if "radius" in values:
            values["radius_km"] = values.pop("radius")
        values["type"] = tuple(t.upper() for t in _as_tuple(values.get("type")))
        values["modality"] = tuple(m.lower() for m in _as_tuple(values.get("modality"))) or DEFAULT_MODALITIES
        bad = [m for m in values["modality"] if m not in MODALITIES]
        if bad:
            raise InputError(f"Unknown modality {', '.join(bad)} in rule {values['name']!r}.", code="E603",
                             hint=f"Use one of: {', '.join(MODALITIES)}.")
        if values.get("radius_km") is not None and not values.get("place"):
            raise InputError(f"Rule {values['name']!r} has a radius but no place.", code="E604",
                             hint="Add place: <name>, or drop radius_km.")
        values["min_sources"] = int(values.get("min_sources") or 1)
        if values.get("radius_km") is not None:
            values["radius_km"] = float(values["radius_km"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"], data["modality"] = list(self.type), list(self.modality)
        return {k: v for k, v in data.items() if v not in (None, [], ())}

    def matches(self, event: Event, places: _PlaceResolver) -> bool:
        """Whether one event satisfies every event-level condition (min_sources is checked per cluster)."""
        if event.modality not in self.modality:
            return False
        if self.type and family_of(event.type, event.mode) not in {family_of(t) for t in self.type}:
            return False
        if self.actor and not _actor_matches(self.actor, event):
            return False
        if self.country and not _country_matches(self.country, event):
            return False
        return not self.place or _place_matches(self.place, self.radius_km, event.place, places)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _actor_matches(query: str, event: Event) -> bool:
    code, folded = query.strip().upper(), query.strip().casefold()
    for actor in (event.source_actor, event.target_actor):
        if actor is not None and ((actor.code or "").startswith(code) or folded in actor.name.casefold()):
            return True
    return False


def _country_matches(country: str, event: Event) -> bool:
    code = country.strip().upper()
    if len(code) == 2:
        import pycountry

        found = pycountry.countries.get(alpha_2=code)
        code = found.alpha_3 if found else code
    codes = {a.country for a in (event.source_actor, event.target_actor) if a is not None}
    if event.place is not None:
        codes.add(event.place.country3)
    return code in codes


class _PlaceResolver:
    """Rule place names → gazetteer places, resolved once per evaluation (None: match by name only)."""

    def __init__(self, resolve: Callable[[str], Place | None] | None = None) -> None:
        self._resolve = resolve
        self._cache: dict[str, Place | None] = {}

    def __call__(self, name: str) -> Place | None:
        if name not in self._cache:
            self._cache[name] = self._lookup(name)
        return self._cache[name]

    def _lookup(self, name: str) -> Place | None:
        if self._resolve is not None:
            return self._resolve(name)
        try:
            from tidings.core.settings import Settings
            from tidings.stages.places import Gazetteer

            return Gazetteer.open(Settings().cache_dir).resolve(name)
        except Exception:   # noqa: BLE001 - no gazetteer (not built, unreadable): names still match
            return None


def _place_matches(name: str, radius_km: float | None, place: Place | None, places: _PlaceResolver) -> bool:
    if place is None:
        return False
    wanted = places(name)
    if radius_km is not None:
        if wanted is None or None in (wanted.lat, wanted.lon, place.lat, place.lon):
            return False
        return distance_km(wanted.lat, wanted.lon, place.lat, place.lon) <= radius_km  # type: ignore[arg-type]
    if place.name.casefold() == name.strip().casefold():
        return True
    if wanted is None:
        return False
    if wanted.geonameid is not None and wanted.geonameid == place.geonameid:
        return True
    if wanted.feature == "country":
        return bool(wanted.country) and wanted.country == place.country
    return wanted.feature == "admin1" and bool(wanted.admin1_code) and wanted.admin1_code == place.admin1_code


def load_rules_file(path: str | Path) -> list[WatchRule]:
    """Rules from YAML (``.yaml``/``.yml``) or JSON: a list of rules, or ``{"rules": [...]}``."""
    source = Path(path)
    try:
        text = source.read_text("utf-8")
    except OSError as exc:
        raise InputError(f"Cannot read watch rules {source}: {exc.strerror}.", code="E605") from exc
    if source.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - PyYAML is a dependency; be helpful if it is missing
            raise InputError("Reading YAML rules needs PyYAML.", code="E605", hint="pip install pyyaml, "
                             "or write the rules as JSON.") from exc
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    items = data.get("rules", []) if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InputError(f"{source} must hold a list of rules (or rules: [...]).", code="E605")
    return [WatchRule.from_dict(item) for item in items]


def add_rule(store: Store, rule: WatchRule) -> None:
    """Store a rule (replacing one of the same name)."""
    with store.write() as conn:
        conn.execute(rules_table.delete().where(rules_table.c.name == rule.name))
        conn.execute(rules_table.insert().values(name=rule.name, spec=json.dumps(rule.to_dict()), created_at=_now()))


def list_rules(store: Store) -> list[WatchRule]:
    with store.read() as conn:
        specs = list(conn.scalars(sa.select(rules_table.c.spec).order_by(rules_table.c.name)))
    return [WatchRule.from_dict(json.loads(spec)) for spec in specs]


def remove_rule(store: Store, name: str) -> bool:
    """Forget a rule; its alerts stay. False if there was no such rule."""
    with store.write() as conn:
        return bool(conn.execute(rules_table.delete().where(rules_table.c.name == name)).rowcount)


def active_rules(store: Store, extra: Sequence[WatchRule] = ()) -> list[WatchRule]:
    """Stored rules, the rules file named by ``$TIDINGS_WATCH`` if set, and ``extra``."""
    rules = list_rules(store)
    if path := os.environ.get(RULES_ENV):
        rules += load_rules_file(path)
    return rules + list(extra)


# ------------------------------------------------------------------------------------------------ alerts

@dataclass(frozen=True)
class Alert:
    """A rule matched a real-world event (cluster)."""

    rule: str
    cluster_id: str
    event_ids: list[str]
    summary: str
    independent_sources: int
    created_at: dt.datetime
    webhook: str | None = None
    delivered: bool = False
    attempts: int = 0
    last_error: str | None = None
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat() + "Z"
        return data


def evaluate_new(store: Store, analyses: Iterable[Analysis], rules: Sequence[WatchRule] | None = None, *,
                 resolve_place: Callable[[str], Place | None] | None = None) -> list[Alert]:
    """Link the analyses' documents, then check their events against the rules; store and return the
    alerts that are new (one per rule and cluster, ever)."""
    analyses = list(analyses)
    link_documents(store, [a.document.id for a in analyses])
    events = [e for a in analyses for e in a.events]
    return _evaluate(store, events, active_rules(store) if rules is None else list(rules), resolve_place)


def evaluate_stored(store: Store, rules: Sequence[WatchRule] | None = None, *,
                    resolve_place: Callable[[str], Place | None] | None = None) -> list[Alert]:
    """Check every stored event against the rules (after adding a rule, for what is already there)."""
    from tidings.across.link import link_pending

    link_pending(store)
    return _evaluate(store, list(store.iter_events()), active_rules(store) if rules is None else list(rules),
                     resolve_place)


def _evaluate(store: Store, events: Sequence[Event], rules: Sequence[WatchRule],
              resolve_place: Callable[[str], Place | None] | None) -> list[Alert]:
    if not rules or not events:
        return []
    places = _PlaceResolver(resolve_place)
    with store.read() as conn:
        cluster_of = clusters_of(conn, [e.id for e in events])
        by_cluster: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_cluster[cluster_of.get(event.id, event.id)].append(event)
        summaries = _cluster_rows(conn, sorted(by_cluster))
    found: list[Alert] = []
    for rule in rules:
        for cid in sorted(by_cluster):
            matched = [e for e in by_cluster[cid] if rule.matches(e, places)]
            row = summaries.get(cid)
            sources = row.independent_sources if row is not None else 1
            if matched and sources >= rule.min_sources:
                found.append(Alert(rule.name, cid, sorted(e.id for e in matched), _summary(row, matched[0]),
                                   sources, _now(), rule.webhook))
    return _store_new(store, found)


def _cluster_rows(conn: Connection, cluster_ids: Sequence[str]) -> dict[str, Any]:
    c = clusters_table.c
    out: dict[str, Any] = {}
    for i in range(0, len(cluster_ids), 500):
        for row in conn.execute(sa.select(c.id, c.independent_sources, c.type, c.source_name, c.target_name,
                                          c.place_name, c.date_start, c.modality)
                                .where(c.id.in_(cluster_ids[i:i + 500]))):
            out[row.id] = row
    return out


def _summary(row: Any, event: Event) -> str:
    """One line a person can act on: what, who, where, when, how corroborated."""
    if row is not None:
        kind, src, tgt, place, date, sources = (row.type, row.source_name, row.target_name, row.place_name,
                                                row.date_start, row.independent_sources)
    else:
        kind, sources = event.type, 1
        src = event.source_actor.name if event.source_actor else None
        tgt = event.target_actor.name if event.target_actor else None
        place, date = (event.place.name if event.place else None), event.when.start
    who = " → ".join(x for x in (src, tgt) if x) or "unknown actors"
    where = f" in {place}" if place else ""
    when = f" on {date.isoformat()}" if date else ""
    return f"{kind}: {who}{where}{when} ({sources} independent source{'s' if sources != 1 else ''})"


def _store_new(store: Store, candidates: Sequence[Alert]) -> list[Alert]:
    """Insert the alerts no earlier evaluation raised for the same rule and cluster (or a cluster merged
    into it); return them with their ids."""
    if not candidates:
        return []
    a = alerts_table.c
    new: list[Alert] = []
    with store.write() as conn:
        for alert in candidates:
            same_event = [alert.cluster_id, *conn.scalars(
                sa.select(aliases_table.c.old_id).where(aliases_table.c.new_id == alert.cluster_id))]
            exists = conn.scalar(sa.select(sa.func.count()).select_from(alerts_table)
                                 .where(a.rule == alert.rule, a.cluster_id.in_(same_event)))
            if exists:
                continue
            result = conn.execute(alerts_table.insert().values(
                rule=alert.rule, cluster_id=alert.cluster_id, event_ids=json.dumps(alert.event_ids),
                summary=alert.summary, independent_sources=alert.independent_sources,
                created_at=alert.created_at, webhook=alert.webhook, delivered=False, attempts=0))
            key = result.inserted_primary_key
            new.append(_with(alert, id=int(key[0]) if key else None))
    return new


def alerts(store: Store, *, rule: str | None = None, limit: int = 100) -> list[Alert]:
    """Stored alerts, newest first."""
    a = alerts_table.c
    stmt = sa.select(alerts_table).order_by(a.id.desc()).limit(limit)
    if rule:
        stmt = stmt.where(a.rule == rule)
    with store.read() as conn:
        return [_alert_from_row(r) for r in conn.execute(stmt)]


def _alert_from_row(row: Any) -> Alert:
    return Alert(row.rule, row.cluster_id, json.loads(row.event_ids), row.summary, row.independent_sources,
                 row.created_at, row.webhook, bool(row.delivered), row.attempts, row.last_error, row.id)


def _with(alert: Alert, **changes: Any) -> Alert:
    return Alert(**{**asdict(alert), **changes})


# ------------------------------------------------------------------------------------------------ delivery

@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None
    waited: list[float] = field(default_factory=list)


def post_webhook(url: str, payload: dict[str, Any], *, retries: int = 3, backoff: float = 0.5,
                 max_backoff: float = 8.0, timeout: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep, client: Any = None) -> Delivery:
    """POST ``payload`` as JSON under the outbound policy (:func:`tidings.read.web.webhook_policy`; each
    attempt has ``timeout`` seconds in all). Network errors, 429 and 5xx are retried ``retries`` times,
    waiting ``backoff × 2^n`` seconds (capped at ``max_backoff``); other 4xx, and URLs the policy refuses,
    are not (retrying will not help)."""
    from tidings.core.errors import IngestError
    from tidings.read.web import FetchError

    waited: list[float] = []
    error = None
    try:
        own = client is None
        client = client or _webhook_client(timeout)
    except IngestError as exc:
        return Delivery(False, 1, str(exc), waited)
    try:
        for attempt in range(1, retries + 2):
            try:
                client.post_json(url, payload)
                return Delivery(True, attempt, None, waited)
            except FetchError as exc:
                error = f"HTTP {exc.status}" if exc.status else f"[{exc.code}] {exc.message}"
                if not _worth_retrying(exc):
                    return Delivery(False, attempt, error, waited)
            if attempt <= retries:
                pause = min(max_backoff, backoff * math.pow(2, attempt - 1))
                waited.append(pause)
                sleep(pause)
        return Delivery(False, retries + 1, error, waited)
    finally:
        if own:
            client.close()


def _worth_retrying(exc: Any) -> bool:
    if exc.status is not None:
        return exc.status == 429 or exc.status >= 500
    return bool(exc.transient)


def _webhook_client(timeout: float | None = None) -> Any:
    from dataclasses import replace

    from tidings.read.web import WebClient, webhook_policy

    policy = webhook_policy()
    if timeout is not None:
        policy = replace(policy, deadline=timeout, read_timeout=min(policy.read_timeout, timeout),
                         connect_timeout=min(policy.connect_timeout, timeout))
    return WebClient(policy)


def enqueue(store: Store, new_alerts: Sequence[Alert]) -> list[Alert]:
    """Put each alert that has a webhook in the outbox (no network). At most :data:`OUTBOX_LIMIT` wait: an
    alert beyond is recorded as not delivered ("outbox full") instead of growing the queue without end."""
    waiting = [a for a in new_alerts if a.webhook and not a.delivered and a.id is not None]
    if not waiting:
        return list(new_alerts)
    o = outbox_table.c
    now = _now()
    out: dict[int | None, Alert] = {}
    with store.write() as conn:
        pending = int(conn.scalar(sa.select(sa.func.count()).select_from(outbox_table)
                                  .where(o.status == "pending")) or 0)
        for alert in waiting:
            if pending >= OUTBOX_LIMIT:
                note = f"dropped: the webhook outbox is full ({OUTBOX_LIMIT} waiting)"
                conn.execute(alerts_table.update().where(alerts_table.c.id == alert.id).values(last_error=note))
                out[alert.id] = _with(alert, last_error=note)
                continue
            conn.execute(outbox_table.insert().values(
                alert_id=alert.id, url=alert.webhook, payload=json.dumps({"alert": alert.as_dict()}, default=str),
                status="pending", attempts=0, next_attempt_at=now, created_at=now, updated_at=now))
            conn.execute(alerts_table.update().where(alerts_table.c.id == alert.id).values(last_error="queued"))
            out[alert.id] = _with(alert, last_error="queued")
            pending += 1
    return [out.get(a.id, a) for a in new_alerts]


@dataclass
class DeliveryReport:
    """What one run of :func:`deliver_pending` did."""

    delivered: int = 0
    failed: int = 0           # attempts that failed (to be retried, or given up)
    gave_up: int = 0
    left: int = 0             # still waiting (not due yet, or no time left)


def deliver_pending(store: Store, *, budget: float = 10.0, limit: int = 100, now: dt.datetime | None = None,
                    client: Any = None, alert_ids: Sequence[int] | None = None) -> DeliveryReport:
    """Send the due webhooks of the outbox, oldest first, for at most ``budget`` seconds (each POST is cut
    off at the time left). A failing URL is not tried again in this run, and all its entries wait for its
    backoff (``RETRY_BASE × 2^(attempts-1)``, at most ``RETRY_MAX``); after :data:`MAX_ATTEMPTS` an entry is
    given up. Every outcome is written on the alert, for ``tidings alerts``."""
    from tidings.core.errors import IngestError
    from tidings.read.web import FetchError
    report = DeliveryReport()
    now = now or _now()
    o = outbox_table.c
    stmt = (sa.select(outbox_table).where(o.status == "pending", o.next_attempt_at <= now)
            .order_by(o.id).limit(limit))
    if alert_ids is not None:
        stmt = stmt.where(o.alert_id.in_(list(alert_ids)))
    with store.read() as conn:
        due = list(conn.execute(stmt))
    if not due:
        return report
    own = client is None
    setup_error: str | None = None
    try:
        client = client or _webhook_client()
    except IngestError as exc:
        client, setup_error = None, str(exc)
    stop_at = time.monotonic() + budget    # from here: the client's setup (TLS context) is not the endpoint's
    failed_urls: dict[str, tuple[str, bool]] = {}
    error: str | None
    try:
        for row in due:
            left = stop_at - time.monotonic()
            if row.url in failed_urls:   # not asked twice in one run; its backoff (or refusal) applies to all
                error, retry = failed_urls[row.url]
                _record_attempt(store, row, error, retry, report, failed_urls, tried=False)
                continue
            if left <= 0.05 or not _claim(store, row, lease=left + 60):
                report.left += 1
                continue
            error, retry = setup_error, False
            if client is not None:
                try:
                    client.post_json(row.url, json.loads(row.payload), within=left)
                    error = None
                except FetchError as exc:
                    error = f"HTTP {exc.status}" if exc.status else f"[{exc.code}] {exc.message}"
                    retry = _worth_retrying(exc)
            _record_attempt(store, row, error, retry, report, failed_urls)
    finally:
        if own and client is not None:
            client.close()
    return report


def _claim(store: Store, row: Any, lease: float) -> bool:
    """Take one entry for this worker: pushes its time forward by ``lease`` seconds, only if nobody else did
    since it was read. Two workers (``tidings serve --workers 2``, or ``tidings webhooks`` while ``analyze``
    delivers) never send the same alert twice; an entry whose worker died is sent again after the lease."""
    o = outbox_table.c
    with store.write() as conn:
        taken = conn.execute(outbox_table.update().where(
            o.id == row.id, o.status == "pending", o.next_attempt_at == row.next_attempt_at).values(
            next_attempt_at=_now() + dt.timedelta(seconds=lease)))
        return bool(taken.rowcount)


def _record_attempt(store: Store, row: Any, error: str | None, retry: bool, report: DeliveryReport,
                    failed_urls: dict[str, tuple[str, bool]], *, tried: bool = True) -> None:
    """Write one outcome on the outbox row and its alert. ``tried=False``: the URL failed earlier in this
    run, so this entry shares its fate without being sent (a refused URL is refused for every alert; a dead
    one is not hammered)."""
    o = outbox_table.c
    now = _now()
    attempts = int(row.attempts) + (1 if tried else 0)
    with store.write() as conn:
        if error is None:
            report.delivered += 1
            conn.execute(outbox_table.update().where(o.id == row.id).values(
                status="delivered", attempts=attempts, last_error=None, updated_at=now))
            alert_values: dict[str, Any] = {"delivered": True, "last_error": None}
        elif retry and attempts < MAX_ATTEMPTS:
            report.failed += int(tried)
            report.left += int(not tried)
            failed_urls[row.url] = (error, retry)
            wait = min(RETRY_MAX, RETRY_BASE * 2 ** max(0, attempts - 1))
            when = now + dt.timedelta(seconds=wait)
            conn.execute(outbox_table.update().where(o.id == row.id).values(
                attempts=attempts, last_error=error, next_attempt_at=when, updated_at=now))
            alert_values = {"delivered": False, "last_error": f"retry {when.isoformat(timespec='seconds')}Z "
                            f"after attempt {attempts}: {error}"}
        else:
            report.failed += 1
            report.gave_up += 1
            failed_urls[row.url] = (error or "", retry)
            conn.execute(outbox_table.update().where(o.id == row.id).values(
                status="failed", attempts=attempts, last_error=error, updated_at=now))
            alert_values = {"delivered": False, "last_error": f"gave up after {attempts} attempt(s): {error}"}
        conn.execute(alerts_table.update().where(alerts_table.c.id == row.alert_id).values(
            attempts=attempts, **alert_values))


def deliver(store: Store, new_alerts: Sequence[Alert], **options: Any) -> list[Alert]:
    """Queue each alert that has a webhook and try it now (``options`` go to :func:`post_webhook`: retries,
    backoff, timeout); what fails stays queued for :func:`deliver_pending`. Returns the alerts as updated."""
    queued = enqueue(store, new_alerts)
    out = []
    o = outbox_table.c
    for alert in queued:
        if not alert.webhook or alert.delivered or alert.id is None:
            out.append(alert)
            continue
        with store.read() as conn:
            row = conn.execute(sa.select(outbox_table).where(o.alert_id == alert.id, o.status == "pending")
                               .order_by(o.id.desc()).limit(1)).first()
        if row is None:
            out.append(alert)
            continue
        result = post_webhook(alert.webhook, json.loads(row.payload), **options)
        now = _now()
        attempts = alert.attempts + result.attempts
        with store.write() as conn:
            if result.ok:
                conn.execute(outbox_table.update().where(o.id == row.id).values(
                    status="delivered", attempts=result.attempts, last_error=None, updated_at=now))
            else:
                conn.execute(outbox_table.update().where(o.id == row.id).values(
                    attempts=result.attempts, last_error=result.error, updated_at=now,
                    next_attempt_at=now + dt.timedelta(seconds=RETRY_BASE)))
            conn.execute(alerts_table.update().where(alerts_table.c.id == alert.id).values(
                delivered=result.ok, attempts=attempts, last_error=result.error))
        out.append(_with(alert, delivered=result.ok, attempts=attempts, last_error=result.error))
    return out


# ------------------------------------------------------------------------------------------------ hook

def after_store(store: Store, analyses: Sequence[Analysis],
                notify: Callable[[Alert], None] | None = None) -> list[Alert]:
    """Called once analyses are stored (by :func:`tidings.service.analyze_paths`): keeps clusters current,
    raises alerts for the active rules, queues their webhooks (:func:`deliver_pending` sends them) and prints
    them (to stderr). No network here: a dead webhook cannot slow the analysis down."""
    if not analyses:
        return []
    new = enqueue(store, evaluate_new(store, analyses))
    for alert in new:
        (notify or _print_alert)(alert)
    return new


def _print_alert(alert: Alert) -> None:
    sys.stderr.write(f"alert [{alert.rule}] {alert.summary} — cluster {alert.cluster_id}\n")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
