"""MP3S downstream probes of frozen self-supervised encoders, and their fine-tuned twins (arXiv 2407.13377).

The frozen encoder (:class:`FrozenEncoder`, or :class:`FineTunedEncoder` trained with the head) gives all its
hidden layers; a learned softmax-weighted
sum (:class:`WeightedLayerSum`) feeds a small task head (:mod:`summarymixing.probes.heads`) trained
by a probing ``Brain`` (:mod:`summarymixing.probes.brains`). The recipes live in ``recipes/mp3s/``.
"""

from summarymixing.probes.brains import ClassificationProbeBrain, CTCProbeBrain, ProbeBrain
from summarymixing.probes.frozen import FineTunedEncoder, FrozenEncoder, ssl_encoder
from summarymixing.probes.heads import BiLSTM, BiLSTMPooling, LengthFree, MeanPooling
from summarymixing.probes.results import head_label, read_results, results_table, write_results
from summarymixing.probes.verification import cosine_scores, read_trials, verification_metrics
from summarymixing.probes.weighted_sum import (
    WeightedLayerSum,
    format_layer_weights,
    plot_layer_weights,
)

__all__ = [
    "BiLSTM",
    "BiLSTMPooling",
    "CTCProbeBrain",
    "ClassificationProbeBrain",
    "FineTunedEncoder",
    "FrozenEncoder",
    "LengthFree",
    "MeanPooling",
    "ProbeBrain",
    "WeightedLayerSum",
    "cosine_scores",
    "format_layer_weights",
    "head_label",
    "plot_layer_weights",
    "read_results",
    "read_trials",
    "results_table",
    "ssl_encoder",
    "verification_metrics",
    "write_results",
]
