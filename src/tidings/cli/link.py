"""CLI verbs across articles: link, clusters, graph, timeline, watch, alerts. Each is one library call."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from tidings.core.errors import TidingsError

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default sqlite:///tidings.db).")]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table or json.")]


@contextmanager
def _store(db: str | None, *, create: bool = False) -> Iterator[Any]:
    """The store for one verb; only verbs that write (link, watch add/remove/check) may create it."""
    from tidings import service

    store = service.open_store(db, create=create)
    try:
        yield store
    except TidingsError as exc:
        _err().print(Text.assemble(("error", "red"), f" {exc}"), highlight=False)
        raise typer.Exit(1) from None
    finally:
        store.close()


def _out() -> Any:
    from tidings.cli.main import console

    return console


def _err() -> Any:
    from tidings.cli.main import err_console

    return err_console


def _date(value: str | None) -> dt.date | None:
    from tidings.cli.main import parse_date_option

    return parse_date_option(value)


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def link(db: DbOption = None) -> None:
    """Link stored documents not linked yet (or re-analysed) into clusters of the same real-world event."""
    from tidings.across.link import link_pending

    with _store(db, create=True) as store:
        report = link_pending(store)
    _err().print(f"linked {report.linked} document(s) ({report.events} event(s)), {report.unchanged} unchanged, "
                 f"{report.removed} removed; {len(report.clusters)} cluster(s) changed", highlight=False)


def clusters(
    db: DbOption = None,
    fmt: FormatOption = "table",
    min_size: Annotated[int, typer.Option(help="Only clusters with at least this many reports.")] = 1,
    min_sources: Annotated[int, typer.Option(help="Only clusters with this many independent sources.")] = 0,
    type: Annotated[str | None, typer.Option("--type", help="PLOVER type.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many clusters.")] = 50,
    relink: Annotated[bool, typer.Option("--link/--no-link", help="Link new documents first.")] = True,
    as_of: Annotated[str | None, typer.Option("--as-of", help="As known on this date (YYYY-MM-DD): only reports "
                                              "first published (else stored) by then.")] = None,
) -> None:
    """Events reported across documents: size, independent sources, contradictions."""
    _check_format(fmt)
    from tidings.across.link import clusters as list_clusters
    from tidings.across.link import link_pending

    when = _date(as_of)
    with _store(db) as store:
        if relink:
            link_pending(store)
        found = list_clusters(store, min_size=min_size, min_sources=min_sources, type=type, limit=limit,
                              with_members=fmt == "json", as_of=when)
    if fmt == "json":
        _json([c.as_dict() for c in found])
        return
    table = Table(pad_edge=False, title=f"as of {when}" if when else None)
    for column in ("cluster", "type", "source", "target", "place", "date", "reports", "docs", "sources",
                   "origins", "contradictions"):
        table.add_column(column, overflow="fold", no_wrap=column in ("cluster", "type", "reports", "sources"))
    for c in found:
        date = c.date_start.isoformat() if c.date_start else (f"~{c.reported}" if c.reported else "")
        sources = f"{c.independent_sources}" + (" anon" if c.anonymous_only else "")
        table.add_row(c.id, c.type + (f"/{c.mode}" if c.mode else ""), c.source or "", c.target or "",
                      c.place or "", date, str(c.size), str(c.documents), sources, "; ".join(c.origins),
                      "; ".join(_disagreement(x) for x in c.contradictions))
    _out().print(table)


def _disagreement(x: Any) -> str:
    """'date: 2025-03-08 (AFP/anonymous) vs 2025-03-09 (Sahel Info/anonymous)'"""
    sides = dict.fromkeys(f"{v} ({s})" if s else v for v, s in zip(x.values, x.sources or [""] * len(x.values),
                                                                   strict=False))
    return f"{x.kind}: " + " vs ".join(sides)


def cluster(
    cluster_id: Annotated[str, typer.Argument(help="Cluster id (or the id of a cluster merged into it).")],
    db: DbOption = None,
    fmt: FormatOption = "table",
) -> None:
    """One cluster: its reports as they arrived, why they were linked, and where they disagree."""
    _check_format(fmt)
    from tidings.across.link import cluster as one_cluster

    with _store(db) as store:
        found = one_cluster(store, cluster_id)
    if found is None:
        _err().print(f"no cluster {cluster_id!r}", highlight=False)
        raise typer.Exit(1)
    if fmt == "json":
        _json(found.as_dict())
        return
    c = found
    _out().print(f"{c.id}  {c.type}{'/' + c.mode if c.mode else ''}  {c.source or '?'} → {c.target or '—'}  "
                 f"at {c.place or '?'}  on {c.date_start or 'undated'}  ({c.independent_sources} independent "
                 f"source(s): {'; '.join(c.origins)})", highlight=False, markup=False)
    history = Table("first reported", "by", "outlet", "origins", "sources after", "document", pad_edge=False,
                    title="reports as they arrived")
    for h in c.history:
        history.add_row(h["reported"] or "", h["reported_by"], h["outlet"] or "", "; ".join(h["origins"]),
                        str(h["independent_sources"]), h["doc_id"])
    _out().print(history)
    links = Table("event", "event", "level", "rule", "actors", "place", "date", "similarity", pad_edge=False,
                  title="why the reports were linked")
    for why in c.links:
        links.add_row(why["a"], why["b"], why["level"], why["rule"], why["actors"], why["place"], why["date"],
                      f"{why['similarity']:.2f}")
    _out().print(links)
    for x in c.contradictions:
        _out().print(Text(str(x.kind), style="bold"), highlight=False)
        for value, source, sentence in zip(x.values, x.sources or [""] * len(x.values),
                                           x.evidence or [""] * len(x.values), strict=False):
            _out().print(f"  {value} — {source}: {sentence}", highlight=False, markup=False)


def graph(
    actor: Annotated[str, typer.Argument(help="Actor code (prefix) or name.")],
    db: DbOption = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Relations in force and reported by this date "
                                              "(YYYY-MM-DD): what was known then.")] = None,
    export: Annotated[tuple[str, Path] | None, typer.Option(
        help="Write the graph: --export graphml PATH or --export json PATH.")] = None,
    whole: Annotated[bool, typer.Option(help="Export the whole graph, not only the actor's neighbourhood.")] = False,
) -> None:
    """An actor's relations (cooperation, aid, hostility, assault, coercion, retreat, control of places)."""
    from tidings.across.graph import build_graph
    from tidings.across.link import link_pending

    when = _date(as_of)
    if export and export[0] not in ("graphml", "json"):
        raise typer.BadParameter("--export takes graphml or json, then a path")
    with _store(db) as store:
        link_pending(store)
        kg = build_graph(store, actor=None if whole else actor, known_by=when)
    found = kg.relations(actor, as_of=when, known_by=when)
    table = Table(pad_edge=False, title=f"{actor} — relations" + (f" as of {when}" if when else ""))
    for column in ("relation", "dir", "counterpart", "first", "last", "reports", "active"):
        table.add_column(column, overflow="fold")
    for r in found:
        table.add_row(r.relation, "→" if r.direction == "out" else "←", f"{r.counterpart_name} [{r.counterpart}]",
                      str(r.first or ""), str(r.last or ""), str(len(r.events)), "yes" if r.active else "no")
    _out().print(table)
    if export:
        target = kg if whole else kg.subgraph(actor)
        target.export(export[0], export[1])
        _err().print(f"wrote {target.graph.number_of_nodes()} node(s), {target.graph.number_of_edges()} edge(s) "
                     f"as {export[0]} to {export[1]}", highlight=False)


