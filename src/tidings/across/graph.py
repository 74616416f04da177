"""A temporal knowledge graph of who did what to whom, and who holds which place, from stored events.

Why it looks the way it does:

* **A networkx MultiDiGraph**: actors (by code, else by name) and places are nodes; each edge is one
  relation of one kind between two nodes over a time interval, with the event ids behind it. Several edges
  may join the same pair (they cooperated in March and fought in May): the history is the point.
* **One edge per real-world event.** When linking has run (:mod:`tidings.across.link`), the reports of one event
  are one edge listing all their event ids, not five edges from five syndicated copies.
* **Only what happened.** Negated and future statements never create edges. Background history does,
  dated by its own date when the text gives one, otherwise by the publication date as "known by".
  Hedged reports do, with ``modality`` on the edge so a user can leave them out.
* **Control of places** comes from capture events (CAMEO 192, "occupy territory": *captured*, *seized*,
  *took control of*): the captor controls the place from the event date until someone else captures it,
  or the controller is reported retreating from it. A capture by the same actor lineage (SYRREB, then
  SYRREBHTS) extends control instead of ending it.
* **Built from the flat, indexed event columns** (no JSON parsing), filtered by actor or place in SQL, so
  asking about one actor does not read the whole store.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tidings.across.link import _actor_relation
from tidings.core.codebook import codebook
from tidings.store.database import Store, reported_by
from tidings.store.schema import documents_table, events_table, members_table

__all__ = ["RELATION_OF_TYPE", "Control", "KnowledgeGraph", "Relation", "RelationStep", "build_graph"]

# Which types make which edge, and what counts as a capture: the codebook's (``graph`` in data/plover.json).
RELATION_OF_TYPE: Mapping[str, str] = codebook().relation_of_type
STANCE: Mapping[str, str] = codebook().stance


@dataclass(frozen=True)
class _Row:
    """One stored event, as the graph needs it (from the flat event columns)."""

    id: str
    group: str                 # its cluster id when linked, else its own id: one edge per real-world event
    type: str
    cameo: str | None
    modality: str
    start: dt.date | None
    end: dt.date | None
    published: dt.date | None
    source: tuple[str | None, str | None]    # (code, name)
    target: tuple[str | None, str | None]
    place: tuple[int | None, str | None, str | None, float | None, float | None]   # gid, name, country3, lat, lon

    @property
    def effective(self) -> dt.date | None:
        """When the relation is known to hold from: its date, else (undated) its publication date."""
        return self.start or self.published

    @property
    def is_capture(self) -> bool:
        return bool(self.cameo and self.cameo.startswith(codebook().capture_cameo) and self.place[1] and self.source[1])


@dataclass(frozen=True)
class Relation:
    """One kind of relation between an actor and a counterpart, summarised up to a date."""

    counterpart: str
    counterpart_name: str
    relation: str
    direction: str             # "out": the actor did it; "in": it was done to the actor
    first: dt.date | None
    last: dt.date | None
    events: list[str]
    active: bool = True        # for "controls": still held at the date asked about


@dataclass(frozen=True)
class RelationStep:
    """One dated relation between two actors; ``changed`` marks a turn (cooperative ↔ hostile)."""

    date: dt.date | None
    relation: str
    stance: str
    source: str
    target: str
    types: list[str]
    events: list[str]
    changed: bool = False


@dataclass(frozen=True)
class Control:
    """Who held a place, from when until when (``end`` None: still, as far as the reports go)."""

    actor: str
    actor_name: str
    start: dt.date | None
    end: dt.date | None
    events: list[str] = field(default_factory=list)
    ended_by: str | None = None    # "capture" by someone else, or "retreat"


def _node(code: str | None, name: str | None) -> str:
    return code or f"name:{(name or '').strip()}"


def _place_node(gid: int | None, name: str | None) -> str:
    return f"place:{gid}" if gid is not None else f"place:{(name or '').strip()}"


class KnowledgeGraph:
    """The graph and its queries. Build one with :func:`build_graph`."""

    def __init__(self, rows: Iterable[_Row]) -> None:
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self._names: dict[str, Counter[str]] = defaultdict(Counter)
        rows = list(rows)
        self._add_relations(rows)
        self._add_control(rows)
        for node, names in self._names.items():   # the name most reports use, not the first one seen
            self.graph.nodes[node]["name"] = min(names, key=lambda n: (-names[n], n))

    # -------------------------------------------------------------------- building
    def _add_node(self, node: str, **attrs: Any) -> None:
        if node not in self.graph:
            self.graph.add_node(node, **attrs)

    def _add_actor(self, actor: tuple[str | None, str | None]) -> str:
        node = _node(*actor)
        self._add_node(node, kind="actor", code=actor[0] or "", name=actor[1] or actor[0] or "")
        self._names[node][actor[1] or actor[0] or ""] += 1
        return node

    def _add_place(self, row: _Row) -> str:
        gid, name, country3, lat, lon = row.place
        node = _place_node(gid, name)
        self._add_node(node, kind="place", name=name or "", country3=country3 or "", geonameid=gid,
                       lat=lat, lon=lon)
        return node

    def _add_relations(self, rows: Sequence[_Row]) -> None:
        grouped: dict[tuple[str, str, str, str], list[_Row]] = defaultdict(list)
        for row in rows:
            relation = RELATION_OF_TYPE.get(row.type)
            if relation is None or row.modality in codebook().no_edge_modalities or not (row.source[0] or row.source[1]):
                continue
            u = self._add_actor(row.source)
            if row.target[0] or row.target[1]:
                v = self._add_actor(row.target)
            elif relation == "retreat" and row.place[1]:
                v = self._add_place(row)      # withdrawing from a place
            else:
                continue
            if u != v:
                grouped[(u, v, relation, row.group)].append(row)
        for (u, v, relation, group), members in sorted(grouped.items()):
            self.graph.add_edge(u, v, key=f"{relation}:{group}", **_edge_attrs(relation, group, members))

    def _add_control(self, rows: Sequence[_Row]) -> None:
        by_place: dict[str, list[_Row]] = defaultdict(list)
        for row in rows:
            if row.modality in codebook().no_edge_modalities or not row.place[1]:
                continue
            if row.is_capture or (row.type == "RETREAT" and row.source[1]):
                by_place[_place_node(row.place[0], row.place[1])].append(row)
        for events in by_place.values():
            if not any(r.is_capture for r in events):
                continue
            node = self._add_place(next(r for r in events if r.is_capture))
            for spell in _control_spells(events):
                u = self._add_actor(spell.actor_key)
                self.graph.add_edge(u, node, key=f"controls:{spell.start}:{spell.actor}", relation="controls",
                                    stance="control", start=spell.start, end=spell.end, reported=spell.start,
                                    types=["ASSAULT"], events=spell.events, cluster=None, modality="asserted",
                                    historical=False, ended_by=spell.ended_by)

    # -------------------------------------------------------------------- queries
    def nodes_for(self, actor: str) -> set[str]:
        """Nodes an actor query names: a code, a code it is a prefix of (IRN covers IRNMIL, but a bare
        country is its state: SYR does not cover SYRREB), or a name."""
        wanted = actor.strip()
        code, folded = wanted.upper(), wanted.casefold()
        found = set()
        for node, data in self.graph.nodes(data=True):
            if data.get("kind") != "actor":
                if node == wanted or str(data.get("name", "")).casefold() == folded:
                    found.add(node)
                continue
            node_code = data.get("code") or ""
            if _covers(code, node_code) or str(data.get("name", "")).casefold() == folded:
                found.add(node)
        return found

    def relations(self, actor: str, as_of: dt.date | None = None, known_by: dt.date | None = None) -> list[Relation]:
        """The actor's relations in force by ``as_of`` (default: all), one line per counterpart, kind and
        direction, most recent first. A "controls" line is ``active`` if the actor still held it then.
        ``known_by`` leaves out relations first reported after that day (what was known then: the CLI's
        ``--as-of`` passes the same day as both)."""
        nodes = self.nodes_for(actor)
        lines: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for u, v, data in self.graph.edges(data=True):
            if u not in nodes and v not in nodes:
                continue
            when, first_reported = data["start"] or data.get("reported"), data.get("reported")
            if as_of is not None and (when is None or when > as_of):
                continue
            # a capture on the 1st first reported on the 10th is not known on the 5th
            if known_by is not None and first_reported is not None and first_reported > known_by:
                continue
            direction, other = ("out", v) if u in nodes else ("in", u)
            lines[(other, data["relation"], direction)].append(data)
        found = [self._relation_line(other, relation, direction, edges, as_of)
                 for (other, relation, direction), edges in lines.items()]
        return sorted(found, key=lambda r: (r.last or dt.date.min, r.relation, r.counterpart), reverse=True)

    def _relation_line(self, other: str, relation: str, direction: str, edges: list[dict[str, Any]],
                       as_of: dt.date | None) -> Relation:
        dates = [d for e in edges for d in (e["start"] or e.get("reported"),) if d]
        events = sorted({x for e in edges for x in e["events"]})
        active = True
        if relation == "controls":
            active = any(e["end"] is None or (as_of is not None and e["end"] > as_of) for e in edges)
        return Relation(other, str(self.graph.nodes[other].get("name") or other), relation, direction,
                        min(dates, default=None), max(dates, default=None), events, active)

    def relation_history(self, a: str, b: str, start: dt.date | None = None,
                         end: dt.date | None = None) -> list[RelationStep]:
        """How the relation between two actors went over time (both directions), oldest first."""
        left, right = self.nodes_for(a), self.nodes_for(b)
        steps = []
        for u, v, data in self.graph.edges(data=True):
            if not ((u in left and v in right) or (u in right and v in left)):
                continue
            when = data["start"] or data.get("reported")
            if (start and (when is None or when < start)) or (end and (when is None or when > end)):
                continue
            steps.append(RelationStep(when, data["relation"], data["stance"], u, v, list(data["types"]),
                                      list(data["events"])))
        steps.sort(key=lambda s: (s.date or dt.date.min, s.relation, s.events))
        out: list[RelationStep] = []
        for step in steps:
            turned = bool(out) and out[-1].stance != step.stance
            out.append(RelationStep(**{**step.__dict__, "changed": turned}))
        return out

    def control_history(self, place: str) -> list[Control]:
        """Who controlled a place over time, according to the reported captures and retreats."""
        wanted = place.strip()
        targets = {n for n, d in self.graph.nodes(data=True) if d.get("kind") == "place" and (
            n == wanted or n == f"place:{wanted}" or str(d.get("name", "")).casefold() == wanted.casefold())}
        spells = [Control(u, str(self.graph.nodes[u].get("name") or u), d["start"], d["end"], list(d["events"]),
                          d.get("ended_by"))
                  for u, v, d in self.graph.edges(data=True) if v in targets and d["relation"] == "controls"]
        return sorted(spells, key=lambda c: (c.start or dt.date.min, c.actor))

    # -------------------------------------------------------------------- export
    def subgraph(self, actor: str) -> KnowledgeGraph:
        """The actor's nodes, their neighbours, and the edges among them."""
        nodes = self.nodes_for(actor)
        keep = set(nodes)
        for node in nodes:
            keep.update(self.graph.successors(node))
            keep.update(self.graph.predecessors(node))
        sub = KnowledgeGraph(())
        sub.graph = nx.MultiDiGraph(self.graph.subgraph(keep))
        return sub

    def export(self, fmt: str, path: str | Path) -> None:
        """Write GraphML (for Gephi, yEd, Cytoscape) or node-link JSON (for d3 and the web UI)."""
        target = Path(path)
        if fmt == "graphml":
            nx.write_graphml(_flat_copy(self.graph), target)
        elif fmt == "json":
            data = nx.node_link_data(self.graph, edges="edges")
            target.write_text(json.dumps(data, default=_json_default, ensure_ascii=False, indent=1), "utf-8")
        else:
            raise ValueError(f"unknown graph format {fmt!r}: use graphml or json")


