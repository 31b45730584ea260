"""User errors in a command: one line on stderr and exit code 2 (``--debug``: the traceback).

Every command is wrapped in :func:`user_errors`, which also gives it a ``--catalog`` option of
its own (added to the global one).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import typer

from hwmodels import SpecError

from .options import CATALOG_HELP, invocation_state

__all__ = ["EXIT_USER_ERROR", "USER_ERRORS", "user_errors"]

EXIT_USER_ERROR = 2
# Exceptions that mean "the user's input or environment is wrong", never a bug of ours: a bad spec
# (SpecError, also raised for corrupt data files), any file-system failure (a missing file, a path
# through a regular file, no permission, a full disk) and a spec file that is not text.
USER_ERRORS: tuple[type[BaseException], ...] = (SpecError, OSError, UnicodeDecodeError)

F = TypeVar("F", bound=Callable[..., Any])

# Every command also takes --catalog after its name (``ddlsim hw list --catalog my.yaml``).
_CATALOG_PARAM = inspect.Parameter("catalog_paths", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[list[Path]],
                                   default=typer.Option(None, "--catalog", help=CATALOG_HELP))


def user_errors(func: F) -> F:
    """Turn a user's mistake inside a command into one stderr line and exit code 2; give the
    command a ``--catalog`` option of its own (added to the global one)."""

    @functools.wraps(func)
    def wrapper(*args: Any, catalog_paths: Optional[list[Path]] = None, **kwargs: Any) -> Any:
        if catalog_paths:
            state = invocation_state()
            state["catalog_paths"] = [*state["catalog_paths"], *catalog_paths]
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            if invocation_state()["debug"]:
                raise
            typer.echo(f"error: {_one_line(exc)}", err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None

    signature = inspect.signature(func, eval_str=True)
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), _CATALOG_PARAM])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**func.__annotations__, "catalog_paths": Optional[list[Path]]}
    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    """The user error's message on one line: a file-system error names its file and the reason."""
    if isinstance(exc, OSError) and exc.strerror:
        names = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        text = f"{names}: {exc.strerror}" if names else exc.strerror
    elif isinstance(exc, UnicodeDecodeError):
        text = f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())
