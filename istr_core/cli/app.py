"""The ``istr`` command line: the typer app. Each command is a thin typer function over a plain one,
in a module of its own beside this one (segment.py, finetune.py, train.py, evaluate.py, convert.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import convert, evaluate, finetune, segment, train

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="ISTR Studio: pre-label images with ISTR, fine-tune on corrected annotations.",
)
app.command("train")(train.train_command)
app.command("eval")(evaluate.eval_command)
app.command("segment")(segment.segment_command)
app.command("finetune")(finetune.finetune_command)
app.command("convert")(convert.convert_command)


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"istr {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool, typer.Option("--version", callback=print_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Options before the command."""


def main() -> None:
    app()
