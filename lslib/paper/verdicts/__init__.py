"""The verdict engine: estimators and intervals (``inference``), the tests of shape claims
(``claim_tests``), numbers as text (``formatting``), power (``power``), the outcomes and
their counts (``outcomes``), a claim's evidence (``evidence``), the decision rules and error
control (``engine``), the forest plot's axis (``positions``) and the report's claims
(``claims`` and one ``claims_*`` module a part)."""
