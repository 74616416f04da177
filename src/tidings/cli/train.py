"""``tidings train`` and the options that choose the coder (``--coder``, ``--model``) on every verb that codes.

The options set ``TIDINGS_CODER`` / ``TIDINGS_MODEL_DIR`` for the process, so every Engine the verb builds —
in the CLI, the API's workers, local batch processes or Ray actors started from it — codes the same way.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["CoderOpt", "ModelOpt", "apply_coder", "register", "train"]

CoderOpt = Annotated[str | None, typer.Option(
    "--coder", help="learned (rules + the learned layer, default) or rules (the rule coder alone).")]
ModelOpt = Annotated[Path | None, typer.Option(
    "--model", file_okay=False, help="A head directory written by `tidings train` (default: the shipped one).")]


def apply_coder(coder: str | None, model: Path | None) -> None:
    """Check the choice now (one line and exit 2 if unusable) and make it the process's default."""
    from tidings.core.errors import TidingsError
    from tidings.core.settings import CODER_MODES
    from tidings.stages.coder import load_head

    if coder is not None:
        if coder not in CODER_MODES:
            typer.echo(f"[E503] unknown coder {coder!r}: use one of {', '.join(CODER_MODES)}", err=True)
            raise typer.Exit(2)
        os.environ["TIDINGS_CODER"] = coder
    if model is not None:
        try:
            head = load_head(model)
        except TidingsError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        if not head.is_event_coder:
            typer.echo(f"[E501] {model} predicts {', '.join(head.labels[:6])}…, not PLOVER types: use it with "
                       "`tidings eval classify --model`, not as the event coder", err=True)
            raise typer.Exit(2)
        os.environ["TIDINGS_MODEL_DIR"] = str(model.resolve())


def train(
    gold: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL with a text and a label field.")],
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Directory to write the head to.")],
    label: Annotated[str, typer.Option("--label", help="The field holding each row's label.")] = "label",
    text: Annotated[str, typer.Option("--text", help="The field holding each row's text.")] = "text",
    folds: Annotated[int, typer.Option("--folds", min=0, help="k-fold cross-validation (0: none).")] = 5,
    rules: Annotated[bool, typer.Option("--rules/--no-rules", help=(
        "Stack the rule coder's outputs with the embeddings (needed for a head used as the event coder)."))] = False,
    c: Annotated[float | None, typer.Option("-C", min=1e-4, help=(
        "Inverse regularisation strength (default: chosen from 1, 4, 16, 64 by cross-validation)."))] = None,
    class_weight: Annotated[str, typer.Option("--class-weight", help=(
        "auto (chosen by cross-validation with C), none, or balanced (classes weighted inversely to their "
        "frequency: helps many small classes)."))] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Train a head on your own gold (any label set), print k-fold scores, and save it for --model."""
    from tidings.core.errors import TidingsError
    from tidings.train import read_gold, train_head

    weights = {"auto": None, "none": False, "balanced": True}
    if class_weight not in weights:
        typer.echo(f"[E504] unknown --class-weight {class_weight!r}: use auto, none or balanced", err=True)
        raise typer.Exit(2)
    try:
        rows = read_gold(gold, label=label, text=text)
        report = train_head(rows, rules=rules, folds=folds, c=c, balanced=weights[class_weight] if folds >= 2
                            else bool(weights[class_weight]), meta={"name": out.name, "gold": gold.name,
                                                                       "label_field": label})
    except TidingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    report.head.save(out)
    (out / "cv.json").write_text(json.dumps(report.scores, indent=1) + "\n", "utf-8")
    if as_json:
        sys.stdout.write(json.dumps(report.scores, indent=1) + "\n")
    else:
        _print_scores(report.scores, out)


def _print_scores(scores: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(f"{scores['rows']} rows, {len(scores['labels'])} labels → {out}", highlight=False)
    if "accuracy" not in scores:
        return
    weighting = ", classes balanced" if scores.get("class_weight") == "balanced" else ""
    console.print(f"{scores['folds']}-fold cross-validation (C={scores['C']:g}{weighting}): accuracy {scores['accuracy']:.3f}, "
                  f"macro F1 {scores['macro_f1']:.3f}, weighted F1 {scores['weighted_f1']:.3f}; "
                  f"calibration error {scores['reliability_raw']['ece']:.3f} raw → "
                  f"{scores['reliability_calibrated']['ece']:.3f} calibrated", highlight=False)
    table = Table("label", "gold", "precision", "recall", "F1")
    for name, row in sorted(scores["per_label"].items(), key=lambda kv: -kv[1]["gold"]):
        table.add_row(name, str(row["gold"]), f"{row['precision']:.2f}", f"{row['recall']:.2f}", f"{row['f1']:.2f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
