"""SummaryMixing for SpeechBrain: a linear-time replacement for multi-head self-attention.

The cell lives in :mod:`summarymixing.cell` and depends only on torch, so it can be copied alone.
"""

from summarymixing.cell import SummaryMixing, SummaryMixingStreamingState
