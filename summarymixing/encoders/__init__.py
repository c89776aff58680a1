"""SpeechBrain's encoders with the SummaryMixing cell in place of self-attention.

Each class subclasses SpeechBrain's, takes its constructor arguments plus the cell's options, keeps its parameter
names, and builds SpeechBrain's own model for any SpeechBrain ``attention_type`` (the MHSA baselines).

- :mod:`~summarymixing.encoders.conformer`, :mod:`~summarymixing.encoders.branchformer`,
  :mod:`~summarymixing.encoders.transformer`: the encoders and their layers.
- :mod:`~summarymixing.encoders.transformer_asr`: ``TransformerASR`` (encoder, optional attention decoder,
  streaming).
- :mod:`~summarymixing.encoders.mixing`: the glue between a layer and the cell (private to this package).
- :mod:`~summarymixing.encoders.positional`, :mod:`~summarymixing.encoders.feed_forward`: helpers of the encoders.
"""

from summarymixing.encoders.branchformer import BranchformerEncoder, BranchformerEncoderLayer
from summarymixing.encoders.conformer import ConformerEncoder, ConformerEncoderLayer
from summarymixing.encoders.transformer import TransformerEncoder, TransformerEncoderLayer
from summarymixing.encoders.transformer_asr import TransformerASR, TransformerASRStreamingContext

__all__ = [
    "BranchformerEncoder",
    "BranchformerEncoderLayer",
    "ConformerEncoder",
    "ConformerEncoderLayer",
    "TransformerASR",
    "TransformerASRStreamingContext",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]
