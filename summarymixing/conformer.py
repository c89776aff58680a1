"""SpeechBrain's Conformer encoder with SummaryMixing in place of self-attention.

Offline, with dynamic chunk training (the cell's linear-time chunked summary and SpeechBrain's dynamic chunk
convolution, no [T, T] mask), and streaming with unlimited or limited left context. Any SpeechBrain attention type
builds SpeechBrain's own layer unchanged, for baselines.

Authors
* SummaryMixing contributors 2026
"""

import torch
from speechbrain.lobes.models.transformer import Conformer
from speechbrain.nnet.activations import Swish

from summarymixing.feed_forward import recompute_activation_in_backward
from summarymixing.mixer import (
    SUMMARY_MIXING,
    SummaryMixingLayerStreamingContext,
    build_summary_mixing,
    check_mixer,
    mixer_chunk_config,
)

SPEECHBRAIN_CONFORMER_ATTENTIONS = ("regularMHA", "RelPosMHAXL", "hypermixing", "RoPEMHA")

ALL_PAST_FRAMES = 2**40
"""SpeechBrain's layers keep the last ``mha_left_context_size`` frames; more than any stream holds keeps them all."""


class ConformerEncoderLayer(Conformer.ConformerEncoderLayer):
    """SpeechBrain's Conformer layer whose ``mha_layer`` is the SummaryMixing cell (or any SpeechBrain attention).

    Whatever the mixer, the feed-forward modules recompute their activation in the backward pass (SpeechBrain's
    parameters and outputs, less memory in training; see ``summarymixing.feed_forward``).

    Arguments
    ---------
    d_model : int
        The expected size of the input embedding.
    d_ffn : int
        Hidden size of the feed-forward modules.
    nhead : int
        Number of heads of the mixer.
    kernel_size : int
        Kernel size of the convolution module.
    kdim : int, optional
        Dimension of the key (regularMHA only).
    vdim : int, optional
        Dimension of the value (regularMHA only).
    activation : torch.nn.Module
        Activation of the feed-forward and convolution modules.
    bias : bool
        Whether the convolutions have a bias.
    dropout : float
        Dropout for the layer and its mixer.
    causal : bool
        Causal convolution and, with SummaryMixing, a causal (running-mean) summary.
    attention_type : str
        ``"SummaryMixing"``, or a SpeechBrain type: regularMHA, RelPosMHAXL, hypermixing, RoPEMHA.
    **summary_mixing_options
        The cell's options (see ``summarymixing.mixer.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

    Example
    -------
    >>> from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
    >>> layer = ConformerEncoderLayer(d_model=32, d_ffn=64, nhead=2, kernel_size=3)
    >>> output, _ = layer(torch.rand(2, 10, 32), dynchunktrain_config=DynChunkTrainConfig(4, 1))
    >>> output.shape
    torch.Size([2, 10, 32])
    """

    def __init__(
        self,
        d_model,
        d_ffn,
        nhead,
        kernel_size=31,
        kdim=None,
        vdim=None,
        activation=Swish,
        bias=True,
        dropout=0.0,
        causal=False,
        attention_type=SUMMARY_MIXING,
        **summary_mixing_options,
    ):
        check_mixer(attention_type, SPEECHBRAIN_CONFORMER_ATTENTIONS, type(self).__name__, summary_mixing_options)
        # For "SummaryMixing", SpeechBrain's constructor builds every module but the attention.
        super().__init__(
            d_model, d_ffn, nhead, kernel_size, kdim, vdim, activation, bias, dropout, causal, attention_type
        )
        self.attention_type = attention_type
        self.causal = causal
        if attention_type == SUMMARY_MIXING:
            self.mha_layer = build_summary_mixing(d_model, nhead, dropout, summary_mixing_options)
        for ffn_module in (self.ffn_module1, self.ffn_module2):
            recompute_activation_in_backward(ffn_module[1])

    def forward(self, x, src_mask=None, src_key_padding_mask=None, pos_embs=None, dynchunktrain_config=None):
        """Applies the layer; SpeechBrain attention types run SpeechBrain's code.

        Arguments
        ---------
        x : torch.Tensor
            Input of shape (batch, time, d_model).
        src_mask : torch.Tensor, optional
            [time, time] attention mask (True or -inf = blocked). SummaryMixing never needs one for chunks.
        src_key_padding_mask : torch.Tensor, optional
            (batch, time) bool, True = padding.
        pos_embs : torch.Tensor, optional
            Positional embeddings for RelPosMHAXL.
        dynchunktrain_config : DynChunkTrainConfig, optional
            Chunked summary (linear time) and dynamic chunk convolution.

        Returns
        -------
        output : torch.Tensor
            Output of shape (batch, time, d_model).
        attention : torch.Tensor or None
            SpeechBrain's attention weights; None for SummaryMixing.
        """
        if self.attention_type != SUMMARY_MIXING:
            return super().forward(x, src_mask, src_key_padding_mask, pos_embs, dynchunktrain_config)
        conv_mask = None if src_key_padding_mask is None else src_key_padding_mask.unsqueeze(-1)
        chunk_config = mixer_chunk_config(self.causal, dynchunktrain_config)
        return self._summary_mixing_block(
            x,
            mix=lambda h: self.mha_layer(
                h, attn_mask=src_mask, key_padding_mask=src_key_padding_mask, dynchunktrain_config=chunk_config
            )[0],
            convolve=lambda h: self._convolve_padded(h, conv_mask, dynchunktrain_config),
        )

    def forward_streaming(self, x, context, pos_embs=None):
        """Processes one chunk of a stream, updating ``context``.

        Arguments
        ---------
        x : torch.Tensor
            One chunk of shape (batch, chunk_size, d_model) (the last chunk may be shorter).
        context : SummaryMixingLayerStreamingContext or ConformerEncoderLayerStreamingContext
            From ``make_streaming_context``.
        pos_embs : torch.Tensor, optional
            Positional embeddings for RelPosMHAXL.

        Returns
        -------
        output : torch.Tensor
            This chunk's output.
        attention : torch.Tensor or None
            SpeechBrain's attention weights; None for SummaryMixing.
        """
        if self.attention_type != SUMMARY_MIXING:
            return super().forward_streaming(x, context, pos_embs)
        return self._summary_mixing_block(
            x,
            mix=lambda h: self.mha_layer.forward_streaming(h, context.mixer_state),
            convolve=lambda h: self._convolve_streaming(h, context),
        )

    def make_streaming_context(self, dynchunktrain_config):
        """A blank streaming context for this layer.

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size and left context (in chunks, ``None`` = unlimited, also for SpeechBrain attention types,
            which then keep every past frame).

        Returns
        -------
        SummaryMixingLayerStreamingContext or ConformerEncoderLayerStreamingContext
        """
        if self.attention_type == SUMMARY_MIXING:
            if self.causal:
                raise NotImplementedError(
                    "a causal SummaryMixing Conformer has no chunked streaming; train with causal=False and "
                    "dynamic chunk training to stream"
                )
            return SummaryMixingLayerStreamingContext(
                mixer_state=self.mha_layer.make_streaming_state(dynchunktrain_config.left_context_size)
            )
        left_frames = dynchunktrain_config.left_context_size_frames()
        return super().make_streaming_context(ALL_PAST_FRAMES if left_frames is None else left_frames)

    def _summary_mixing_block(self, x, mix, convolve):
        """The Conformer macaron block around a mixer and a convolution given as functions."""
        x = x + 0.5 * self.ffn_module1(x)
        x = x + mix(self.norm1(x))
        x = x + convolve(x)
        return self.norm2(x + 0.5 * self.ffn_module2(x)), None

    def _convolve_padded(self, x, conv_mask, dynchunktrain_config):
        """The convolution module, with padded frames zeroed after its pointwise bottleneck.

        SpeechBrain only zeroes the module's output at padded frames, so the depthwise kernel carries padded
        frames into the last valid ones. Zeroing them at the kernel's input makes the valid frames see what an
        unpadded sequence sees (the kernel's zero padding), so padding never changes a valid output.
        """
        if conv_mask is None:
            return self.convolution_module(x, None, dynchunktrain_config=dynchunktrain_config)
        padded_steps = conv_mask.transpose(1, 2)
        hook = self.convolution_module.bottleneck.register_forward_hook(
            lambda module, inputs, output: output.masked_fill(padded_steps, 0.0)
        )
        try:
            return self.convolution_module(x, conv_mask, dynchunktrain_config=dynchunktrain_config)
        finally:
            hook.remove()

    def _convolve_streaming(self, x, context):
        """The convolution module on a chunk with the previous chunk's last frames as left context, which equals
        SpeechBrain's dynamic chunk convolution of the whole sequence."""
        chunk_length = x.shape[1]
        if context.dcconv_left_context is not None:
            x = torch.cat((context.dcconv_left_context, x), dim=1)
        if self.convolution_module.padding > 0:
            context.dcconv_left_context = x[:, -self.convolution_module.padding :]
        return self.convolution_module(x)[:, -chunk_length:]


