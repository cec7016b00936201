"""The ``istr`` command line (``python -m istr_core.cli`` too): the typer app in app.py, one thin
module per command beside it."""

from .app import app, main

__all__ = ["app", "main"]
