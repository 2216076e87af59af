"""Kept at the top level on purpose, and empty: every real run (``pytest --target ...`` from
the repository root) loads this file, so it holds only what a run needs, which is nothing.
The suite's own fixtures and test servers live in ``tests/conftest.py`` and ``tests/``.
"""
