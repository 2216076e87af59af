"""The package's import direction: a module imports only from its own layer or below.

Layers, bottom up (the package's ``__init__`` docstring says the same in words):

0. base: ``yamlfile``, ``safejson``, ``secrets``, ``settings``, ``vocabulary``, ``hookspecs``,
   ``filler``, ``display``, ``fastschema``
1. inputs and transport pieces: ``sse``, ``limits``, ``targets``, ``cases``, ``transport``,
   ``sdk``
2. the wire: ``protocol``, ``client``, ``exchange``
3. one answer and its storage: ``wire``, ``results``, ``recording``, ``cassettefile``
4. requests: ``probe``, ``shapes``
5. verdicts: ``bisection``, ``oracles`` (the package)
6. one row and what is said of it: ``runner``, ``declarations``, ``expectations``,
   ``terminal``, ``catalog``, ``report`` (the package)
7. a whole run: ``gate``, ``session``
8. front ends: ``plugin``, ``__main__``, the capture tool (``capture``)

Imports are read with ``ast`` everywhere in a module (function-level lazy imports count:
they run too). No run module may import the capture tool, which only ``__main__`` uses.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"
LAYERS: list[set[str]] = [
    {
        "conformance",
        "yamlfile",
        "safejson",
        "secrets",
        "settings",
        "vocabulary",
        "hookspecs",
        "filler",
        "display",
        "exitcodes",
        "fastschema",
    },
    {"sse", "limits", "targets", "cases", "transport", "sdk"},
    {"protocol", "client", "exchange"},
    {"wire", "results", "recording", "cassettefile"},
    {"probe", "shapes"},
    {"bisection", "oracles"},
    {"runner", "report", "declarations", "expectations", "terminal", "catalog", "diagnosis"},
    {"gate", "session"},
    {"plugin", "__main__", "capture"},
]
TOOLS = {"capture", "__main__"}  # not part of a run


def top(module: str) -> str:
    """``conformance.oracles.base`` -> ``oracles``; ``conformance`` -> ``conformance``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer(module: str) -> int:
    name = top(module)
    for i, names in enumerate(LAYERS):
        if name in names:
            return i
    raise AssertionError(f"{module}: in no layer; add it to LAYERS in tests/test_layout.py")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from conformance import wire` imports the module conformance.wire
            if base == "conformance":
                found |= {f"conformance.{a.name}" for a in node.names}
    return {m for m in found if m == "conformance" or m.startswith("conformance.")}


MODULES = modules()


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_upward_import(name: str) -> None:
    mine = layer(name)
    upward = sorted(m for m in imports(name, MODULES[name]) if layer(m) > mine)
    assert not upward, f"{name} (layer {mine}) imports from a higher layer: {upward}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if top(n) not in TOOLS))
def test_a_run_never_imports_the_capture_tool(name: str) -> None:
    tool = sorted(m for m in imports(name, MODULES[name]) if top(m) == "capture")
    assert not tool, f"{name} is part of a run but imports the capture tool: {tool}"


def test_no_module_is_a_dumping_ground() -> None:
    """About 400 lines at most, every module of every sub-package included."""
    big = {
        name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 420
    }
    assert not big, big


def test_no_function_is_too_complex() -> None:
    """McCabe complexity 15 at most (pyproject's ``max-complexity``), the SSE state machine
    alone excepted (marked ``noqa: C901`` where it is defined): ruff is the judge."""
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    done = subprocess.run(
        [ruff, "check", "--select", "C901", "--output-format", "concise", str(PACKAGE)],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    noqa = [p for p in MODULES.values() if "noqa: C901" in p.read_text()]
    assert noqa == [PACKAGE / "sse.py"], noqa


def test_the_root_conftest_holds_nothing_a_run_does_not_need() -> None:
    root = PACKAGE.parent / "conftest.py"
    tree = ast.parse(root.read_text())
    code = [
        n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
    ]
    assert code == [], "the root conftest.py is loaded by every real run: keep it empty"
