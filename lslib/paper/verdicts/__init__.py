"""The verdict engine: estimators and intervals (``stats``, ``inference``), power
(``power``), the decision rules and error control (``engine``), the forest plot's axis
(``positions``) and the report's claims (``claims`` and one ``claims_*`` module a part)."""
