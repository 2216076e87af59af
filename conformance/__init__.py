"""anthropic-conformance: does an "Anthropic Messages API compatible" endpoint do what its
vendor's compatibility table says, row by row?

Where each concept lives, in layers; a module imports only from its own layer or below
(``tests/test_layout.py`` enforces it, reading every import with ``ast``):

0. base, importing nothing above it: ``yamlfile`` (YAML with line numbers, so
   errors name file:line), ``safejson`` (answers' JSON parsed with a depth limit),
   ``secrets`` (the one credential-header list, the one placeholder, the scrubbing policy),
   ``settings`` (typed ``cases/settings.yaml``, defaults written once),
   ``vocabulary`` (observed / declared / outcome, ``Observation``), ``filler`` (neutral filler
   text), ``hookspecs`` (the hooks a conftest may implement: ``pytest_conformance_result``,
   ``pytest_conformance_report``).
1. inputs and transport pieces: ``cases`` (case files, params checked against each oracle's
   schema), ``targets``, ``sse`` (stream parsing and grammar), ``limits`` (rate limits shared
   by xdist workers), ``transport`` (the per-request deadline below httpx), ``sdk`` (does
   the official SDK load an answer?).
2. the wire: ``client`` (HTTP: auth, limits, retries, budgets, accounting), ``exchange``
   (one request and its answer, scrubbed before it is cut), ``protocol`` (schemas
   from the pinned SDK, error envelope, stream checks).
3. one answer and its storage: ``wire`` (the wire verdict on one answer), ``results``
   (result records, results.json), ``recording`` (cassettes).
4. requests: ``probe`` (bodies, nonces), ``shapes`` (captured client request
   shapes, sent again).
5. verdicts: ``oracles`` (a package: one registry, one module per family, protocol checks
   registered like oracles), ``bisection`` (which field a refused shape fails on).
6. one row: ``runner`` (one case x one target -> one result); ``report`` (the matrix).
7. a whole run: ``session`` (one run's state and its ``finish()``), ``gate`` (the
   regression gate shared by the plugin and the CLI).
8. front ends: ``plugin`` (pytest glue only), ``__main__`` (the CLI), ``capture`` (the
   capture tool: proxy and client drivers; no run module imports it).
"""

__version__ = "0.1.0"
