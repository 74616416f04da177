"""What every API request passes before a route runs, and what every error answer is cleaned of.

The routes declare their own parameters (types, enums, lengths) and FastAPI checks those; these guards are
the net under them, for every route of the app, including routers added later:

* **Parameters.** An unknown query parameter is a 422 naming it, not silently ignored (``/api/events?typ=X``
  answered every event); no query or path value may hold a control character (SQLite cuts a string at NUL,
  so ``actor=a%00b`` matched ``a``), nor be longer than :data:`MAX_PARAM_CHARS`.
* **JSON depth.** :func:`json_too_deep` measures a JSON body's nesting with a few C-speed regex passes before
  ``json.loads`` sees it: the parser's own guard is Python's recursion limit, a RecursionError deep in C.
* **No paths in answers.** :func:`scrub` takes database URLs and filesystem paths out of a server-side
  error message (a 5xx says what failed, the server log says where).

Hand-written rather than a library: the three checks are a few lines each over what Starlette already
parsed, and the JSON depth limit exists in no parser we ship (``json`` has none; orjson's is fixed at 1024).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

__all__ = ["MAX_JSON_DEPTH", "MAX_PARAM_CHARS", "NO_CONTROLS", "check_request", "json_too_deep", "scrub"]

#: Longest value any query or path parameter may have; routes declare tighter limits of their own.
MAX_PARAM_CHARS = 1000
#: Deepest JSON nesting a body may have: a document is an object in a list (depth 2); metadata adds little.
MAX_JSON_DEPTH = 32
#: A schema ``pattern`` for one-line strings: no C0 control characters, no DEL.
NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_known: dict[int, frozenset[str]] = {}


def _query_names(route: APIRoute) -> frozenset[str]:
    """Query parameter names a route accepts (its own and its dependencies'), once per route."""
    names = _known.get(id(route))
    if names is None:
        names = _known[id(route)] = frozenset(_walk(route.dependant))
    return names


def _walk(dependant: Dependant) -> set[str]:
    names: set[str] = set()
    for field in dependant.query_params:
        model = field.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):   # a Query() model: its fields are the names
            names.update(f.alias or name for name, f in model.model_fields.items())
        names.add(field.alias)
    for sub in dependant.dependencies:
        names |= _walk(sub)
    return names


def _invalid(loc: tuple[str, str], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


async def check_request(request: Request) -> None:
    """App-wide dependency: unknown query parameters, control characters and over-long values are 422.

    Only for the API's own operations (the routes in the schema): the pages (the dashboard at ``/``, ``/docs``)
    ignore their query string on the server, and the dashboard keeps its filters there (``/?type=ASSAULT``).
    ``async`` though it never awaits: FastAPI runs a plain ``def`` dependency in its thread pool, a hop to
    another thread and back on every request for a few dictionary look-ups."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    known = _query_names(route)
    for name, value in request.query_params.multi_items():
        if name not in known:
            accepted = ", ".join(sorted(known)) or "none"
            raise _invalid(("query", name[:64]), f"unknown parameter (this endpoint takes: {accepted})",
                           "extra_forbidden")
        _check_value(("query", name), value)
    for name, value in request.path_params.items():
        if isinstance(value, str):
            _check_value(("path", name), value)


def _check_value(loc: tuple[str, str], value: str) -> None:
    if len(value) > MAX_PARAM_CHARS:
        raise _invalid(loc, f"String should have at most {MAX_PARAM_CHARS} characters", "string_too_long")
    if _CONTROL.search(value):
        raise _invalid(loc, "control characters (NUL, line breaks, escapes) are not allowed", "string_pattern_mismatch")


# A JSON string, unrolled so the regex engine does not try an alternative per character.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_PAIR = re.compile(rb"\[\]|\{\}")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests arrays/objects more than ``limit`` deep, found without parsing it.

    Strings are blanked (brackets inside them do not count), everything but brackets is dropped, then
    innermost ``[]``/``{}`` pairs are removed ``limit`` times: whatever is left nests deeper. Unbalanced
    input (invalid JSON anyway) counts as too deep only when it opens more than ``limit`` brackets, so the
    parser still gets to say what is wrong with a short broken body.
    """
    rest = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    for _ in range(limit):
        if not rest:
            return False
        rest, removed = _PAIR.subn(b"", rest)
        if not removed:
            return rest.count(b"[") + rest.count(b"{") > limit
    return bool(rest)


# sqlite:///..., postgresql://user@host/db; /abs/path/file or C:\dir\file with at least one separator inside.
_URL = re.compile(r"\b(?:sqlite|postgres(?:ql)?(?:\+\w+)?)://\S*", re.IGNORECASE)
_PATH = re.compile(r"(?:\b[A-Za-z]:\\|(?<![\w.:/])/)(?:[^\s'\"/\\:]+[/\\])+[^\s'\":,;)]*")


def scrub(message: str, *secrets: str | None) -> str:
    """``message`` without ``secrets`` (the database URL and file), database URLs or filesystem paths."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        message = message.replace(secret, "the database")
    message = _URL.sub("the database", message)
    return _PATH.sub("<path>", message)


def error_details(errors: Any) -> list[dict[str, Any]]:
    """Validation errors as the error shape's ``details``: where and what, never the input itself."""
    return [{"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg")), "type": str(err.get("type"))}
            for err in errors]
