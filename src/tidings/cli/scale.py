"""``tidings follow`` (RSS/Atom feeds) and ``tidings batch`` (large corpora, locally or on Ray).

Thin: each verb parses its options, calls :func:`tidings.read.feeds.follow` or
:func:`tidings.scale.run_batch`, and prints what happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Self

import typer
from rich.text import Text

from tidings.cli.train import CoderOpt, ModelOpt, apply_coder
from tidings.core.errors import TidingsError

if TYPE_CHECKING:
    from tidings.follow import PollReport
    from tidings.scale import BatchStats

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the verbs to the main app (called by ``tidings.cli.main``)."""
    app.command("follow")(follow)
    app.command("batch")(batch)
    app.command("webhooks")(webhooks)


def follow(
    feeds: Annotated[list[str], typer.Argument(help="Feed URLs, or files with one feed URL per line.")],
    every: Annotated[str, typer.Option(help="Time between polls: 30s, 15m, 2h.")] = "15m",
    once: Annotated[bool, typer.Option("--once", help="Poll every feed once, then exit.")] = False,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default sqlite:///tidings.db).")] = None,
    allow_private: Annotated[bool, typer.Option(
        "--allow-private", help="Also fetch from private, loopback and link-local addresses.")] = False,
) -> None:
    """Follow RSS/Atom feeds: analyse and store each new article; only new items are fetched."""
    from tidings import pipeline, service
    from tidings.cli.main import console, err_console
    from tidings.follow import FollowPolicy
    from tidings.follow import follow as follow_feeds
    from tidings.read.feeds import parse_every, read_feed_list
    from tidings.read.web import FetchPolicy, WebClient

    try:
        urls = read_feed_list(feeds)
        policy = FollowPolicy(every=parse_every(every))
        client = WebClient(FetchPolicy(allow_private=True) if allow_private else None)
    except TidingsError as exc:
        err_console.print(Text(f"error {exc}", style="red"))
        raise typer.Exit(2) from None
    store = service.open_store(db)
    err_console.print(Text(f"following {len(urls)} feed(s) into {store.url}" + ("" if once else f", every {every}")))
    try:
        engine = pipeline.Engine()
        reports = follow_feeds(urls, store=store, engine=engine, client=client, policy=policy, once=once,
                               on_report=lambda r: console.print(_report_line(r), highlight=False))
    except KeyboardInterrupt:
        err_console.print("stopped")
        reports = []
    finally:
        client.close()
        store.close()
    raise typer.Exit(1 if reports and all(r.status == "failed" for r in reports) else 0)


def _report_line(report: PollReport) -> Text:
    """One report as rich Text: feed URLs, links and messages come from the network and are never markup."""
    if report.status == "not_modified":
        return Text(f"{report.feed_url}: not modified")
    if report.status == "backing_off":
        return Text(f"{report.feed_url}: backing off after failures")
    if report.status == "failed":
        return Text.assemble((f"{report.feed_url}: failed", "red"), f" {report.error}")
    line = Text(f"{report.feed_url}: {report.items} item(s), {report.new} new, {len(report.analyses)} analysed, "
                f"{report.events} event(s)")
    if report.error:
        line.append(f"\n  {report.error}", style="yellow")
    for failure in report.failures:
        line.append("\n  ")
        line.append("error", style="red")
        line.append(f" {failure}")
    return line


def webhooks(
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default sqlite:///tidings.db).")] = None,
    budget: Annotated[float, typer.Option(help="Seconds to spend at most.", min=0.1)] = 60.0,
) -> None:
    """Deliver queued alert webhooks whose time has come (failed ones are retried with backoff per URL)."""
    from tidings import service
    from tidings.across.watch import deliver_pending
    from tidings.cli.main import err_console

    store = service.open_store(db)
    try:
        report = deliver_pending(store, budget=budget)
    finally:
        store.close()
    err_console.print(Text(f"{report.delivered} delivered, {report.failed} failed ({report.gave_up} given up), "
                           f"{report.left} left waiting; see `tidings alerts`"))


def batch(
    inputs: Annotated[list[str], typer.Argument(help="JSONL or Parquet files, directories of text/HTML, URLs.")],
    engine: Annotated[str, typer.Option(help="local (spaCy processes) or ray.")] = "local",
    workers: Annotated[int, typer.Option(help="Processes (local) or Ray actors.", min=1)] = 1,
    out: Annotated[list[str] | None, typer.Option(
        "--out", help="Database URL, .db file or Parquet directory (repeatable; default the database).")] = None,
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="A running Ray cluster (default $RAY_ADDRESS, else a local Ray).")] = None,
    batch_size: Annotated[int, typer.Option(help="Documents per model batch.", min=1)] = 32,
    coder: CoderOpt = None,
    model: ModelOpt = None,
) -> None:
    """Analyse a large corpus; re-running skips what is done, so an interrupted batch resumes."""
    apply_coder(coder, model)
    from tidings.cli.main import err_console
    from tidings.core.settings import Settings
    from tidings.scale import run_batch

    outputs = out or [Settings().db_url]
    with _Progress(err_console) as progress:
        try:
            stats = run_batch(inputs, outputs, engine=engine, workers=workers, batch_size=batch_size,
                              ray_address=ray_address, on_progress=progress.update)
        except TidingsError as exc:
            err_console.print(Text(f"error {exc}", style="red"))
            raise typer.Exit(2) from None
    err_console.print(Text(f"{stats.done} document(s) analysed, {stats.events} event(s), {stats.failed} error(s), "
                      f"{stats.skipped} already done; {stats.rate:.1f} documents/s; "
                      f"written to {', '.join(outputs)}"))
    raise typer.Exit(1 if stats.failed else 0)


class _Progress:
    """A live line (documents done, per second, errors) on a terminal; nothing in logs and pipes."""

    def __init__(self, console: object) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._live = getattr(console, "is_terminal", False)
        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                             console=console, transient=True)  # type: ignore[arg-type]
        self._task = self._bar.add_task("starting")

    def update(self, stats: BatchStats) -> None:
        self._bar.update(self._task, description=(
            f"{stats.done} done, {stats.rate:.1f}/s, {stats.failed} error(s), {stats.skipped} skipped"))

    def __enter__(self) -> Self:
        if self._live:
            self._bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._live:
            self._bar.stop()
