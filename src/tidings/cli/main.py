"""The ``tidings`` command. Each verb is a thin call of one library function."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import typer.core
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tidings import service
from tidings.cli.train import CoderOpt, ModelOpt, apply_coder
from tidings.core.records import Analysis, Event
from tidings.store.export import casualty_text

# Click's exception classes, taken from typer's own BadParameter: typer >= 0.26 vendors click (typer._click),
# older ones use click itself, and only the classes typer raises are the ones to catch.
_CLICK_ERRORS = sys.modules[typer.BadParameter.__module__]
_ClickException: type[Exception] = _CLICK_ERRORS.ClickException
_UsageError: type[Exception] = _CLICK_ERRORS.UsageError
_NoArgsIsHelp: type[Exception] | None = getattr(_CLICK_ERRORS, "NoArgsIsHelpError", None)


class _OneLineErrors(typer.core.TyperGroup):
    """Every verb, plugins included: a TidingsError or an OS error (disk full, permission denied, a
    directory where a file was expected) is one line with its code on stderr and exit status 1, never a
    traceback — unless ``--debug`` (or ``TIDINGS_DEBUG=1``) asks for it. Bugs still show theirs.

    Usage errors (an unknown verb or option, a missing argument, a bad value that click itself checks) are
    one line too, E318 with the ``--help`` to try, exit status 2 as click gives them — not typer's five-line
    rich box. They are caught where click raises them: parsing the top level (``make_context``) and each
    verb's own parsing, which happens inside the group's ``invoke``. A verb run without arguments where
    ``no_args_is_help`` is set still shows its help."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _ClickException as usage:
            _usage_fail(usage)

    def invoke(self, ctx: Any) -> Any:   # typer's own (vendored) click Context
        from tidings.core.errors import TidingsError

        try:
            return super().invoke(ctx)
        except _ClickException as usage:
            _usage_fail(usage)
        except (TidingsError, OSError):
            if _debug(ctx):
                raise
            exc = sys.exc_info()[1]
            if isinstance(exc, TidingsError):
                _fail(str(exc))
            assert isinstance(exc, OSError)
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            _fail(f"[E313] {exc.strerror or exc}{where} (check the path, its permissions and the free space)")
        return None


def _debug(ctx: typer.Context) -> bool:
    import os

    return bool(ctx.meta.get("tidings.debug")) or os.environ.get("TIDINGS_DEBUG", "") not in ("", "0")


def _fail(line: str, status: int = 1) -> NoReturn:
    err_console.print(Text(f"error {' '.join(line.split())}", style="red"), soft_wrap=True)
    raise typer.Exit(status)


def _usage_fail(exc: Exception) -> NoReturn:
    """A click usage error as one line: ``error [E318] Missing argument 'PATHS'. Try 'tidings analyze
    --help'.`` Help asked for by ``no_args_is_help`` is not an error: it is shown as click shows it."""
    if _NoArgsIsHelp is not None and isinstance(exc, _NoArgsIsHelp) or not isinstance(exc, _ClickException):
        raise exc
    message = exc.format_message().strip()  # type: ignore[attr-defined]
    message = message if message.endswith((".", "?", "!")) else f"{message}."
    ctx = getattr(exc, "ctx", None)
    hint = f" Try '{ctx.command_path} --help'." if isinstance(exc, _UsageError) and ctx is not None else ""
    _fail(f"[E318] {message}{hint}", status=getattr(exc, "exit_code", 2))


app = typer.Typer(cls=_OneLineErrors, add_completion=False, no_args_is_help=True, help=(
    "tidings: news reports in, evidenced and attributed PLOVER events out — offline."))
# Piped output (files, CI logs) gets wide lines instead of rich's 80-column default.
console = Console() if sys.stdout.isatty() else Console(width=200)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=200)

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default sqlite:///tidings.db).")]
_FORMATS = ("table", "json", "jsonl")


@app.callback()
def _main(ctx: typer.Context, debug: Annotated[bool, typer.Option(
        "--debug", help="Show the full traceback of an error instead of its one line.")] = False) -> None:
    """tidings: news reports in, evidenced and attributed PLOVER events out — offline."""
    ctx.meta["tidings.debug"] = debug


def check_format(fmt: str, allowed: tuple[str, ...] = _FORMATS) -> str:
    """An output format the verb knows, else E316 (never a silent fallback to another format)."""
    if fmt not in allowed:
        from tidings.core.errors import InputError

        raise InputError(f"Unknown output format {fmt!r}.", code="E316", hint=f"Use one of: {', '.join(allowed)}.")
    return fmt


