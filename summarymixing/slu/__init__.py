"""Direct spoken language understanding (arXiv 2307.07421, SLURP): the recipe's ``Brain`` and SLURP's metrics.

Authors
-------
* The summarymixing contributors (2026)
"""
