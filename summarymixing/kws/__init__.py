"""Keyword spotting (arXiv 2307.07421, Speech Commands): the pooled encoder, the recipe's ``Brain``.

Authors
-------
* The summarymixing contributors (2026)
"""
