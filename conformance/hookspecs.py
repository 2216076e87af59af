"""Hooks a conftest.py or plugin can implement to act on a conformance run without forking.

Registered by the plugin (``pytest_addhooks``). A vendor's CI can post the matrix somewhere::

    # conftest.py
    def pytest_conformance_report(paths, document):
        upload(paths["results"], document["run"])

Both are called in the process that writes results.json (the xdist controller), never in
workers. Nothing here imports the rest of the package.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_conformance_result(result: dict[str, Any]) -> None:
    """One (target, case) result, as the JSON-safe record results.json will hold."""


@hookspec
def pytest_conformance_report(paths: dict[str, Any], document: dict[str, Any]) -> None:
    """The run's report was written: ``paths`` by kind (``results``, ``html``, ...) and the
    results document (``run`` and ``results``) that went into results.json."""
