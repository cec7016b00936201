"""The shipped files: the default model, its model card, the sample images.

This folder is the data package ``istr_core.resources``: pyproject.toml maps it there, so a wheel
carries it inside istr_core and an editable install points the package at this folder.
``istr_core/data/shipped.py`` finds it with ``importlib.resources``.
"""
