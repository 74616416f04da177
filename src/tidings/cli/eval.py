"""``tidings eval``: score tidings against gold data. Each verb is one call of :mod:`tidings.evaluation`;
this module only parses arguments and prints (rich tables, or ``--json``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tidings import evaluation
from tidings.cli.train import CoderOpt, ModelOpt, apply_coder
from tidings.evaluation import EvalReport

eval_app = typer.Typer(add_completion=False, no_args_is_help=True, help=(
    "Score tidings against gold data: event coding (PLOVER GSR), classification (CASE 2021), geoparsing."))
# Off a terminal (pipes, CI logs) rich would wrap at 80 columns and fold the confusion grid unreadably.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True)

GoldArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Gold JSONL file.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Score only the first N gold rows.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")]
PredOpt = Annotated[Path | None, typer.Option(
    "--predictions", exists=True, dir_okay=False, help="Score this prediction JSONL instead of running tidings.")]
SaveOpt = Annotated[Path | None, typer.Option(
    "--save-predictions", dir_okay=False, help="Write the predictions as JSONL (for the shared scorers).")]
ProcOpt = Annotated[int | None, typer.Option("--n-process", min=1, help="spaCy processes (default: settings).")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", min=1, help="Documents per batch.")]


@eval_app.command("events")
def events(gold: GoldArg, limit: LimitOpt = None, as_json: JsonOpt = False, predictions: PredOpt = None,
           save_predictions: SaveOpt = None, n_process: ProcOpt = None, batch_size: BatchOpt = None,
           coder: CoderOpt = None, model: ModelOpt = None) -> None:
    """Event type, mode, actors, place and date on PLOVER gold-standard sentences."""
    apply_coder(coder, model)
    with _progress(as_json or predictions is not None) as progress:
        report = evaluation.run_events(gold, limit=limit, predictions=predictions, n_process=n_process,
                                       batch_size=batch_size, progress=progress)
    _finish(report, as_json, save_predictions, _print_events)


@eval_app.command("classify")
def classify(gold: GoldArg, limit: LimitOpt = None, as_json: JsonOpt = False, predictions: PredOpt = None,
             save_predictions: SaveOpt = None, n_process: ProcOpt = None, batch_size: BatchOpt = None,
             fallback: Annotated[str | None, typer.Option(
                 help="Label for snippets with no mappable event (default: plover.json's).")] = None,
             coder: CoderOpt = None,
             model: Annotated[Path | None, typer.Option(
                 "--model", file_okay=False, help=(
                     "A head from `tidings train`: one trained on this label set labels each snippet itself; "
                     "a PLOVER head is used as the event coder."))] = None) -> None:
    """One CASE 2021 Task 2 label per snippet: from a head trained on the labels (--model), else from the
    best event's PLOVER type and mode through the ACLED mapping."""
    if model is not None and predictions is None and not evaluation.is_event_head(model):
        with _progress(as_json) as progress:
            report = evaluation.run_head_classify(gold, model, limit=limit, progress=progress)
        _finish(report, as_json, save_predictions, _print_classify)
        return
    apply_coder(coder, model)
    mapping = None if predictions is not None else evaluation.load_case_mapping(fallback=fallback)
    with _progress(as_json or predictions is not None) as progress:
        report = evaluation.run_classify(gold, limit=limit, predictions=predictions, mapping=mapping,
                                         n_process=n_process, batch_size=batch_size, progress=progress)
    _finish(report, as_json, save_predictions, _print_classify)


@eval_app.command("geo")
def geo(gold: GoldArg, limit: LimitOpt = None, as_json: JsonOpt = False, predictions: PredOpt = None,
        save_predictions: SaveOpt = None, n_process: ProcOpt = None, batch_size: BatchOpt = None,
        resolution_match: Annotated[str, typer.Option(
            help="Score resolution on exact or overlap span matches.")] = "exact",
        coder: CoderOpt = None, model: ModelOpt = None,
        adjectives: Annotated[bool, typer.Option(
            help="Count adjectival forms ('Canadian officials') as toponyms; --no-adjectives for gold sets "
                 "that mark place names only (GeoVirus).")] = True) -> None:
    """Toponym recognition (exact/overlap spans) and resolution (accuracy@161 km, error km)."""
    apply_coder(coder, model)
    if resolution_match not in ("exact", "overlap"):
        raise typer.BadParameter("--resolution-match must be exact or overlap")
    with _progress(as_json or predictions is not None) as progress:
        report = evaluation.run_geo(gold, limit=limit, predictions=predictions, resolution_match=resolution_match,
                                    n_process=n_process, batch_size=batch_size, progress=progress,
                                    adjectives=adjectives)
    _finish(report, as_json, save_predictions, _print_geo)


# --- output --------------------------------------------------------------------------------------

