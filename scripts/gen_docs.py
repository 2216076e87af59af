"""Render the JSON schemas' fields and descriptions into the Markdown docs.

    python scripts/gen_docs.py          # rewrite the generated blocks of docs/*.md
    python scripts/gen_docs.py --check  # exit 1 if a committed doc is out of date

A doc holds hand-written text and generated blocks between markers::

    <!-- BEGIN generated: case.schema.json -->
    ... (a table of every field, from conformance/schemas/case.schema.json)
    <!-- END generated -->

``oracles.schema.json`` renders as one section per oracle (its description and a table of
its params). The schemas are the single source: change a description there, then rerun.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "conformance" / "schemas"
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"(<!-- BEGIN generated: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- END generated -->)",
    re.DOTALL,
)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part]
        merged = dict(target)
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        return merged
    return node


def type_text(schema: dict[str, Any], node: dict[str, Any]) -> str:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        target = _resolve(schema, {"$ref": node["$ref"]})
        return "object" if target.get("type") == "object" else name
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(v)}`".replace('"', "") for v in node["enum"])
    if "oneOf" in node or "anyOf" in node:
        return " or ".join(type_text(schema, n) for n in node.get("oneOf") or node["anyOf"])
    kind = node.get("type")
    if kind == "array":
        items = node.get("items") or {}
        return f"list of {type_text(schema, items)}" if items else "list"
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "object" and "additionalProperties" in node and "properties" not in node:
        extra = node["additionalProperties"]
        if isinstance(extra, dict):
            return f"map of name → {type_text(schema, extra)}"
    return kind or "any"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def rows(schema: dict[str, Any], node: dict[str, Any], prefix: str = "") -> list[list[str]]:
    """``[field, type, required, description]`` for every property, nested ones dotted."""
    node = _resolve(schema, node)
    required = set(node.get("required", []))
    out = []
    for name, prop in (node.get("properties") or {}).items():
        full = f"{prefix}{name}"
        resolved = _resolve(schema, prop)
        desc = prop.get("description") or resolved.get("description", "")
        extra = []
        if "default" in resolved:
            extra.append(f"Default `{json.dumps(resolved['default'])}`.")
        if "pattern" in resolved:
            extra.append(f"Pattern `{resolved['pattern']}`.")
        cells = [f"`{full}`", type_text(schema, prop), "yes" if name in required else "", desc]
        if extra:
            cells[3] = " ".join([desc, *extra]).strip()
        out.append([_cell(c) for c in cells])
        # descend into inline objects, objects behind a $ref, and list items that are objects
        children: list[tuple[dict[str, Any], str]] = []
        if resolved.get("properties"):
            children.append((resolved, f"{full}."))
        items = resolved.get("items")
        if isinstance(items, dict) and _resolve(schema, items).get("properties"):
            children.append((items, f"{full}[]."))
        extra_props = resolved.get("additionalProperties")
        if isinstance(extra_props, dict) and _resolve(schema, extra_props).get("properties"):
            children.append((extra_props, f"{full}.<name>."))
        for branch in resolved.get("oneOf", []):
            if _resolve(schema, branch).get("properties"):
                children.append((branch, f"{full}."))
        for child, child_prefix in children:
            out += rows(schema, child, child_prefix)
    return out


def table(body: list[list[str]]) -> str:
    if not body:
        return "No fields.\n"
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def render_schema(name: str) -> str:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    if name == "oracles.schema.json":
        return render_oracles(schema)
    return table(rows(schema, schema))


def render_oracles(schema: dict[str, Any]) -> str:
    parts = []
    oracles = schema["$defs"]["oracles"]["properties"]
    for name in sorted(oracles):
        node = oracles[name]
        parts.append(f"### `{name}`\n\n{' '.join(node['description'].split())}\n")
        params = rows(schema, node, "params.")
        parts.append(
            table(params).replace("No fields.", "No params.") if params else "No params.\n"
        )
    arm = schema["$defs"]["arm"]
    parts.append(
        f"### Arms (`valid` / `invalid` entries)\n\n{arm['description']}\n\n"
        + table(rows(schema, arm))
    )
    return "\n".join(parts)


def render_doc(text: str) -> str:
    """``text`` with every generated block rewritten from its schema."""
    return BLOCK.sub(lambda m: m.group(1) + render_schema(m["name"]) + m.group(4), text)


def stale_docs(docs_dir: Path = DOCS) -> list[Path]:
    return [p for p in sorted(docs_dir.glob("*.md")) if render_doc(p.read_text()) != p.read_text()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a doc is out of date")
    args = parser.parse_args(argv)
    stale = stale_docs()
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: out of date; run python scripts/gen_docs.py")
        return 1 if stale else 0
    for path in stale:
        path.write_text(render_doc(path.read_text()), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
