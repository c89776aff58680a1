"""The keyword spotter's utterance encoder: front end, SummaryMixing (or MHSA) encoder, masked mean over time.

Authors
-------
* The summarymixing contributors (2026)
"""

import torch


class PooledEncoder(torch.nn.Module):
    """Encodes features into one vector per utterance: ``front_end`` (e.g. SpeechBrain's CNN front end), the
    encoder of ``transformer`` (a ``summarymixing.TransformerASR``, SummaryMixing or SpeechBrain attention), then
    the mean over the frames that are not padding. It is the ``embedding_model`` of SpeechBrain's
    ``EncoderClassifier``: ``forward(features, lengths)`` returns ``[batch, 1, d_model]``.

    The transformer's decoder side is not used: its target embedding is dropped, so that every parameter gets a
    gradient (DDP requires it).

    Arguments
    ---------
    front_end : torch.nn.Module
        Maps ``[batch, frames, n_mels]`` features to the encoder's input.
    transformer : summarymixing.TransformerASR
        Built with ``num_decoder_layers=0``.

    Example
    -------
    >>> from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
    >>> from summarymixing import TransformerASR
    >>> front_end = ConvolutionFrontEnd((8, 10, 40), num_blocks=2, num_layers_per_block=1, out_channels=(4, 4),
    ...                                 kernel_sizes=(3, 3), strides=(2, 2), residuals=(False, False))
    >>> transformer = TransformerASR(tgt_vocab=1, input_size=40, d_model=16, nhead=2, num_encoder_layers=1,
    ...                              num_decoder_layers=0, d_ffn=32, encoder_module="conformer",
    ...                              attention_type="SummaryMixing", normalize_before=True)
    >>> encoder = PooledEncoder(front_end, transformer)
    >>> _ = encoder.eval()
    >>> features, lengths = torch.randn(2, 100, 40), torch.tensor([1.0, 0.6])
    >>> features[1, 60:] = 0  # padding, as SpeechBrain's batching writes it
    >>> encoder(features, lengths).shape
    torch.Size([2, 1, 16])
    >>> torch.allclose(encoder(features[1:, :60], torch.ones(1)), encoder(features, lengths)[1:], atol=1e-5)
    True
    """

    def __init__(self, front_end, transformer):
        super().__init__()
        self.front_end = front_end
        if hasattr(transformer, "custom_tgt_module"):
            del transformer.custom_tgt_module
        self.transformer = transformer

    def forward(self, features, lengths=None):
        """``[batch, 1, d_model]``: the mean of the encoder's outputs over each utterance's frames."""
        if lengths is None:
            lengths = torch.ones(features.shape[0], device=features.device)
        encoded = self.transformer.encode(self.front_end(features), lengths)
        frames = torch.round(lengths * encoded.shape[1]).clamp(min=1)
        mask = torch.arange(encoded.shape[1], device=encoded.device)[None, :] < frames[:, None]
        summed = (encoded * mask.unsqueeze(-1)).sum(dim=1, keepdim=True)
        return summed / frames.view(-1, 1, 1).to(encoded.dtype)
