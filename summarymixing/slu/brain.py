"""The direct SLU recipe's ``Brain``: speech to SLURP's semantic frame with the CTC + attention ASR model.

The model, training and joint beam search are those of :class:`summarymixing.asr.brain.CTCAttentionBrain`; the
targets are SpeechBrain's SLURP ``semantics`` strings (``{'scenario': ...| 'action': ...| 'entities': [...]}``)
instead of transcripts, as SpeechBrain's direct SLURP recipe does, and the decoded frames are scored with SLURP's
metrics (:mod:`summarymixing.slu.metrics`): scenario, action and intent accuracy and SLU-F1, in ``slu.json``.

Authors
-------
* The summarymixing contributors (2026)
"""

from summarymixing.asr.brain import CTCAttentionBrain
from summarymixing.slu.metrics import SLURPScorer


class SLUBrain(CTCAttentionBrain):
    """:class:`CTCAttentionBrain` that scores the decoded semantics with :class:`SLURPScorer`.

    The hyperparameters are :class:`CTCAttentionBrain`'s; ``ctc_weight`` is usually 0 (the semantics string does
    not follow the audio's order), and so is the model's ``ctc_weight_decode``.
    """

    RECIPE = "recipes/slu/train.py"

    def new_scorer(self):
        """SLURP's metrics."""
        return SLURPScorer()
