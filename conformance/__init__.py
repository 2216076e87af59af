"""anthropic-conformance: does an "Anthropic Messages API compatible" endpoint do what its
vendor's compatibility table says, row by row?

Each concept lives in the module named after it: ``cases`` (YAML case files), ``targets``
(endpoints), ``client`` (HTTP), ``limits`` (rate limits shared by pytest-xdist workers),
``probe`` (request bodies, nonces, fillers), ``sse`` (stream parsing and grammar),
``oracles`` (verdicts from observations), ``protocol`` (wire checks), ``recording``
(cassettes), ``runner`` (one case against one target), ``results`` (verdicts and
results.json), ``report`` (the support matrix), ``capture`` (what real clients send),
``plugin`` (pytest glue only), ``yamlfile`` (YAML with line numbers for error messages).
"""

__version__ = "0.1.0"