class ConformerEncoder(Conformer.ConformerEncoder):
    """SpeechBrain's Conformer encoder built from :class:`ConformerEncoderLayer`: SummaryMixing by default.

    Layerdrop, ``output_hidden_states`` and the streaming loop are SpeechBrain's: with ``output_hidden_states``
    the third output is ``[input] + [output of each layer that ran]`` (``num_layers + 1`` tensors at evaluation;
    the last one is before the final LayerNorm).

    Arguments
    ---------
    num_layers : int
        Number of layers.
    d_model : int
        Embedding dimension size.
    d_ffn : int
        Hidden size of the feed-forward modules.
    nhead : int
        Number of heads of the mixer.
    kernel_size : int
        Kernel size of the convolution modules.
    kdim : int, optional
        Dimension of the key (regularMHA only).
    vdim : int, optional
        Dimension of the value (regularMHA only).
    activation : torch.nn.Module
        Activation of the feed-forward and convolution modules.
    bias : bool
        Whether the convolutions have a bias.
    dropout : float
        Dropout.
    causal : bool
        Causal convolutions and (SummaryMixing) a causal summary.
    attention_type : str
        ``"SummaryMixing"`` or a SpeechBrain type: regularMHA, RelPosMHAXL, hypermixing, RoPEMHA.
    output_hidden_states : bool
        Whether to also return the hidden states.
    layerdrop_prob : float
        Probability of skipping each layer during training.
    **summary_mixing_options
        The cell's options (see ``summarymixing.mixer.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

    Example
    -------
    >>> from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
    >>> encoder = ConformerEncoder(num_layers=2, d_model=32, d_ffn=64, nhead=2, kernel_size=3)
    >>> encoder.eval()  # doctest: +ELLIPSIS
    ConformerEncoder(...)
    >>> config = DynChunkTrainConfig(chunk_size=4, left_context_size=None)
    >>> x = torch.rand(1, 12, 32)
    >>> offline, _ = encoder(x, dynchunktrain_config=config)
    >>> context = encoder.make_streaming_context(config)
    >>> chunks = [encoder.forward_streaming(chunk, context)[0] for chunk in x.split(4, dim=1)]
    >>> torch.allclose(torch.cat(chunks, dim=1), offline, atol=1e-5)
    True
    """

    def __init__(
        self,
        num_layers,
        d_model,
        d_ffn,
        nhead,
        kernel_size=31,
        kdim=None,
        vdim=None,
        activation=Swish,
        bias=True,
        dropout=0.0,
        causal=False,
        attention_type=SUMMARY_MIXING,
        output_hidden_states=False,
        layerdrop_prob=0.0,
        **summary_mixing_options,
    ):
        check_mixer(attention_type, SPEECHBRAIN_CONFORMER_ATTENTIONS, type(self).__name__, summary_mixing_options)
        super().__init__(
            0, d_model, d_ffn, nhead, kernel_size, kdim, vdim, activation, bias, dropout, causal,
            attention_type, output_hidden_states, layerdrop_prob,
        )  # fmt: skip
        self.layers = torch.nn.ModuleList(
            ConformerEncoderLayer(
                d_model, d_ffn, nhead, kernel_size, kdim, vdim, activation, bias, dropout, causal,
                attention_type, **summary_mixing_options,
            )  # fmt: skip
            for _ in range(num_layers)
        )

    def make_streaming_context(self, dynchunktrain_config):
        """A blank streaming context for the encoder (unlimited left context allowed).

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size and left context in chunks (``None`` = unlimited).

        Returns
        -------
        ConformerEncoderStreamingContext
            SpeechBrain's encoder context holding one context per layer.
        """
        return Conformer.ConformerEncoderStreamingContext(
            dynchunktrain_config=dynchunktrain_config,
            layers=[layer.make_streaming_context(dynchunktrain_config) for layer in self.layers],
        )
