"""SpeechBrain's Conformer encoder with SummaryMixing in place of self-attention.

:class:`ConformerEncoderLayer` is the published SummaryMixing Conformer layer: SpeechBrain's layer with the cell in
its attention slot. Offline, with dynamic chunk training (the cell's linear-time chunked summary and dynamic chunk
convolution, no [T, T] mask), and streaming with unlimited or limited left context. Padding never changes a valid
frame (the convolution's input is zeroed at padded frames, where SpeechBrain's lets them into the last valid
ones). :class:`ConformerEncoder` builds these layers, or SpeechBrain's own for any SpeechBrain attention type
(the MHSA baselines, bit for bit SpeechBrain's); its loops are SpeechBrain's.

Authors
* SummaryMixing contributors 2026
"""

import torch
import torch.nn.functional as F
from speechbrain.lobes.models.transformer import Conformer
from speechbrain.nnet.activations import Swish

from summarymixing.encoders.feed_forward import recompute_activation_in_backward
from summarymixing.encoders.mixing import (
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
    """SpeechBrain's Conformer layer whose ``mha_layer`` is the SummaryMixing cell (parameter names unchanged).

    The feed-forward modules recompute their activation in the backward pass (SpeechBrain's parameters and
    outputs, less memory in training; see ``summarymixing.encoders.feed_forward``).

    Arguments
    ---------
    d_model : int
        The expected size of the input embedding.
    d_ffn : int
        Hidden size of the feed-forward modules.
    nhead : int
        Number of heads of the cell.
    kernel_size : int
        Kernel size of the convolution module.
    kdim, vdim : int, optional
        Unused (SpeechBrain's signature).
    activation : torch.nn.Module
        Activation of the feed-forward and convolution modules, and of the cell unless ``mixing_activation``.
    bias : bool
        Whether the convolutions have a bias.
    dropout : float
        Dropout for the layer and its cell.
    causal : bool
        Causal convolution and a causal (running-mean) summary.
    **summary_mixing_options
        The cell's options (see ``summarymixing.encoders.mixing.SUMMARY_MIXING_OPTIONS``).

    Example
    -------
    >>> from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
    >>> layer = ConformerEncoderLayer(d_model=32, d_ffn=64, nhead=2, kernel_size=3)
    >>> output, _ = layer(torch.rand(2, 10, 32), dynchunktrain_config=DynChunkTrainConfig(4, 1))
    >>> output.shape
    torch.Size([2, 10, 32])
    """

    def __init__(
        self, d_model, d_ffn, nhead, kernel_size=31, kdim=None, vdim=None, activation=Swish, bias=True, dropout=0.0,
        causal=False, **summary_mixing_options,
    ):  # fmt: skip
        check_mixer(SUMMARY_MIXING, (), type(self).__name__, summary_mixing_options)
        # SpeechBrain's constructor builds every module but the attention for a name it does not know.
        super().__init__(
            d_model, d_ffn, nhead, kernel_size, kdim, vdim, activation, bias, dropout, causal, SUMMARY_MIXING
        )
        self.causal = causal
        self.mha_layer = build_summary_mixing(d_model, nhead, dropout, activation, summary_mixing_options)
        for ffn_module in (self.ffn_module1, self.ffn_module2):
            recompute_activation_in_backward(ffn_module[1])

    def forward(self, x, src_mask=None, src_key_padding_mask=None, pos_embs=None, dynchunktrain_config=None):
        """SpeechBrain's Conformer block around the cell.

        Arguments
        ---------
        x : torch.Tensor
            Input of shape (batch, time, d_model).
        src_mask : torch.Tensor, optional
            [time, time] context mask (True or -inf = blocked): the cell's general O(T^2) path; chunks and
            causality never need one.
        src_key_padding_mask : torch.Tensor, optional
            (batch, time) bool, True = padding.
        pos_embs : torch.Tensor, optional
            Unused (SummaryMixing needs no positions).
        dynchunktrain_config : DynChunkTrainConfig, optional
            Chunked summary (linear time) and dynamic chunk convolution.

        Returns
        -------
        output : torch.Tensor
            Output of shape (batch, time, d_model).
        None
            No attention weights.
        """
        chunk_config = mixer_chunk_config(self.causal, dynchunktrain_config)
        x = x + 0.5 * self.ffn_module1(x)
        mixed, _ = self.mha_layer(
            self.norm1(x), attn_mask=src_mask, key_padding_mask=src_key_padding_mask, dynchunktrain_config=chunk_config
        )
        x = x + mixed
        chunk_size = None if dynchunktrain_config is None else dynchunktrain_config.chunk_size
        x = x + convolve(self.convolution_module, x, src_key_padding_mask, chunk_size)
        return self.norm2(x + 0.5 * self.ffn_module2(x)), None

    def forward_streaming(self, x, context, pos_embs=None):
        """Processes one chunk of a stream, updating ``context``.

        Arguments
        ---------
        x : torch.Tensor
            One chunk of shape (batch, chunk_size, d_model) (the last chunk may be shorter).
        context : SummaryMixingLayerStreamingContext
            From ``make_streaming_context``.
        pos_embs : torch.Tensor, optional
            Unused.

        Returns
        -------
        output : torch.Tensor
            This chunk's output.
        None
            No attention weights.
        """
        x = x + 0.5 * self.ffn_module1(x)
        x = x + self.mha_layer.forward_streaming(self.norm1(x), context.mixer_state)
        x = x + convolve_streaming(self.convolution_module, x, context)
        return self.norm2(x + 0.5 * self.ffn_module2(x)), None

    def make_streaming_context(self, dynchunktrain_config):
        """A blank streaming context for this layer.

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size and left context (in chunks, ``None`` = unlimited).

        Returns
        -------
        SummaryMixingLayerStreamingContext
        """
        if self.causal:
            raise NotImplementedError(
                "a causal SummaryMixing Conformer has no chunked streaming; train with causal=False and dynamic "
                "chunk training to stream"
            )
        return SummaryMixingLayerStreamingContext(
            mixer_state=self.mha_layer.make_streaming_state(dynchunktrain_config.left_context_size)
        )


def convolve_streaming(module, x, context):
    """SpeechBrain's Conformer ``ConvolutionModule`` on one chunk of a stream, as dynamic chunk convolution computes
    it: the depthwise kernel sees the ``module.padding`` frames before the chunk and zeros in place of its future.

    Only the depthwise convolution mixes frames: the layer norm, the pointwise bottleneck (with its GLU) and what
    follows the depthwise convolution run on the chunk's frames only, and the bottleneck's output at the last
    ``padding`` frames is kept in ``context.dcconv_left_context`` for the next chunk. (SpeechBrain's streaming
    layer keeps the module's input frames instead and runs the whole module again over them: with 320 ms chunks
    and kernel 31, 23 frames through the per-frame parts for 8 frames of output.)

    Arguments
    ---------
    module : speechbrain.lobes.models.transformer.Conformer.ConvolutionModule
        A non-causal module (the parameters are used as they are).
    x : torch.Tensor
        The chunk, (batch, time, channels).
    context : SummaryMixingLayerStreamingContext
        The layer's streaming context; ``dcconv_left_context`` is updated in place.

    Returns
    -------
    torch.Tensor
        (batch, time, channels).

    Example
    -------
    >>> from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
    >>> from summarymixing.encoders.mixing import SummaryMixingLayerStreamingContext
    >>> module = Conformer.ConvolutionModule(8, kernel_size=5).eval()
    >>> x = torch.rand(2, 12, 8)
    >>> context = SummaryMixingLayerStreamingContext(mixer_state=None)
    >>> streamed = torch.cat([convolve_streaming(module, chunk, context) for chunk in x.split(4, dim=1)], dim=1)
    >>> torch.allclose(streamed, convolve(module, x, chunk_size=4), atol=1e-6)
    True
    """
    reach, conv = module.padding, module.conv
    bottleneck = module.bottleneck(module.layer_norm(x).transpose(1, 2))  # (batch, channels, time)
    past = context.dcconv_left_context
    if past is None:
        past = bottleneck.new_zeros(bottleneck.shape[0], bottleneck.shape[1], reach)
    with_past = torch.cat((past, bottleneck), dim=2)
    context.dcconv_left_context = with_past[..., with_past.shape[2] - reach :]
    out = F.conv1d(F.pad(with_past, (0, reach)), conv.weight, conv.bias, groups=conv.groups)
    return module.after_conv(out.transpose(1, 2))


def convolve(module, x, padding_mask=None, chunk_size=None):
    """SpeechBrain's Conformer ``ConvolutionModule`` on ``x``, with padding that never reaches a valid frame.

    The module's pointwise bottleneck output is zeroed at padded frames before the depthwise convolution, which
    is what an unpadded sequence gets from the convolution's zero padding (SpeechBrain zeroes only the module's
    output, so the kernel carries padded frames into the last valid ones). With ``chunk_size``, dynamic chunk
    convolution: each chunk sees the ``module.padding`` frames before it and zeros in place of its future.

    Arguments
    ---------
    module : speechbrain.lobes.models.transformer.Conformer.ConvolutionModule
        The module (its parameters are used as they are).
    x : torch.Tensor
        Input (batch, time, channels).
    padding_mask : torch.Tensor, optional
        (batch, time) bool, True = padding.
    chunk_size : int, optional
        Dynamic chunk convolution's chunk size in frames.

    Returns
    -------
    torch.Tensor
        (batch, time, channels), zero at padded frames.

    Example
    -------
    >>> module = Conformer.ConvolutionModule(8, kernel_size=3)
    >>> x = torch.rand(2, 6, 8)
    >>> out = convolve(module, x, torch.arange(6) >= torch.tensor([[6], [4]]))
    >>> torch.allclose(out[1, :4], convolve(module, x[1:, :4])[0], atol=1e-6)
    True
    """
    out = module.bottleneck(module.layer_norm(x).transpose(1, 2))  # (batch, channels, time)
    if padding_mask is not None:
        out = out.masked_fill(padding_mask[:, None, :], 0.0)
    if chunk_size is None:
        out = module.conv(out)
        if module.causal:
            out = out[..., : -module.padding]
    else:
        if module.causal or module.dilation != 1:
            raise ValueError("dynamic chunk convolution needs a non-causal, undilated convolution (as SpeechBrain's)")
        out = _chunked_depthwise(out, module.conv, module.padding, chunk_size)
    out = module.after_conv(out.transpose(1, 2))
    if padding_mask is not None:
        out = out.masked_fill(padding_mask[:, :, None], 0.0)
    return out


def _chunked_depthwise(x, conv, reach, chunk_size):
    """Depthwise convolution of (batch, channels, time) where the frames of each chunk see ``reach`` past frames
    and no future: every chunk, with its past, is one item of a batch of unpadded convolutions."""
    batch, channels, time = x.shape
    chunks = -(-time // chunk_size)
    x = F.pad(x, (reach, chunks * chunk_size - time))
    windows = F.pad(x.unfold(2, chunk_size + reach, chunk_size), (0, reach))  # (batch, channels, chunks, window)
    windows = windows.transpose(1, 2).reshape(batch * chunks, channels, chunk_size + 2 * reach)
    out = F.conv1d(windows, conv.weight, conv.bias, groups=conv.groups)
    return out.view(batch, chunks, channels, chunk_size).transpose(1, 2).reshape(batch, channels, -1)[..., :time]


class ConformerEncoder(Conformer.ConformerEncoder):
    """SpeechBrain's Conformer encoder of :class:`ConformerEncoderLayer` (SummaryMixing, the default), or of
    SpeechBrain's own layers for a SpeechBrain attention type: one key gives a model or its MHSA twin.

    The forward and streaming loops, layerdrop and ``output_hidden_states`` are SpeechBrain's: the third output is
    ``[input] + [output of each layer that ran]`` (the last one before the final LayerNorm). The feed-forward
    modules recompute their activation in the backward pass, for SpeechBrain's layers too (same parameters and
    outputs). Streaming takes unlimited left context with every mixer (SpeechBrain's layers then keep every past
    frame).

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
    kdim, vdim : int, optional
        Dimension of the keys and values (regularMHA only).
    activation : torch.nn.Module
        Activation of the feed-forward and convolution modules (and of the cell).
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
        The cell's options (see ``summarymixing.encoders.mixing.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

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
        self, num_layers, d_model, d_ffn, nhead, kernel_size=31, kdim=None, vdim=None, activation=Swish, bias=True,
        dropout=0.0, causal=False, attention_type=SUMMARY_MIXING, output_hidden_states=False, layerdrop_prob=0.0,
        **summary_mixing_options,
    ):  # fmt: skip
        check_mixer(attention_type, SPEECHBRAIN_CONFORMER_ATTENTIONS, type(self).__name__, summary_mixing_options)
        super().__init__(
            0, d_model, d_ffn, nhead, kernel_size, kdim, vdim, activation, bias, dropout, causal, attention_type,
            output_hidden_states, layerdrop_prob,
        )  # fmt: skip
        layers = []
        for _ in range(num_layers):
            if attention_type == SUMMARY_MIXING:
                layer = ConformerEncoderLayer(
                    d_model, d_ffn, nhead, kernel_size, kdim, vdim, activation, bias, dropout, causal,
                    **summary_mixing_options,
                )  # fmt: skip
            else:
                layer = Conformer.ConformerEncoderLayer(
                    d_model, d_ffn, nhead, kernel_size, kdim, vdim, activation, bias, dropout, causal, attention_type
                )
                for ffn_module in (layer.ffn_module1, layer.ffn_module2):
                    recompute_activation_in_backward(ffn_module[1])
            layers.append(layer)
        self.layers = torch.nn.ModuleList(layers)

    def make_streaming_context(self, dynchunktrain_config):
        """A blank streaming context for the encoder (unlimited left context allowed with every mixer).

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size and left context in chunks (``None`` = unlimited).

        Returns
        -------
        ConformerEncoderStreamingContext
            SpeechBrain's encoder context holding one context per layer.
        """
        left_frames = dynchunktrain_config.left_context_size_frames()
        return Conformer.ConformerEncoderStreamingContext(
            dynchunktrain_config=dynchunktrain_config,
            layers=[
                layer.make_streaming_context(dynchunktrain_config)
                if isinstance(layer, ConformerEncoderLayer)
                else layer.make_streaming_context(ALL_PAST_FRAMES if left_frames is None else left_frames)
                for layer in self.layers
            ],
        )
