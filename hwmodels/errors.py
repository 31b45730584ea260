"""The one exception type for a user's mistake (bad unit, bad record, unknown name)."""

from __future__ import annotations


class SpecError(ValueError):
    """Bad user input: the message is one line that names the field and the fix.

    Front ends (the CLI) print it without a traceback; library callers catch it
    as a ``ValueError``.
    """
