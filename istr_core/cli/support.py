"""What every CLI command shares: one-line errors instead of tracebacks, and progress bars."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..data.images import ImageReadError
from ..formats.dataset import AnnotationError

err_console = Console(stderr=True)
Debug = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
IMAGES_HELP = (
    "Folder the JSON's file_name entries are relative to (default: the folder the file records, "
    "as `istr segment` and istr-app write it, else the JSON's own folder)."
)
# OSError: missing files, permissions, a full disk, a folder given as --out
USER_ERRORS = (AnnotationError, ImageReadError, ValueError, OSError)
# user errors of modules that load torch, named rather than imported so that ``istr --help`` does
# not wait for torch: an exception of one of them exists only once its module is loaded
TORCH_USER_ERRORS = (
    ("istr_core.train.checkpoint", "CheckpointError"),
    ("istr_core.model.backbone", "PretrainedWeightsUnavailable"),
    ("istr_core.train.step", "TrainingDiverged"),
)


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions reported as one line (exit code 2) rather than as an internal error."""
    loaded = [sys.modules.get(module) for module, _ in TORCH_USER_ERRORS]
    return (
        UserError,
        *USER_ERRORS,
        *(getattr(m, name) for m, (_, name) in zip(loaded, TORCH_USER_ERRORS, strict=True) if m),
    )


def say(message: str) -> None:
    """One line for the user on stderr, as written (no rich highlighting, no wrapping)."""
    err_console.print(message, highlight=False, soft_wrap=True)


class UserError(Exception):
    """A problem with the user's input, already phrased for them."""


def friendly_errors(debug_flag: str = "debug") -> Callable:
    """Turn known errors into ``error: <one line>`` and exit code 2; ``--debug`` re-raises."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            debug = kwargs.get(debug_flag, False)
            try:
                return fn(*args, **kwargs)
            except KeyboardInterrupt:
                err_console.print("interrupted")
                raise typer.Exit(130) from None
            except Exception as exc:
                if debug:
                    raise
                if not isinstance(exc, user_error_types()):  # an unexpected bug: say so, in one line
                    err_console.print(
                        f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                        f"(run again with --debug for the traceback)",
                        highlight=False,
                        soft_wrap=True,
                    )
                    raise typer.Exit(1) from None
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                message = message.encode("utf-8", "backslashreplace").decode(
                    "utf-8"
                )  # undecodable file names
                err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None

        return inner

    return wrap


def check_output_path(out: Path) -> None:
    """Fail before the work, not after it, when ``--out`` cannot be written as a file."""
    if out.is_dir():
        raise UserError(f"{out}: --out is a folder; give a file name")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UserError(f"{out}: cannot create it, {parent} is a file")
    if parent is not None and not os.access(parent, os.W_OK):
        raise UserError(f"{out}: cannot write into {parent} (permission denied)")


class _LineProgress:
    """Progress for logs and pipes: one plain line at most every ``interval`` seconds, and at the end."""

    def __init__(self, description: str, total: int | None, interval: float = 10.0):
        self.description, self.total, self.interval = description, total, interval
        self.start = self.last = time.monotonic()
        self.completed, self.info = 0, ""

    def update(
        self,
        task=None,
        completed: int | None = None,
        advance: int = 0,
        info: str | None = None,
        total=None,
        **_,
    ):
        self.total = total if total is not None else self.total
        self.completed = completed if completed is not None else self.completed + advance
        self.info = info if info is not None else self.info
        if time.monotonic() - self.last >= self.interval:
            self.emit()

    def emit(self) -> None:
        self.last = now = time.monotonic()
        elapsed = now - self.start
        rate = self.completed / elapsed if elapsed > 0 else 0.0
        total = f"/{self.total}" if self.total else ""
        eta = f" eta {(self.total - self.completed) / rate:.0f}s" if self.total and rate > 0 else ""
        err_console.print(
            f"{self.description} {self.completed}{total} {self.info} [{elapsed:.0f}s{eta}]",
            highlight=False,
            soft_wrap=True,
        )


@contextmanager
def progress_bar(description: str, total: int | None, extra: str = ""):
    """A progress display on stderr with rate and ETA; yields (progress, task_id) where
    ``progress.update(task, completed=..., advance=..., info=...)`` moves it. A live bar on a
    terminal, periodic plain lines otherwise."""
    if not err_console.is_terminal:
        line = _LineProgress(description, total)
        yield line, None
        line.emit()
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err_console) as p:
        task = p.add_task(description, total=total, info=extra)
        yield p, task
