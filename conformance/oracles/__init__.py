"""Oracles: from what the endpoint did to an observed behaviour, with the evidence.

Each oracle is a family of probes selected per case in YAML (``oracle: token_diff``). They
are built so that a weak model cannot fool them: structural checks, prompt-token
differentials, forced tool choice and control arms. When the probe's own control fails the
answer is ``inconclusive``, never a guess.

One registry, :data:`ORACLES` (name -> :class:`Oracle`), filled by ``@oracle(name,
params=..., required=...)`` in the family modules; the params schema is checked when case
files load. Families: ``acceptance`` (acceptance, validation, model), ``structural``
(max_tokens, stop_sequences, stream, thinking), ``differentials`` (token_diff, echo, sampling,
cache_diff), ``tools`` (tool_use), ``protocol`` (the wire checks, a registry of their own:
``@check``), ``clients`` (client_shape), ``surface`` (structured_output, unknown_input,
stop_reason), ``usage`` (claude_code: usage, streamed tool input, the
end of a stream, fields Claude Code sends). ``base`` holds the registry and shared helpers.
"""

from __future__ import annotations

from conformance.oracles import (  # noqa: F401  (importing a family registers its oracles)
    acceptance,
    clients,
    differentials,
    protocol,
    structural,
    surface,
    tools,
    usage,
)
from conformance.oracles.base import ORACLES, Oracle, OracleFn, failure, oracle, tool_uses
from conformance.vocabulary import Observation

__all__ = ["ORACLES", "Observation", "Oracle", "OracleFn", "failure", "oracle", "tool_uses"]
