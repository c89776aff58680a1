"""Language models for shallow fusion in the ASR recipes: text datasets and the training ``Brain``.

Authors
-------
* The summarymixing contributors (2026)
"""