@contextmanager
def _progress(quiet: bool) -> Iterator[evaluation.Progress | None]:
    """A rich progress bar on a terminal (the engine takes minutes on a large gold file)."""
    if quiet or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("analysing", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("analysing", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _finish(report: EvalReport, as_json: bool, save: Path | None, show: Any) -> None:
    if save is not None:
        evaluation.write_jsonl(save, report.predictions)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n")
    else:
        show(report.scores)
        for failure in report.failures[:10]:
            err_console.print(Text.assemble(("not analysed", "yellow"), f" {failure}"), highlight=False)
        rate = f", {report.documents / report.seconds:.1f} docs/s" if report.seconds else ""
        err_console.print(f"{report.documents} gold rows from {report.gold}; {len(report.failures)} not analysed; "
                          f"{report.seconds:.1f} s{rate}", highlight=False)


def _f(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _prf_table(title: str, rows: Mapping[str, Mapping[str, Any]], support: str = "gold") -> Table:
    table = Table(title=title, pad_edge=False)
    for column in ("", "P", "R", "F1", "tp", "pred", support):
        table.add_column(column, justify="left" if not column else "right")
    for name, v in rows.items():
        table.add_row(name, _f(v.get("precision")), _f(v.get("recall")), _f(v.get("f1")),
                      _f(v.get("tp", v.get("matched"))), _f(v.get("pred", v.get("predicted"))), _f(v.get("gold")))
    return table


def _summary_table(title: str, views: Mapping[str, Mapping[str, Any]]) -> Table:
    table = Table(title=title, pad_edge=False)
    for column in ("view", "n", "accuracy", "macro F1", "weighted F1", "missing"):
        table.add_column(column, justify="left" if column == "view" else "right")
    for name, v in views.items():
        table.add_row(name, _f(v.get("n")), _f(v.get("accuracy_micro_f1")), _f(v.get("macro_f1")),
                      _f(v.get("weighted_f1")), _f(v.get("missing_predictions")))
    return table


def _confusions_table(cells: list[Any]) -> Table:
    table = Table(title="Most frequent confusions", pad_edge=False)
    for column in ("gold", "predicted", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for gold, pred, count in cells:
        table.add_row(gold, pred, str(count))
    return table


def _print_events(scores: Mapping[str, Any]) -> None:
    scored = {k: v for k, v in scores["fields"].items() if v["gold"]}  # fields the gold has values for
    console.print(_prf_table("Fields (country = first 3 characters, full = country + role)", scored))
    console.print(_summary_table("Event type", {"all": scores["labels"]}))
    actors = scores["actor_code_set_match"]
    console.print(f"type of any event (ceiling of the choice rule): {_f(scores['type_any_event'])}   "
                  f"actor code sets equal — source {_f(actors['source_codes'])}, target "
                  f"{_f(actors['target_codes'])}, all {_f(actors['actors'])} (n={actors['n_scored']})")
    console.print(_prf_table("Per PLOVER type", scores["per_type"]))
    console.print(_confusion_grid(scores["confusion"]))


def _confusion_grid(matrix: Mapping[str, Mapping[str, int]]) -> Table:
    """The full gold × predicted grid (16 PLOVER types fit a terminal; 30 CASE labels do not)."""
    predicted = sorted({p for row in matrix.values() for p in row})
    table = Table(title="Confusion (rows gold, columns predicted)", pad_edge=False)
    table.add_column("gold")
    for label in predicted:
        table.add_column(label[:4], justify="right")
    for gold, row in matrix.items():
        table.add_row(gold, *[(f"[bold]{row[p]}[/bold]" if p == gold else str(row[p])) if p in row else ""
                              for p in predicted])
    return table


def _print_classify(scores: Mapping[str, Any]) -> None:
    views = {k: v for k, v in scores.items() if k == "all" or k.startswith("subtask")}
    console.print(_summary_table("CASE 2021 Task 2", views))
    console.print(_prf_table("Per label", scores["all"].get("per_label", {})))
    console.print(_confusions_table(scores["top_confusions"]))
    console.print("prediction from: " + ", ".join(f"{k} {v}" for k, v in scores["prediction_sources"].items()))


def _print_geo(scores: Mapping[str, Any]) -> None:
    console.print(_prf_table("Toponym recognition", {"exact spans": scores["recognition_exact"],
                                                     "overlapping spans": scores["recognition_overlap"]}))
    res = scores["resolution"]
    table = Table(title=f"Resolution (on {scores['resolution_match']} matches)", pad_edge=False)
    for column in ("n", "acc@161km", "mean km", "median km", "AUC log err", "geonameid acc", "end-to-end acc@161"):
        table.add_column(column, justify="right")
    table.add_row(_f(res["n"]), _f(res["accuracy_at_161km"]), _f(res["mean_error_km"]), _f(res["median_error_km"]),
                  _f(res["auc_log_error"]), _f(res["geonameid_accuracy"]), _f(scores["end_to_end_accuracy_at_161km"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Mount ``tidings eval …`` on the main command."""
    app.add_typer(eval_app, name="eval", help="Score tidings against gold data (events, classify, geo).")
