"""anthropic-conformance: does an "Anthropic Messages API compatible" endpoint do what its
vendor's compatibility table says, row by row?

Each concept lives in the module named after it: ``cases`` (YAML case files), ``targets``
(endpoints), ``client`` (HTTP), ``sse`` (stream parsing and grammar), ``oracles`` (verdicts
from observations), ``protocol`` (wire checks), ``recording`` (cassettes), ``results``
(verdicts and results.json), ``report`` (the support matrix), ``plugin`` (pytest glue).
"""

__version__ = "0.1.0"
