"""CTC + attention speech recognition (arXiv 2307.07421, Table 1): the recipe's ``Brain`` and inference loading.

Authors
-------
* The summarymixing contributors (2026)
"""
