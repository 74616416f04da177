"""``tidings serve``: the REST API and the dashboard on one local port.

FastAPI and uvicorn are imported inside the verb, not at module level, so ``tidings`` without the
``server`` extra still starts (and this verb says which extra to install).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from tidings.cli.train import CoderOpt, ModelOpt, apply_coder

__all__ = ["default_workers", "register", "serve"]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on; 0.0.0.0 exposes it to the network.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default sqlite:///tidings.db).")]
    = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level: warning, info, debug.")] = "info",
    workers: Annotated[int | None, typer.Option(min=1, help="Server processes sharing the port (default: one "
                                                "per CPU, at most 4; each loads its own model on its first POST).")]
    = None,
    coder: CoderOpt = None,
    model: ModelOpt = None,
) -> None:
    """Serve the REST API (/api, schema at /openapi.json) and the dashboard (/) over a database."""
    apply_coder(coder, model)
    from tidings.core.errors import TidingsError
    from tidings.core.extras import require

    try:
        uvicorn = require("uvicorn", "server", "tidings serve", code="E317")
        require("fastapi", "server", "tidings serve", code="E317")
    except TidingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    from tidings.api.app import create_app

    try:
        app = create_app(db)   # opens (or creates) the database now: a bad URL fails here, not per request
    except TidingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    workers = workers or default_workers()
    typer.echo(f"tidings dashboard on http://{host}:{port}/  (API manual: http://{host}:{port}/docs; "
               f"{workers} worker process{'es' if workers > 1 else ''})")
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    # Several processes need an import string; each worker builds its app from TIDINGS_DB.
    app.state.store.close()
    if db:
        os.environ["TIDINGS_DB"] = db
    uvicorn.run("tidings.api.app:create_app", factory=True, host=host, port=port, log_level=log_level,
                workers=workers)


def default_workers() -> int:
    """One server process per CPU, at most 4.

    Why processes: a read is CPU in Python (routing, SQL set-up, JSON) under one GIL, so one process serves
    one request at a time however many threads it has — 8 filtered queries in flight on 2 cores took p95
    181 ms in one process. SQLite in WAL mode lets processes read side by side while one writes. More
    processes than CPUs only add memory (and a language model each once they analyse)."""
    return max(1, min(os.cpu_count() or 1, 4))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