def timeline(
    query: Annotated[str, typer.Argument(help="Actor code/name or place name.")],
    db: DbOption = None,
    fmt: FormatOption = "table",
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 200,
    as_of: Annotated[str | None, typer.Option("--as-of", help="As known on this date (YYYY-MM-DD).")] = None,
) -> None:
    """Real-world events about an actor or at a place, oldest first (and who controlled the place)."""
    _check_format(fmt)
    from tidings.across.graph import build_graph
    from tidings.across.link import link_pending
    from tidings.across.link import timeline as clusters_timeline

    with _store(db) as store:
        link_pending(store)
        when = _date(as_of)
        found = clusters_timeline(store, query, limit=limit, as_of=when)
        control = build_graph(store, place=query, known_by=when).control_history(query)
    if fmt == "json":
        _json({"events": [c.as_dict() for c in found], "control": [c.__dict__ for c in control]})
        return
    table = Table(pad_edge=False, title=f"{query} — timeline")
    for column in ("date", "type", "source", "target", "place", "modality", "sources", "contradictions", "cluster"):
        table.add_column(column, overflow="fold")
    for c in found:
        date = str(c.date_start) if c.date_start else (f"~{c.reported}" if c.reported else "undated")
        if c.date_end and c.date_end != c.date_start:
            date += f"…{c.date_end}"
        table.add_row(date, c.type, c.source or "", c.target or "", c.place or "", c.modality,
                      str(c.independent_sources), ", ".join(x.kind for x in c.contradictions), c.id)
    _out().print(table)
    for spell in control:
        until = f"until {spell.end} ({spell.ended_by})" if spell.end else "onwards"
        _out().print(f"controlled by {spell.actor_name} [{spell.actor}] from {spell.start} {until}", highlight=False)


watch_app = typer.Typer(help="Watch rules: alerts when matching events are reported.", no_args_is_help=True)


