"""SummaryMixing for SpeechBrain: a linear-time replacement for multi-head self-attention.

The cell lives in :mod:`summarymixing.cell` and depends only on torch, so it can be copied alone. The names below
are imported on first use, so ``import summarymixing`` (and ``python -m summarymixing``, the environment report)
needs neither SpeechBrain nor torchaudio until an encoder is asked for.
"""

import importlib

_EXPORTS = {
    "SummaryMixing": "summarymixing.cell",
    "SummaryMixingStreamingState": "summarymixing.cell",
    "BranchformerEncoder": "summarymixing.encoders",
    "BranchformerEncoderLayer": "summarymixing.encoders",
    "ConformerEncoder": "summarymixing.encoders",
    "ConformerEncoderLayer": "summarymixing.encoders",
    "TransformerEncoder": "summarymixing.encoders",
    "TransformerEncoderLayer": "summarymixing.encoders",
    "TransformerASR": "summarymixing.encoders",
    "TransformerASRStreamingContext": "summarymixing.encoders",
    "transducer_loss": "summarymixing.transducer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'summarymixing' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
