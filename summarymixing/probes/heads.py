"""Probing heads of the MP3S benchmark with one calling convention: ``head(feats, lengths)``.

Every head takes the weighted layer sum ``feats`` ``[batch, time, dim]`` and the relative lengths
``[batch]``. Frame-level heads (for CTC) return ``[batch, time, out_size]``; utterance-level heads
(for classification and speaker embeddings) return ``[batch, 1, out_size]``. SpeechBrain's
``ECAPA_TDNN`` and ``Xvector`` already follow this convention and are used as they are; the classes
below cover the others:

- :class:`BiLSTM`: the 2-layer bidirectional LSTM of the MP3S ASR heads (hidden 1024, dropout 0.2);
- :class:`LengthFree`: runs a module that takes no lengths (``ContextNet``, ``VanillaNN``);
- :class:`MeanPooling`: masked time average (the "pooled linear" heads put a linear layer on it);
- :class:`BiLSTMPooling`: BiLSTM, linear projection, masked time average (the SLURP "BiLSTM + linear" head).

Authors
 * SummaryMixing contributors 2026
"""

import torch
from speechbrain.nnet.linear import Linear
from speechbrain.nnet.RNN import LSTM


class BiLSTM(torch.nn.Module):
    """Multi-layer bidirectional LSTM over valid frames (packed by length).

    Arguments
    ---------
    input_size : int
        Feature dimension of the input.
    hidden_size : int
        Hidden size per direction; the output has ``2 * hidden_size`` features.
    num_layers : int
        Number of stacked LSTM layers.
    dropout : float
        Dropout between LSTM layers.

    Example
    -------
    >>> head = BiLSTM(input_size=8, hidden_size=6)
    >>> head(torch.rand(2, 5, 8), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 5, 12])
    """

    def __init__(self, input_size, hidden_size=1024, num_layers=2, dropout=0.2):
        super().__init__()
        self.lstm = LSTM(
            hidden_size=hidden_size,
            input_size=input_size,
            num_layers=num_layers,
            bidirectional=True,
            dropout=dropout,
        )
        self.out_size = 2 * hidden_size

    def forward(self, feats, lengths=None):
        """Returns ``[batch, time, 2 * hidden_size]``.

        Arguments
        ---------
        feats : torch.Tensor
            ``[batch, time, input_size]``.
        lengths : torch.Tensor, optional
            ``[batch]`` relative lengths.

        Returns
        -------
        torch.Tensor
            The LSTM outputs.
        """
        output, _ = self.lstm(feats, lengths=lengths)
        return output


class LengthFree(torch.nn.Module):
    """Gives a module that takes only ``x`` the ``(feats, lengths)`` head convention.

    Arguments
    ---------
    module : torch.nn.Module
        E.g. ``speechbrain.lobes.models.ContextNet.ContextNet`` with unit strides, or
        ``speechbrain.lobes.models.VanillaNN.VanillaNN``; padded frames are processed like the rest
        (CTC ignores the outputs there).

    Example
    -------
    >>> head = LengthFree(torch.nn.Linear(8, 3))
    >>> head(torch.rand(2, 5, 8), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 5, 3])
    """

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, feats, lengths=None):
        """Returns ``module(feats)``.

        Arguments
        ---------
        feats : torch.Tensor
            ``[batch, time, dim]``.
        lengths : torch.Tensor, optional
            Ignored.

        Returns
        -------
        torch.Tensor
            The module output.
        """
        return self.module(feats)


class MeanPooling(torch.nn.Module):
    """Average over the valid frames of each utterance.

    Example
    -------
    >>> pool = MeanPooling()
    >>> feats = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> pool(feats, torch.tensor([2 / 3]))
    tensor([[[2.]]])
    """

    def forward(self, feats, lengths=None):
        """Returns ``[batch, 1, dim]``.

        Arguments
        ---------
        feats : torch.Tensor
            ``[batch, time, dim]``.
        lengths : torch.Tensor, optional
            ``[batch]`` relative lengths (all frames when omitted).

        Returns
        -------
        torch.Tensor
            The pooled features.
        """
        if lengths is None:
            return feats.mean(dim=1, keepdim=True)
        num_frames = (lengths * feats.shape[1]).round().clamp(min=1)
        valid = torch.arange(feats.shape[1], device=feats.device)[None, :] < num_frames[:, None]
        valid = valid.unsqueeze(-1).to(feats.dtype)
        return (feats * valid).sum(dim=1, keepdim=True) / num_frames[:, None, None].to(feats.dtype)


class BiLSTMPooling(torch.nn.Module):
    """BiLSTM, a linear projection back to ``input_size``, then a masked time average.

    This is the utterance encoder of the MP3S SLURP "LSTM + linear" head (a linear classifier goes
    on top).

    Arguments
    ---------
    input_size : int
        Feature dimension of the input and of the output.
    hidden_size : int
        Hidden size per LSTM direction.
    num_layers : int
        Number of stacked LSTM layers.
    dropout : float
        Dropout between LSTM layers.

    Example
    -------
    >>> head = BiLSTMPooling(input_size=8, hidden_size=6)
    >>> head(torch.rand(2, 5, 8), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 1, 8])
    """

    def __init__(self, input_size, hidden_size=768, num_layers=2, dropout=0.0):
        super().__init__()
        self.lstm = BiLSTM(input_size, hidden_size, num_layers, dropout)
        self.projection = Linear(input_size=self.lstm.out_size, n_neurons=input_size)
        self.pooling = MeanPooling()

    def forward(self, feats, lengths=None):
        """Returns ``[batch, 1, input_size]``.

        Arguments
        ---------
        feats : torch.Tensor
            ``[batch, time, input_size]``.
        lengths : torch.Tensor, optional
            ``[batch]`` relative lengths.

        Returns
        -------
        torch.Tensor
            The pooled utterance representation.
        """
        return self.pooling(self.projection(self.lstm(feats, lengths)), lengths)
