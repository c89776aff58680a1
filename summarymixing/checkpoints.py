"""Kept so that YAMLs written with ``!new:summarymixing.checkpoints.AtomicCheckpointer`` still load; the class
lives in :mod:`summarymixing.experiment.checkpoints`."""

from summarymixing.experiment.checkpoints import AtomicCheckpointer

__all__ = ["AtomicCheckpointer"]
