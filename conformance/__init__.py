"""anthropic-conformance: does an "Anthropic Messages API compatible" endpoint do what its
vendor's compatibility table says, row by row?

Where each concept lives, in layers; a module imports only from its own layer or below
(``tests/test_layout.py`` enforces it, reading every import with ``ast``):

0. base, importing nothing above it: ``yamlfile`` (YAML with line numbers, so
   errors name file:line), ``safejson`` (answers' JSON parsed with a depth limit),
   ``secrets`` (a package: the one credential-header list, the one placeholder, the
   scrubbing policy; ``forms``: the key's forms and the scan for them; ``bodies``: stored
   bodies scanned whole), ``display`` (the one escaping of control characters in an
   endpoint's text before any screen or report),
   ``settings`` (typed ``cases/settings.yaml``, defaults written once),
   ``vocabulary`` (observed / declared / outcome, ``Observation``), ``filler`` (neutral filler
   text), ``fastschema`` (a compiled yes/no for JSON Schema; jsonschema says what is wrong),
   ``hookspecs`` (the hooks a conftest may implement: ``pytest_conformance_result``,
   ``pytest_conformance_report``).
1. inputs and transport pieces: ``cases`` (case files, params checked against each oracle's
   schema), ``targets``, ``sse`` (stream parsing and grammar), ``limits`` (rate limits shared
   by xdist workers), ``transport`` (the per-request deadline below httpx, and the way a
   replayed row's answers reach the client), ``sdk`` (does
   the official SDK load an answer?).
2. the wire: ``client`` (HTTP: auth, limits, retries, budgets, accounting), ``exchange``
   (one request and its answer, scrubbed before it is cut), ``protocol`` (schemas
   from the pinned SDK, error envelope, stream checks).
3. one answer and its storage: ``wire`` (the wire verdict on one answer), ``results``
   (result records, results.json), ``recording`` (cassettes: recorded through vcrpy,
   replayed with vcrpy's semantics without its machinery), ``cassettefile`` (the cassette
   file format and the request matcher).
4. requests: ``probe`` (bodies, nonces), ``shapes`` (captured client request
   shapes, sent again).
5. verdicts: ``oracles`` (a package: one registry, one module per family, protocol checks
   registered like oracles), ``bisection`` (which field a refused shape fails on).
6. one row and what is said of it: ``runner`` (one case x one target -> one result, never
   raises); ``declarations`` (what each profile declares per case: the declared columns);
   ``expectations`` (a package: each target's committed known deviations, known vs new);
   ``terminal`` (one line per row that did not pass); ``catalog`` (what a user can name:
   ``list``, "did you mean", the YAML-boolean check); ``report`` (a package, below).
7. a whole run: ``session`` (one run's state and its ``finish()``), ``gate`` (the
   regression gate shared by the plugin and the CLI).
8. front ends: ``plugin`` (pytest glue only), ``__main__`` (the CLI), ``capture`` (a
   package: the capture tool's proxy and client drivers; no run module imports it).

The packages, inside:

- ``oracles``: ``base`` (the registry, ``@oracle`` / ``@check``, params schemas),
  ``acceptance``, ``structural``, ``differentials``, ``usage``, ``prefix_cache``, ``tools``,
  ``clients`` (one module per family of oracles), ``protocol`` (protocol rows' checks).
- ``report`` (knows nothing of pytest): ``loading`` (results files in, merge, drift),
  ``provenance`` (which server and version a replayed column was recorded from),
  ``readiness`` (the Claude Code readiness line), ``model`` (the view model, built once),
  ``panels`` (one cell's escaped evidence), ``markdown`` and ``html`` (the writers; the
  page's HTML, CSS and JS are files in ``report/templates/``), ``guard`` (a partial run never
  replaces a whole report).
- ``expectations``: ``write`` (known deviations written from a results file), ``__main__``.
- ``capture``: ``proxy`` (records what a client sends), ``drivers`` (runs Claude Code and
  the SDK through it).

Where to look for a concept: case loading ``cases``; declarations ``declarations``; targets
``targets``; settings ``settings``; secrets ``secrets``; HTTP client ``client``; SSE ``sse``;
wire checks ``protocol`` and ``wire``; oracles ``oracles``; recording ``recording`` (its file
format ``cassettefile``); results ``results``; report ``report``; capture ``capture``.
"""

__version__ = "0.1.0"
