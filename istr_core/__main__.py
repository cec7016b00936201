"""``python -m istr_core``: the ``istr`` command line."""

from .cli import main

main()