def check_types(types: list[str] | None) -> list[str] | None:
    """PLOVER types given as a filter; an unknown one is E315, not a filter that matches nothing."""
    if not types:
        return types
    from tidings.core.errors import InputError
    from tidings.stages.coder import plover_types

    known = plover_types()
    unknown = [t for t in types if t.upper() not in known]
    if unknown:
        raise InputError(f"Unknown PLOVER type {unknown[0]!r}.", code="E315", hint=f"Use one of: {', '.join(known)}.")
    return [t.upper() for t in types]


# Verb groups that live in their own modules; each module defines ``register(app)``. A module whose
# optional dependencies are missing is skipped, and its verbs say which extra to install.
_PLUGINS = ("tidings.cli.eval", "tidings.cli.link", "tidings.cli.serve", "tidings.cli.scale", "tidings.cli.train")


def _register_plugins() -> None:
    import importlib

    for name in _PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # not written yet / not installed
            raise
        module.register(app)


@app.command()
def analyze(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or - for stdin.")],
    published: Annotated[str | None, typer.Option(help="Publication date YYYY-MM-DD (plain text).")] = None,
    outlet: Annotated[str | None, typer.Option(help="Outlet that published the text.")] = None,
    url: Annotated[str | None, typer.Option(help="URL of the text.")] = None,
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or jsonl.")] = "table",
    store: Annotated[bool, typer.Option("--store/--no-store", help="Write results to the database.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Analyse again documents already stored by this "
                                        "version of tidings (they are skipped otherwise).")] = False,
    coder: CoderOpt = None,
    model: ModelOpt = None,
) -> None:
    """Analyse news texts and store their events (documents stored already are skipped unless --force)."""
    check_format(fmt)
    apply_coder(coder, model)
    show_progress = fmt == "table" and console.is_terminal
    result = service.analyze_paths(paths, published=published, outlet=outlet, url=url,
                                   db=db if store else None, progress=show_progress, force=force)
    for analysis in result.analyses:
        _print_analysis(analysis, fmt)
    for failure in result.failures:
        err_console.print(f"[red]error[/red] {escape(str(failure))}", highlight=False)
    for note in result.notes:
        err_console.print(f"[yellow]note[/yellow] {escape(note)}", highlight=False)
    if fmt == "table":
        skipped = (f" ({len(result.skipped)} unchanged, shown as stored; --force analyses them again)"
                   if result.skipped else "")
        err_console.print(escape(f"{len(result.analyses)} document(s), {result.event_count} event(s), "
                                 f"{len(result.failures)} error(s)"
                                 + (f"; stored in {result.db}" if result.db else "") + skipped), highlight=False)
    raise typer.Exit(1 if result.failures else 0)


