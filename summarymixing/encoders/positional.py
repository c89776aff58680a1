"""Absolute sinusoidal positional encoding that also works chunk by chunk.

SpeechBrain's ``PositionalEncoding`` always returns the positions ``0 .. T-1`` of the tensor it is given, so a
stream's second chunk gets the positions of the first one (and ``TransformerASR.encode_streaming`` fails on it), and
any input longer than ``max_len`` fails. This subclass keeps the same ``pe`` buffer and values, takes the position of
the chunk's first frame, and computes positions beyond ``max_len`` with the same formula.

Authors
* SummaryMixing contributors 2026
"""

import math

import torch
from speechbrain.lobes.models.transformer.Transformer import PositionalEncoding


class StreamingPositionalEncoding(PositionalEncoding):
    """SpeechBrain's fixed absolute sine encoding, from a given frame offset and of any length.

    Arguments
    ---------
    input_size : int
        Embedding dimension (even).
    max_len : int
        Number of positions kept precomputed in the ``pe`` buffer (same buffer as SpeechBrain's, so checkpoints
        load either way); later positions are computed when asked for.

    Example
    -------
    >>> encoding = StreamingPositionalEncoding(input_size=8, max_len=10)
    >>> whole = encoding(torch.zeros(1, 14, 8))
    >>> second_chunk = encoding(torch.zeros(1, 7, 8), offset=7)
    >>> torch.allclose(whole[:, 7:], second_chunk)
    True
    """

    def forward(self, x, offset=0):
        """Returns the encodings of positions ``offset .. offset + T - 1``.

        Arguments
        ---------
        x : torch.Tensor
            Input of shape (batch, time, features); only its length is used.
        offset : int
            Position of the first frame of ``x`` in the whole sequence.

        Returns
        -------
        torch.Tensor
            Positional encodings of shape (1, time, features).
        """
        end = offset + x.size(1)
        if end <= self.max_len:
            return self.pe[:, offset:end]
        positions = torch.arange(offset, end, device=self.pe.device).unsqueeze(1).float()
        input_size = self.pe.size(-1)
        denominator = torch.exp(
            torch.arange(0, input_size, 2, device=self.pe.device).float() * -(math.log(10000.0) / input_size)
        )
        encodings = torch.zeros(end - offset, input_size, device=self.pe.device)
        encodings[:, 0::2] = torch.sin(positions * denominator)
        encodings[:, 1::2] = torch.cos(positions * denominator)
        return encodings.unsqueeze(0).to(self.pe.dtype)
