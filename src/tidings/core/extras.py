"""Optional extras: one way to import a module that an extra installs, and one message when it is missing.

Every face that needs an extra (Ray for ``batch --engine ray``, httpx/feedparser for URLs and feeds,
scikit-learn for ``train``, uvicorn for ``serve``) calls :func:`require`, so a missing extra always reads the
same — what needs it, the module, and the ``pip install 'tidings[extra]'`` hint — under the caller's error code.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from tidings.core.errors import TidingsError

__all__ = ["require"]


def require(module: str, extra: str, what: str, *, code: str, error: type[TidingsError] = TidingsError,
            alternative: str | None = None) -> ModuleType:
    """Import ``module`` or raise ``error`` (code ``code``) saying that ``what`` needs it and how to install it.

    Only the module itself being absent counts: an ImportError inside an installed package is a real bug and
    propagates unchanged.
    """
    try:
        return import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or module.split(".")[0] != exc.name.split(".")[0]:
            raise
        hint = f"pip install 'tidings[{extra}]'" + (f", or {alternative}" if alternative else "")
        raise error(f"{what} needs {module}, which is not installed.", code=code, hint=hint) from None
