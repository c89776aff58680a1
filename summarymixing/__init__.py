"""SummaryMixing for SpeechBrain: a linear-time replacement for multi-head self-attention.

The cell lives in :mod:`summarymixing.cell` and depends only on torch, so it can be copied alone.
"""

from summarymixing.cell import SummaryMixing, SummaryMixingStreamingState
from summarymixing.branchformer import BranchformerEncoder, BranchformerEncoderLayer
from summarymixing.conformer import ConformerEncoder, ConformerEncoderLayer
from summarymixing.transformer import TransformerEncoder, TransformerEncoderLayer
from summarymixing.transformer_asr import TransformerASR, TransformerASRStreamingContext
from summarymixing.transducer import transducer_loss
