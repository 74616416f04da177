"""Watch rules: say what you care about once; get an alert when it is reported (and corroborated enough).

Why it works the way it does:

* **Rules are data**: kept in the store (``tidings watch add``) or in a YAML/JSON file (``--rules`` or
  ``$TIDINGS_WATCH``), with the same fields either way (:class:`WatchRule`).
* **Evaluated on what is new**: :func:`evaluate_new` looks only at the events of the analyses just
  stored, after linking them, so a rule asking for two independent sources fires when the second one
  arrives, whichever order the reports came in.
* **One alert per rule and real-world event** (cluster): re-evaluating, a syndicated copy, or a merge of
  two clusters never alerts twice. Alerts are stored in the ``alerts`` table and printed.
* **Webhooks are best effort, bounded**: a JSON POST with a timeout, retried with exponential backoff
  on network errors, 429 and 5xx, a few times at most; the outcome is recorded on the alert.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tidings.errors import InputError
from tidings.link import (
    aliases_table,
    clusters_of,
    clusters_table,
    distance_km,
    ensure_tables,
    family_of,
    link_documents,
)
from tidings.records import MODALITIES, Analysis, Event, Place
from tidings.store import Store

__all__ = ["Alert", "WatchRule", "add_rule", "after_store", "alerts", "deliver", "evaluate_new",
           "evaluate_stored", "list_rules", "load_rules_file", "post_webhook", "remove_rule"]

DEFAULT_MODALITIES = ("asserted", "reported", "hedged")   # not denials, plans or history, unless asked
RULES_ENV = "TIDINGS_WATCH"

metadata = sa.MetaData()

rules_table = sa.Table(
    "watch_rules", metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),          # the rule as JSON
    sa.Column("created_at", sa.DateTime, nullable=False),
)

alerts_table = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("cluster_id", sa.String(32), nullable=False),
    sa.Column("event_ids", sa.Text, nullable=False),       # JSON list: the new events that matched
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("independent_sources", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("webhook", sa.Text),
    sa.Column("delivered", sa.Boolean, nullable=False, default=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("rule", "cluster_id", name="uq_alerts_rule_cluster"),
)


def _ensure(store: Store) -> None:
    ensure_tables(store)
    with store.read() as conn:
        present = set(sa.inspect(conn).get_table_names())
    if not present.issuperset(metadata.tables):
        with store.write() as conn:
            metadata.create_all(conn, checkfirst=True)


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
            from tidings.places import Gazetteer
            from tidings.settings import Settings

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
    _ensure(store)
    with store.write() as conn:
        conn.execute(rules_table.delete().where(rules_table.c.name == rule.name))
        conn.execute(rules_table.insert().values(name=rule.name, spec=json.dumps(rule.to_dict()), created_at=_now()))


def list_rules(store: Store) -> list[WatchRule]:
    _ensure(store)
    with store.read() as conn:
        specs = list(conn.scalars(sa.select(rules_table.c.spec).order_by(rules_table.c.name)))
    return [WatchRule.from_dict(json.loads(spec)) for spec in specs]


def remove_rule(store: Store, name: str) -> bool:
    """Forget a rule; its alerts stay. False if there was no such rule."""
    _ensure(store)
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
    from tidings.link import link_pending

    link_pending(store)
    return _evaluate(store, list(store.iter_events()), active_rules(store) if rules is None else list(rules),
                     resolve_place)


def _evaluate(store: Store, events: Sequence[Event], rules: Sequence[WatchRule],
              resolve_place: Callable[[str], Place | None] | None) -> list[Alert]:
    if not rules or not events:
        return []
    _ensure(store)
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
    _ensure(store)
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
                 sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """POST ``payload`` as JSON. Network errors, 429 and 5xx are retried ``retries`` times, waiting
    ``backoff × 2^n`` seconds (capped at ``max_backoff``); other 4xx are not (retrying will not help)."""
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    waited: list[float] = []
    error = None
    for attempt in range(1, retries + 2):
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "tidings-watch"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
            return Delivery(True, attempt, None, waited)
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                return Delivery(False, attempt, error, waited)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
        if attempt <= retries:
            pause = min(max_backoff, backoff * math.pow(2, attempt - 1))
            waited.append(pause)
            sleep(pause)
    return Delivery(False, retries + 1, error, waited)


def deliver(store: Store, new_alerts: Sequence[Alert], **options: Any) -> list[Alert]:
    """Send each alert that has a webhook; record the outcome. Returns the alerts as updated."""
    out = []
    for alert in new_alerts:
        if not alert.webhook or alert.delivered:
            out.append(alert)
            continue
        result = post_webhook(alert.webhook, {"alert": alert.as_dict()}, **options)
        updated = _with(alert, delivered=result.ok, attempts=alert.attempts + result.attempts,
                        last_error=result.error)
        with store.write() as conn:
            conn.execute(alerts_table.update().where(alerts_table.c.id == alert.id).values(
                delivered=updated.delivered, attempts=updated.attempts, last_error=updated.last_error))
        out.append(updated)
    return out


# ------------------------------------------------------------------------------------------------ hook

def after_store(store: Store, analyses: Sequence[Analysis],
                notify: Callable[[Alert], None] | None = None) -> list[Alert]:
    """Called once analyses are stored (by :func:`tidings.service.analyze_paths`): keeps clusters current,
    raises alerts for the active rules, delivers their webhooks and prints them (to stderr)."""
    if not analyses:
        return []
    new = deliver(store, evaluate_new(store, analyses))
    for alert in new:
        (notify or _print_alert)(alert)
    return new


def _print_alert(alert: Alert) -> None:
    sys.stderr.write(f"alert [{alert.rule}] {alert.summary} — cluster {alert.cluster_id}\n")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
