"""The one exception type for a user's mistake (bad unit, bad record, unknown name)."""

from __future__ import annotations


class SpecError(ValueError):
    """Bad user input: the message is one line that names the field and the fix.

    Front ends (the CLI) print it without a traceback; library callers catch it
    as a ``ValueError``.
    """


def parse_error_text(exc: Exception) -> str:
    """Where and why a YAML (or JSON, read as YAML) file failed to parse, on one line:
    ``line L, column C: problem`` from the loader's mark (1-based), else the message's first line."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or \
        (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"