def _covers(query: str, code: str) -> bool:
    if not code or not code.startswith(query):
        return False
    return len(query) != 3 or code == query or code[3:6] in codebook().state_sectors


def _edge_attrs(relation: str, group: str, rows: Sequence[_Row]) -> dict[str, Any]:
    starts = [r.start for r in rows if r.start is not None]
    ends = [end for r in rows if (end := r.end or r.start) is not None]
    reported = [r.published for r in rows if r.published is not None]
    modalities = Counter(r.modality for r in rows)
    return {"relation": relation, "stance": STANCE[relation], "start": min(starts, default=None),
            "end": max(ends, default=None), "reported": min(reported, default=None),
            "types": sorted({r.type for r in rows}), "events": sorted(r.id for r in rows),
            "cluster": group if group not in {r.id for r in rows} else None,
            "modality": min(modalities, key=lambda m: (-modalities[m], m)),
            "historical": all(r.modality == "historical" for r in rows)}


@dataclass
class _Spell:
    actor: str
    actor_key: tuple[str | None, str | None]
    start: dt.date | None
    end: dt.date | None = None
    events: list[str] = field(default_factory=list)
    ended_by: str | None = None


def _same_lineage(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> bool:
    """One actor or a part of it (SYRREB and SYRREBHTS): a new capture extends, not ends, its control."""
    return bool(_actor_relation(a[0], a[1], None, None, b[0], b[1], None, None))


def _control_spells(events: Sequence[_Row]) -> list[_Spell]:
    """Walk a place's captures and retreats in date order (one step per real-world event)."""
    steps: dict[str, list[_Row]] = defaultdict(list)
    for row in events:
        if row.effective is not None:
            steps[row.group].append(row)
    ordered = sorted(steps.values(), key=lambda rs: (min(r.effective for r in rs), rs[0].id))  # type: ignore[type-var]
    spells: list[_Spell] = []
    for rows in ordered:
        first = min(rows, key=lambda r: (r.effective, r.id))  # type: ignore[type-var]
        when = first.effective
        current = spells[-1] if spells and spells[-1].end is None else None
        ids = sorted(r.id for r in rows)
        if first.is_capture:
            if current is not None and _same_lineage(current.actor_key, first.source):
                current.events.extend(ids)
                continue
            if current is not None:
                current.end, current.ended_by = when, "capture"
            spells.append(_Spell(_node(*first.source), first.source, when, events=ids))
        elif current is not None and _same_lineage(current.actor_key, first.source):
            current.end, current.ended_by = when, "retreat"
            current.events.extend(ids)
    return spells


def _flat_copy(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """GraphML holds scalars only: dates as ISO text, lists joined, None as empty text."""
    flat = nx.MultiDiGraph()
    for node, data in graph.nodes(data=True):
        flat.add_node(node, **{k: _scalar(v) for k, v in data.items()})
    for u, v, key, data in graph.edges(keys=True, data=True):
        flat.add_edge(u, v, key=key, **{k: _scalar(v) for k, v in data.items()})
    return flat


def _scalar(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        return " ".join(str(v) for v in value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ------------------------------------------------------------------------------------------------ loading

def build_graph(store: Store, *, actor: str | None = None, place: str | None = None,
                known_by: dt.date | None = None) -> KnowledgeGraph:
    """The graph of stored events: all of them, or those involving ``actor`` (code prefix or name) or at
    ``place`` (name or geonameid) — plus every capture and retreat at the places those events are at, so
    that control histories are complete. ``known_by``: only events reported by that day (published, else
    stored, by then), so relations, control histories and exports are the graph as it was known then."""
    e = events_table.c
    terms: list[Any] = [e.modality.notin_(codebook().no_edge_modalities)]
    if known_by is not None:
        terms.append(reported_by(known_by))
    if actor:
        terms.append(_actor_terms(actor))
    if place:
        terms.append(_place_terms(place))
    with store.read() as conn:
        rows = _load(conn, terms)
        places = {r.place[0] for r in rows if r.is_capture and r.place[0] is not None} if actor or place else set()
        if places:
            control = [e.modality.notin_(codebook().no_edge_modalities), e.place_geonameid.in_(sorted(places)),
                       sa.or_(e.cameo.like(codebook().capture_cameo + "%"), e.type == "RETREAT")]
            if known_by is not None:
                control.append(reported_by(known_by))
            seen = {r.id for r in rows}
            rows += [r for r in _load(conn, control) if r.id not in seen]
    return KnowledgeGraph(rows)


def _load(conn: Connection, terms: Sequence[Any]) -> list[_Row]:
    e, d, m = events_table.c, documents_table.c, members_table.c
    stmt = (sa.select(e.id, e.type, e.cameo, e.modality, e.date_start, e.date_end, d.published,
                      e.source_code, e.source_name, e.target_code, e.target_name, e.place_geonameid,
                      e.place_name, e.place_country3, e.place_lat, e.place_lon, m.cluster_id)
            .select_from(events_table.join(documents_table, d.id == e.doc_id)
                         .outerjoin(members_table, m.event_id == e.id))
            .where(*terms))
    return [_Row(r.id, r.cluster_id or r.id, r.type, r.cameo, r.modality, r.date_start, r.date_end, r.published,
                 (r.source_code, r.source_name), (r.target_code, r.target_name),
                 (r.place_geonameid, r.place_name, r.place_country3, r.place_lat, r.place_lon))
            for r in conn.execute(stmt)]


def _actor_terms(actor: str) -> Any:
    """Code prefix (as a range, so an index serves it) or case-insensitive name, as source or target."""
    e = events_table.c
    code = actor.strip().upper()
    upper = code[:-1] + chr(ord(code[-1]) + 1) if code else code
    name = actor.strip().lower()
    return sa.or_(sa.and_(e.source_code >= code, e.source_code < upper),
                  sa.and_(e.target_code >= code, e.target_code < upper),
                  sa.func.lower(e.source_name) == name, sa.func.lower(e.target_name) == name)


def _place_terms(place: str) -> Any:
    e = events_table.c
    if place.strip().isdigit():
        return e.place_geonameid == int(place)
    return sa.func.lower(e.place_name) == place.strip().lower()
