"""Errors with a code and a sentence that tells the user what to do.

Every error tidings raises on purpose is a :class:`TidingsError`. The ``code`` is stable (documented,
stored in the ``errors`` table, greppable in logs); the message says what went wrong *and* what to do
about it, so a CLI can print ``str(err)`` and stop there.

Code ranges:

====== ===================================================================
E1xx   ingest: reading sources (files, HTML, feeds, URLs, JSONL)
E2xx   store: opening, migrating, reading and writing the database
E3xx   input: bad arguments or data given by the caller (formats, filters)
E4xx   coding: E401 a document's analysis raised (a bug; the document is stored without events); E402 (a
       warning) an inferred publication date after the ingest day was rejected (left unknown)
E5xx   learned coder: E501 model directory unusable, E502 training failed, E503 unknown coder, E504 unknown class weight,
       E505 no knowledge files (``data/<lang>/``) for the language asked for
E6xx   across articles: watch rules and alert delivery
====== ===================================================================

Store codes: E201 cannot open the database, E202 database newer than this tidings, E203 migration
failed, E204 database busy, E205 conflicting records, E206 write failed, E207 query failed, E208 a value
the database cannot hold (that document is skipped), E209 no database there (a read verb never creates one).
Ingest: E119 text longer than ``tidings.read.MAX_CHARS``, E120 the inputs named no document at all.
Input: E313 an operating-system error in a verb (permission, disk full), E314 export target is a symbolic
link or a directory, E315 unknown PLOVER type in a filter, E316 unknown output format, E317 an optional extra the verb needs is not installed (E312 Ray, E118 the web extra: older codes kept), E318 a usage error click found (unknown verb or option, missing argument; exit status 2). Limits and the outbound request policy: docs/security.md.
"""

from __future__ import annotations

__all__ = ["IngestError", "InputError", "StoreError", "TidingsError"]


class TidingsError(Exception):
    """Base of every deliberate tidings error.

    ``message`` says what happened; ``hint`` (optional) says what to do. ``str(err)`` gives both,
    prefixed with the code, e.g. ``[E202] ... Upgrade tidings: pip install -U tidings``.
    """

    default_code = "E000"

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        self.code: str = code or self.default_code
        self.message: str = message
        self.hint: str | None = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        return f"{text} {self.hint}" if self.hint else text

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments need help to survive pickling (multiprocessing, Ray workers).
        return (_rebuild, (type(self), self.message, self.code, self.hint))


def _rebuild(cls: type[TidingsError], message: str, code: str, hint: str | None) -> TidingsError:
    return cls(message, code=code, hint=hint)


class IngestError(TidingsError):
    """A source could not be read or turned into a Document (per document; the batch goes on)."""

    default_code = "E100"


class StoreError(TidingsError):
    """The database could not be opened, migrated, read or written."""

    default_code = "E200"


class InputError(TidingsError):
    """The caller gave something tidings cannot use (unknown format, bad filter value, ...)."""

    default_code = "E300"