def _print_analysis(analysis: Analysis, fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(analysis.model_dump_json(indent=2) + "\n")
    elif fmt == "jsonl":
        for event in analysis.events:
            sys.stdout.write(event.model_dump_json() + "\n")
    else:
        doc = analysis.document
        title = doc.title or doc.path or doc.id
        date = f"{doc.published}{' (inferred)' if doc.published_inferred else ''}" if doc.published else "undated"
        console.print(f"\n[bold]{escape(title)}[/bold] — published {date}", highlight=False)
        if analysis.document_chain:
            console.print("source chain: " + escape(" → ".join(_link(s) for s in analysis.document_chain)),
                          highlight=False)
        for warning in analysis.warnings:
            console.print(f"[yellow]note[/yellow] {escape(warning)}", highlight=False)
        console.print(events_table(analysis.events))


def _link(source: object) -> str:
    name = getattr(source, "name", "?")
    return f"{name} (anonymous)" if getattr(source, "anonymous", False) else name


_MODALITY_STYLE = {"asserted": "bold", "reported": "cyan", "hedged": "yellow", "negated": "red",
                   "future": "magenta", "historical": "dim"}


def events_table(events: list[Event], width: int | None = None) -> Table:
    """A readable table of events, ``width`` columns wide (the terminal's by default), wrapped at word
    boundaries: rich shares out a too-narrow width in proportion and so cuts words ("officia/ls"); here
    :func:`_fit` gives each wrapping column its longest word first. id, killed, modality and conf never wrap; a
    mode and the end of a date range take a line of their own when needed."""
    rows: list[tuple[str, ...]] = []
    for e in events:
        date = e.when.start.isoformat() if e.when.start else ("relative" if e.when.relative else "undated")
        if e.when.end and e.when.end != e.when.start:
            date += f" …{e.when.end.isoformat()}"   # the space lets a range wrap between its ends
        rows.append((e.id[:8], e.type + (f" ({e.mode})" if e.mode else ""), _actor(e.source_actor),
                     _actor(e.target_actor), f"{e.place.name}, {e.place.country}" if e.place else "", date,
                     "" if e.fatalities is None else str(e.fatalities),
                     e.modality, " → ".join(_link(s) for s in e.attribution), f"{e.confidence:.2f}"))
    # the killed column only where some event has a figure: most lists have none, and width is scarce
    columns = _COLUMNS if any(row[6] for row in rows) else _COLUMNS[:6] + _COLUMNS[7:]
    if len(columns) < len(_COLUMNS):
        rows = [row[:6] + row[7:] for row in rows]
    widths = _fit(rows, width or console.width, columns)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
    for column, fitted in zip(columns, widths, strict=True):
        table.add_column(column, no_wrap=column in _NO_WRAP, overflow="fold", width=fitted)
    mod = columns.index("modality")
    for e, row in zip(events, rows, strict=True):
        table.add_row(*row[:mod], Text(row[mod], style=_MODALITY_STYLE.get(e.modality, "")), *row[mod + 1:])
    return table


_COLUMNS = ("id", "type", "source", "target", "place", "date", "killed", "modality", "said by", "conf")
_NO_WRAP = frozenset({"id", "killed", "modality", "conf"})


def _fit(rows: Sequence[tuple[str, ...]], width: int, columns: Sequence[str] = _COLUMNS) -> list[int | None]:
    """Column widths for ``rows`` within ``width``: no-wrap columns as wide as their text; each other column
    at least its longest word (header included), then the room left shared towards their full lengths. A
    word longer than any share can be only then is folded. None (rich decides) when the rows fit as they are."""
    full = [max([len(column)] + [len(row[i]) for row in rows]) for i, column in enumerate(columns)]
    room = width - 2 * len(columns) + 1   # one column of padding and one of frame between columns
    if sum(full) <= room:
        return [None] * len(columns)
    wraps = [i for i, column in enumerate(columns) if column not in _NO_WRAP]
    fitted = list(full)
    for i in wraps:
        fitted[i] = max([len(columns[i])] + [len(word) for row in rows for word in row[i].split()])
    while sum(fitted) > room and any(fitted[i] > 6 for i in wraps):   # too narrow: fold the longest words
        widest = max(wraps, key=lambda i: fitted[i])
        fitted[widest] -= 1
    spare = room - sum(fitted)
    want = {i: full[i] - fitted[i] for i in wraps if full[i] > fitted[i]}
    total = sum(want.values())
    for i, extra in want.items():
        fitted[i] += min(extra, spare * extra // total) if spare > 0 else 0
    return list(fitted)


def _actor(actor: object) -> str:
    if actor is None:
        return ""
    code = getattr(actor, "code", None)
    name = getattr(actor, "name", "")
    return f"{name} [{code}]" if code else name


@app.command()
def events(
    db: DbOption = None,
    type: Annotated[list[str] | None, typer.Option("--type", help="PLOVER type (repeatable).")] = None,
    actor: Annotated[str | None, typer.Option(help="Actor code prefix or name.")] = None,
    country: Annotated[str | None, typer.Option(help="ISO country code of an actor or the place.")] = None,
    place: Annotated[str | None, typer.Option(help="Place name.")] = None,
    since: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    until: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    modality: Annotated[list[str] | None, typer.Option(help="asserted, reported, hedged, negated, …")] = None,
    source: Annotated[str | None, typer.Option(help="Name in the attribution chain.")] = None,
    text: Annotated[str | None, typer.Option(help="Full-text search in the documents.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help=(
        "YYYY-MM-DD: only events reported by then (published, else stored, on or before)."))] = None,
    min_fatalities: Annotated[int | None, typer.Option("--min-fatalities", min=0, help=(
        "Only events whose text reports at least this many killed."))] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 100,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or jsonl.")] = "table",
) -> None:
    """List stored events, filtered."""
    check_format(fmt)
    found = service.find_events(db, type=check_types(type), actor=actor, country=country, place=place, since=parse_date_option(since),
                                until=parse_date_option(until), modality=modality, source=source, text=text,
                                as_of=parse_date_option(as_of), min_fatalities=min_fatalities, limit=limit)
    if fmt == "table":
        console.print(events_table(found))
    elif fmt == "json":
        sys.stdout.write(json.dumps([json.loads(e.model_dump_json()) for e in found], indent=2) + "\n")
    else:
        for e in found:
            sys.stdout.write(e.model_dump_json() + "\n")


def parse_date_option(value: str | None) -> dt.date | None:
    """A YYYY-MM-DD command-line option (shared by every verb that takes dates)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a date: {value!r} (expected YYYY-MM-DD)") from None


@app.command()
def show(event_id: Annotated[str, typer.Argument(help="Event id (or a unique prefix).")], db: DbOption = None) -> None:
    """Show one event: the sentence with its evidence highlighted, the chain and the modality."""
    found = service.get_event(db, event_id)
    if found is None:
        err_console.print(Text(f"no event {event_id!r}"))
        raise typer.Exit(1)
    event, document = found
    console.print(f"[bold]{escape(event.type)}[/bold]{escape('/' + event.mode) if event.mode else ''}  "
                  f"modality [bold]{event.modality}[/bold]  confidence {event.confidence:.2f}  id {event.id}")
    console.print(highlight_evidence(event, document.text if document else None))
    console.print(Text(f"source: {_actor(event.source_actor) or '—'}   target: {_actor(event.target_actor) or '—'}"))
    if event.place:
        p = event.place
        console.print(Text(f"place: {p.name}, {p.admin1 or ''} {p.country} ({p.lat}, {p.lon}) "
                           f"geonames:{p.geonameid}"))
    w = event.when
    console.print(f"when: {w.start or 'undated'}{'…' + str(w.end) if w.end and w.end != w.start else ''} "
                  f"({w.granularity}, anchored to {w.anchor})")
    console.print(Text("said by: " + (" → ".join(_link(s) for s in event.attribution) or "the outlet itself")))
    for casualty in event.casualties:
        console.print(Text("casualties: " + casualty_text(casualty)))
    if why := _why(event):
        console.print(Text(why))
    if document:
        console.print(Text(f"document: {document.title or document.path or document.id} "
                           f"({document.published or 'undated'})"))


def _why(event: Event) -> str:
    """Why this type: the trigger row that fired and/or the learned layer's top types."""
    parts = []
    if rule := event.why.get("rule"):
        parts.append(f"rule {rule} ({event.why.get('trigger', '')})")
    if model := event.why.get("model"):
        tops = ", ".join(f"{label} {p:.2f}" for label, p in model)
        parts.append(f"model {event.why.get('model_name', '')}: {tops}")
    return "why: " + "; ".join(parts) if parts else ""


_EVIDENCE_STYLE = {"casualties": "bold underline", "trigger": "bold reverse", "source": "bold green", "target": "bold red", "place": "bold blue",
                   "time": "bold magenta", "modality": "bold yellow"}


def highlight_evidence(event: Event, text: str | None) -> Text:
    """The event's sentence with each evidence span styled by its field."""
    sentence = event.evidence["sentence"]
    out = Text(sentence.text)
    for field, span in event.evidence.items():
        style = _EVIDENCE_STYLE.get(field.split(".")[0], "underline" if field.startswith("attribution") else "")
        if field == "sentence" or not style:
            continue
        start, end = span.start - sentence.start, span.end - sentence.start
        if 0 <= start < end <= len(sentence.text):
            out.stylize(style, start, end)
    for casualty in event.casualties:
        start, end = casualty.span.start - sentence.start, casualty.span.end - sentence.start
        if 0 <= start < end <= len(sentence.text):
            out.stylize(_EVIDENCE_STYLE["casualties"], start, end)
    return out


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Output file, or - for stdout (not for parquet).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, jsonl, json, parquet, geojson, acled, gdelt")] = "jsonl",
    db: DbOption = None,
    force: Annotated[bool, typer.Option("--force", help="Write even where OUT is a symbolic link (refused "
                                        "otherwise: the link's target would be overwritten).")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help=(
        "YYYY-MM-DD: only events reported by then (published, else stored, on or before)."))] = None,
) -> None:
    """Export stored events."""
    count = service.export(db, fmt, out, force=force, as_of=parse_date_option(as_of))
    err_console.print(Text(f"exported {count} event(s) as {fmt} to {out}"))


@app.command()
def errors(db: DbOption = None, limit: int = 50) -> None:
    """List documents that could not be analysed."""
    table = Table("when", "document", "code", "message")
    for row in service.list_errors(db, limit):
        table.add_row(*(Text(str(row.get(key, ""))) for key in ("created_at", "ref", "code", "message")))
    console.print(table)


@app.command()
def version() -> None:
    """Print the version."""
    from tidings.core import __version__

    console.print(f"tidings {__version__}")


_register_plugins()


def main() -> None:  # console script entry point
    app()