@watch_app.command("add")
def watch_add(
    name: Annotated[str, typer.Option(help="A short name for the rule.")],
    db: DbOption = None,
    actor: Annotated[str | None, typer.Option(help="Actor code prefix or name.")] = None,
    type: Annotated[list[str] | None, typer.Option("--type", help="PLOVER type (repeatable).")] = None,
    place: Annotated[str | None, typer.Option(help="Place name.")] = None,
    radius_km: Annotated[float | None, typer.Option("--radius-km", help="Anywhere within this of --place.")] = None,
    modality: Annotated[list[str] | None, typer.Option(help="Modalities (default asserted, reported, hedged).")] = None,
    min_sources: Annotated[int, typer.Option("--min-sources", help="Independent sources needed.")] = 1,
    country: Annotated[str | None, typer.Option(help="ISO country code of an actor or the place.")] = None,
    webhook: Annotated[str | None, typer.Option(help="POST alerts as JSON to this URL.")] = None,
) -> None:
    """Add (or replace) a watch rule."""
    from tidings.across.watch import WatchRule, add_rule

    try:
        rule = WatchRule.from_dict({"name": name, "actor": actor, "type": type or (), "place": place,
                                    "radius_km": radius_km, "modality": modality or (), "min_sources": min_sources,
                                    "country": country, "webhook": webhook})
    except TidingsError as exc:
        raise typer.BadParameter(str(exc)) from None
    with _store(db, create=True) as store:
        add_rule(store, rule)
    _err().print(Text(f"watching {rule.name}: {json.dumps(rule.to_dict(), ensure_ascii=False)}"), highlight=False)


@watch_app.command("list")
def watch_list(db: DbOption = None, fmt: FormatOption = "table") -> None:
    """List the stored watch rules."""
    _check_format(fmt)
    from tidings.across.watch import list_rules

    with _store(db) as store:
        rules = list_rules(store)
    if fmt == "json":
        _json([r.to_dict() for r in rules])
        return
    table = Table("name", "actor", "type", "place", "radius km", "modality", "min sources", "country", "webhook",
                  pad_edge=False)
    for r in rules:
        table.add_row(r.name, r.actor or "", ",".join(r.type), r.place or "",
                      "" if r.radius_km is None else f"{r.radius_km:g}", ",".join(r.modality), str(r.min_sources),
                      r.country or "", r.webhook or "")
    _out().print(table)


@watch_app.command("remove")
def watch_remove(name: Annotated[str, typer.Argument(help="Rule name.")], db: DbOption = None) -> None:
    """Remove a watch rule (its alerts stay)."""
    from tidings.across.watch import remove_rule

    with _store(db, create=True) as store:
        removed = remove_rule(store, name)
    if not removed:
        _err().print(f"no watch rule named {name!r}", highlight=False)
        raise typer.Exit(1)
    _err().print(f"removed {name}", highlight=False)


@watch_app.command("check")
def watch_check(
    db: DbOption = None,
    rules: Annotated[Path | None, typer.Option(help="YAML/JSON rules file (instead of the stored rules).")] = None,
) -> None:
    """Evaluate rules against everything already stored (new alerts only)."""
    from tidings.across.watch import deliver, evaluate_stored, load_rules_file

    with _store(db, create=True) as store:
        try:
            chosen = load_rules_file(rules) if rules else None
        except TidingsError as exc:
            raise typer.BadParameter(str(exc)) from None
        new = deliver(store, evaluate_stored(store, chosen))
    for alert in new:
        _out().print(f"alert [{alert.rule}] {alert.summary} — cluster {alert.cluster_id}", markup=False,
                     highlight=False)
    _err().print(f"{len(new)} new alert(s)", highlight=False)


def alerts(
    db: DbOption = None,
    fmt: FormatOption = "table",
    rule: Annotated[str | None, typer.Option(help="Only this rule's alerts.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many alerts.")] = 100,
) -> None:
    """List alerts raised by watch rules, newest first."""
    _check_format(fmt)
    from tidings.across.watch import alerts as stored_alerts

    with _store(db) as store:
        found = stored_alerts(store, rule=rule, limit=limit)
    if fmt == "json":
        _json([a.as_dict() for a in found])
        return
    table = Table("when", "rule", "alert", "cluster", "webhook", pad_edge=False)
    for a in found:
        cells = (a.created_at.isoformat(timespec="seconds") + "Z", a.rule, a.summary, a.cluster_id, _delivery(a))
        table.add_row(*(Text(str(c or "")) for c in cells))   # user text, never rich markup
    _out().print(table)


def _delivery(alert: Any) -> str:
    """The webhook's state in words: delivered, queued, retrying (when, after which error) or failed."""
    if not alert.webhook:
        return ""
    if alert.delivered:
        return "delivered"
    state = alert.last_error or "queued"
    if state == "queued":
        return "queued"
    if state.startswith("retry"):
        return f"retrying ({state})"
    return f"failed ({state})"


def register(app: typer.Typer) -> None:
    """Add the across-articles verbs to the tidings command."""
    app.command("link")(link)
    app.command("clusters")(clusters)
    app.command("cluster")(cluster)
    app.command("graph")(graph)
    app.command("timeline")(timeline)
    app.command("alerts")(alerts)
    app.add_typer(watch_app, name="watch")
