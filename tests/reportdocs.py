"""Realistic results documents for the report's tests (``test_report.py`` and the browser
tests), made by the suite's own ``decide_outcome`` so every record is one the plugin could
have written: the vendor tables' rows, several targets, declared values from a seeded mix and
observations mostly agreeing with them."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from conformance.results import (
    Declared,
    Observed,
    Result,
    RunInfo,
    build_document,
    decide_outcome,
    validate_results,
)

# (table, row label, case id, variant): DeepSeek's table layout plus the suite's own tables.
ROWS: list[tuple[str, str, str, str | None]] = [
    ("HTTP Header", "anthropic-beta", "headers.anthropic-beta", None),
    ("HTTP Header", "anthropic-version", "headers.anthropic-version", None),
    ("HTTP Header", "x-api-key", "headers.x-api-key", None),
    ("Simple Fields", "model", "fields.model", None),
    ("Simple Fields", "max_tokens", "fields.max_tokens", None),
    ("Simple Fields", "max_tokens", "fields.max_tokens.range", "range"),
    ("Simple Fields", "container", "fields.container", None),
    ("Simple Fields", "mcp_servers", "fields.mcp_servers", None),
    ("Simple Fields", "metadata", "fields.metadata", None),
    ("Simple Fields", "service_tier", "fields.service_tier", None),
    ("Simple Fields", "stop_sequences", "fields.stop_sequences", None),
    ("Simple Fields", "stream", "fields.stream", None),
    ("Simple Fields", "system", "fields.system", None),
    ("Simple Fields", "temperature", "fields.temperature", None),
    ("Simple Fields", "temperature", "fields.temperature.range", "range"),
    ("Simple Fields", "thinking", "fields.thinking", None),
    ("Simple Fields", "thinking / budget_tokens", "fields.thinking.budget_tokens", None),
    ("Simple Fields", "top_k", "fields.top_k", None),
    ("Simple Fields", "top_p", "fields.top_p", None),
    ("Tool Fields: tools", "name", "tools.name", None),
    ("Tool Fields: tools", "input_schema", "tools.input_schema", None),
    ("Tool Fields: tools", "description", "tools.description", None),
    ("Tool Fields: tools", "cache_control", "tools.cache_control", None),
    ("Tool Fields: tools", "type (server tools)", "tools.server_tools", None),
    ("Tool Fields: tool_choice", "none", "tool_choice.none", None),
    ("Tool Fields: tool_choice", "auto", "tool_choice.auto", None),
    ("Tool Fields: tool_choice", "any", "tool_choice.any", None),
    ("Tool Fields: tool_choice", "tool", "tool_choice.tool", None),
    ("Tool Fields: tool_choice", "disable_parallel_tool_use", "tool_choice.disable_parallel", None),
    ("Message Fields", "content / string", "content.string", None),
    ("Message Fields", 'array, type="text"', "content.text", None),
    ("Message Fields", 'array, type="text" / cache_control', "content.text.cache_control", None),
    ("Message Fields", 'array, type="text" / citations', "content.text.citations", None),
    ("Message Fields", 'array, type="image"', "content.image", None),
    ("Message Fields", 'array, type="document"', "content.document", None),
    ("Message Fields", 'array, type="search_result"', "content.search_result", None),
    ("Message Fields", 'array, type="thinking"', "content.thinking", None),
    ("Message Fields", 'array, type="redacted_thinking"', "content.redacted_thinking", None),
    ("Message Fields", 'array, type="tool_use" / id', "content.tool_use.id", None),
    ("Message Fields", 'array, type="tool_use" / input', "content.tool_use.input", None),
    ("Message Fields", 'array, type="tool_use" / name', "content.tool_use.name", None),
    (
        "Message Fields",
        'array, type="tool_use" / cache_control',
        "content.tool_use.cache_control",
        None,
    ),
    (
        "Message Fields",
        'array, type="tool_result" / tool_use_id',
        "content.tool_result.tool_use_id",
        None,
    ),
    ("Message Fields", 'array, type="tool_result" / content', "content.tool_result.content", None),
    (
        "Message Fields",
        'array, type="tool_result" / is_error',
        "content.tool_result.is_error",
        None,
    ),
    (
        "Message Fields",
        'array, type="tool_result" / cache_control',
        "content.tool_result.cache_control",
        None,
    ),
    ("Message Fields", 'array, type="server_tool_use"', "content.server_tool_use", None),
    (
        "Message Fields",
        'array, type="web_search_tool_result"',
        "content.web_search_tool_result",
        None,
    ),
    (
        "Message Fields",
        'array, type="code_execution_tool_result"',
        "content.code_execution_tool_result",
        None,
    ),
    ("Message Fields", 'array, type="mcp_tool_use"', "content.mcp_tool_use", None),
    ("Message Fields", 'array, type="mcp_tool_result"', "content.mcp_tool_result", None),
    ("Message Fields", 'array, type="container_upload"', "content.container_upload", None),
    ("Protocol", "SSE event grammar", "protocol.sse_grammar", None),
    ("Protocol", "error shape", "protocol.error_shape", None),
    ("Protocol", "usage in message_delta", "protocol.usage_delta", None),
    ("Protocol", "count_tokens endpoint", "protocol.count_tokens", None),
    ("Client readiness", "SDK parses a message", "client.sdk_message", None),
    ("Client readiness", "SDK parses a stream", "client.sdk_stream", None),
    ("Client readiness", "SDK tool loop", "client.sdk_tool_loop", None),
]

TARGETS: dict[str, tuple[str, str]] = {  # name -> (base_url_host, model)
    "anthropic": ("api.anthropic.com", "claude-haiku-4-5"),
    "deepseek": ("api.deepseek.com", "deepseek-chat"),
    "llamacpp": ("127.0.0.1:8088", "smollm2"),
    "litellm": ("127.0.0.1:4000", "smollm2"),
    "moonshot": ("api.moonshot.ai", "kimi-k2"),
    "zai": ("api.z.ai", "glm-4.6"),
    "minimax": ("api.minimax.io", "MiniMax-M2"),
    "openrouter": ("openrouter.ai", "anthropic/claude-haiku-4.5"),
    "vllm": ("127.0.0.1:8000", "qwen3-0.6b"),
    "ollama": ("127.0.0.1:11434", "qwen3:0.6b"),
    "lmstudio": ("127.0.0.1:1234", "gemma-3-1b"),
}
SAYS = {
    "honored": "Fully Supported",
    "ignored": "Ignored",
    "unsupported": "Not Supported",
    "rejected": "Returns 400",
}
# Deterministic rows the tests rely on: (target, id) -> (declared, observed).
FORCED = {
    ("llamacpp", "fields.top_k"): ("honored", "ignored"),  # a mismatch: fail
    ("deepseek", "content.tool_result.is_error"): ("honored", "honored"),  # pass
    ("deepseek", "fields.metadata"): ("ignored", "accepted"),  # inconclusive
    ("litellm", "protocol.sse_grammar"): ("honored", "error"),  # error
}


def make_record(
    target: str,
    row: tuple[str, str, str, str | None],
    declared: str | None,
    observed: str,
    rng: random.Random,
) -> Result:
    """One record as the plugin would write it, evidence included."""
    table, label, case_id, variant = row
    outcome, reason = decide_outcome(Declared(declared) if declared else None, Observed(observed))
    status = {"rejected": 400, "error": 500}.get(observed, 200)
    trials = rng.randint(1, 3)
    requests = []
    for i in range(trials):
        body = {
            "model": TARGETS.get(target, ("", "m"))[1],
            "max_tokens": 16,
            "messages": [{"role": "user", "content": f"Reply with the code K{i}-{case_id}"}],
        }
        item: dict[str, Any] = {"label": f"trial {i}", "path": "/v1/messages", "status": status}
        if status == 200:
            item["stop_reason"] = rng.choice(["end_turn", "max_tokens", "stop_sequence"])
            item["usage"] = {
                "input_tokens": rng.randint(9, 400),
                "output_tokens": rng.randint(1, 16),
            }
        else:
            item["error_type"] = "invalid_request_error" if status == 400 else "api_error"
            item["error_message"] = f"unsupported field in {case_id}"
        item["request"] = body
        item["headers"] = {"anthropic-version": "2023-06-01", "x-api-key": "sk-live-SECRET123"}
        requests.append(item)
    evidence: dict[str, Any] = {
        "status": status,
        "stop_reason": requests[0].get("stop_reason"),
        "samples": f"code echoed {rng.randint(0, trials)}/{trials}, control {trials}/{trials}",
        "requests": requests,
    }
    decl = None
    if declared is not None:
        decl = {
            "status": declared,
            "says": SAYS.get(declared),
            "profile": target,
            "implied": rng.random() < 0.1,
            "source": {
                "url": f"https://docs.example.com/{target}/anthropic-compat",
                "read": "2025-11-20",
            },
        }
    in_tok = sum(r.get("usage", {}).get("input_tokens", 0) for r in requests)
    out_tok = sum(r.get("usage", {}).get("output_tokens", 0) for r in requests)
    return Result(
        id=case_id,
        target=target,
        table=table,
        row=label,
        variant=variant,
        declared=decl,
        observed=observed,
        outcome=outcome.value,
        evidence=evidence,
        message=reason,
        duration_ms=rng.randint(200, 9000),
        requests=trials,
        input_tokens=in_tok,
        output_tokens=out_tok,
    )


def make_doc(
    targets: list[str] | tuple[str, ...] = ("anthropic", "deepseek", "llamacpp", "litellm"),
    *,
    seed: int = 7,
    mode: str = "replay",
    complete: bool = True,
    started: str = "2025-11-26T02:00:00Z",
    finished: str | None = "2025-11-26T02:40:00Z",
    rows: list[tuple[str, str, str, str | None]] = ROWS,
    missing: float = 0.03,
) -> dict[str, Any]:
    """A schema-valid results document with every outcome kind and a few rows not run."""
    rng = random.Random(seed)
    results = []
    for target in targets:
        for row in rows:
            forced = FORCED.get((target, row[2]))
            if forced:
                declared, observed = forced
            else:
                if rng.random() < missing:
                    continue
                declared = rng.choices(
                    ["honored", "ignored", "unsupported", "rejected", None],
                    weights=[55, 15, 15, 3, 12],
                )[0]
                agree = {
                    "honored": "honored",
                    "ignored": "ignored",
                    "unsupported": "rejected",
                    "rejected": "rejected",
                    None: "accepted",
                }[declared]
                observed = rng.choices(
                    [agree, "honored", "ignored", "rejected", "accepted", "inconclusive", "error"],
                    weights=[70, 5, 8, 4, 6, 4, 3],
                )[0]
            results.append(make_record(target, row, declared, observed, rng))
    run = RunInfo(
        suite_version="0.1.0",
        mode=mode,
        targets=[
            {
                "name": t,
                "base_url_host": TARGETS.get(t, ("x.example", "m"))[0],
                "model": TARGETS.get(t, ("x", "model"))[1],
                "profile": t,
            }
            for t in targets
        ],
        started=started,
        finished=finished,
        complete=complete,
    )
    doc = build_document(run, results)
    validate_results(doc)
    return doc


def record(doc: dict[str, Any], target: str, case_id: str) -> dict[str, Any]:
    return next(r for r in doc["results"] if r["target"] == target and r["id"] == case_id)


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


# --------------------------------------------------------------------------- the generator
