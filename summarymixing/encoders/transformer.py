"""SpeechBrain's plain Transformer encoder with SummaryMixing in place of self-attention.

:class:`TransformerEncoderLayer` is SpeechBrain's Transformer layer with the cell in its attention slot; with it,
the encoder also takes dynamic chunk training (the cell's chunked summary) and streams, which SpeechBrain's
Transformer encoder does not. :class:`TransformerEncoder` builds these layers, or SpeechBrain's own for any
SpeechBrain attention type (the MHSA baselines, bit for bit SpeechBrain's).

Authors
* SummaryMixing contributors 2026
"""

import torch
from speechbrain.lobes.models.transformer import Transformer
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder, ConformerEncoderStreamingContext

from summarymixing.encoders.feed_forward import recompute_activation_in_backward
from summarymixing.encoders.mixing import (
    SUMMARY_MIXING,
    SummaryMixingLayerStreamingContext,
    build_summary_mixing,
    check_mixer,
    mixer_chunk_config,
)

SPEECHBRAIN_TRANSFORMER_ATTENTIONS = ("regularMHA", "RelPosMHAXL", "hypermixing", "RoPEMHA")


class TransformerEncoderLayer(Transformer.TransformerEncoderLayer):
    """SpeechBrain's Transformer layer whose ``self_att`` is the SummaryMixing cell (parameter names unchanged).

    A regular feed-forward network recomputes its activation in the backward pass (SpeechBrain's parameters and
    outputs, less memory in training; see ``summarymixing.encoders.feed_forward``).

    Arguments
    ---------
    d_ffn : int
        Hidden size of the feed-forward network.
    nhead : int
        Number of heads of the cell.
    d_model : int
        The expected size of the input embedding.
    kdim, vdim : int, optional
        Unused (SpeechBrain's signature).
    dropout : float
        Dropout for the layer and its cell.
    activation : torch.nn.Module
        Activation of the feed-forward network and (unless ``mixing_activation``) of the cell.
    normalize_before : bool
        Pre-LayerNorm (True) or post-LayerNorm (False) residual blocks.
    ffn_type : str
        ``"regularFFN"`` or ``"1dcnn"``.
    ffn_cnn_kernel_size_list : list of int
        Kernel sizes of the two convolutions of a ``"1dcnn"`` feed-forward network.
    causal : bool
        A causal (running-mean) summary.
    **summary_mixing_options
        The cell's options (see ``summarymixing.encoders.mixing.SUMMARY_MIXING_OPTIONS``).

    Example
    -------
    >>> layer = TransformerEncoderLayer(d_ffn=64, nhead=2, d_model=32, causal=True)
    >>> x = torch.rand(1, 6, 32)
    >>> full, _ = layer(x)
    >>> prefix, _ = layer(x[:, :4])
    >>> torch.allclose(full[:, :4], prefix, atol=1e-6)
    True
    """

    def __init__(
        self, d_ffn, nhead, d_model, kdim=None, vdim=None, dropout=0.0, activation=torch.nn.ReLU,
        normalize_before=False, ffn_type="regularFFN", ffn_cnn_kernel_size_list=(3, 3), causal=False,
        **summary_mixing_options,
    ):  # fmt: skip
        check_mixer(SUMMARY_MIXING, (), type(self).__name__, summary_mixing_options)
        # SpeechBrain's constructor builds every module but the attention for a name it does not know.
        super().__init__(
            d_ffn, nhead, d_model, kdim, vdim, dropout, activation, normalize_before, SUMMARY_MIXING, ffn_type,
            list(ffn_cnn_kernel_size_list), causal,
        )  # fmt: skip
        self.causal = causal
        self.self_att = build_summary_mixing(d_model, nhead, dropout, activation, summary_mixing_options)
        recompute_activation_in_backward(self.pos_ffn)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, pos_embs=None, dynchunktrain_config=None):
        """SpeechBrain's Transformer block (pre- or post-LayerNorm) around the cell.

        Arguments
        ---------
        src : torch.Tensor
            Input of shape (batch, time, d_model).
        src_mask : torch.Tensor, optional
            [time, time] context mask (True or -inf = blocked); chunks and causality never need one.
        src_key_padding_mask : torch.Tensor, optional
            (batch, time) bool, True = padding.
        pos_embs : torch.Tensor, optional
            Unused (SummaryMixing needs no positions).
        dynchunktrain_config : DynChunkTrainConfig, optional
            Chunked summary (linear time).

        Returns
        -------
        output : torch.Tensor
            Output of shape (batch, time, d_model).
        None
            No attention weights.
        """
        chunk_config = mixer_chunk_config(self.causal, dynchunktrain_config)
        return self._block(
            src,
            lambda h: self.self_att(
                h, attn_mask=src_mask, key_padding_mask=src_key_padding_mask, dynchunktrain_config=chunk_config
            )[0],
        )

    def forward_streaming(self, src, context, pos_embs=None):
        """Processes one chunk of a stream, updating ``context``.

        Arguments
        ---------
        src : torch.Tensor
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
        return self._block(src, lambda h: self.self_att.forward_streaming(h, context.mixer_state))

    def make_streaming_context(self, dynchunktrain_config):
        """A blank streaming context for this layer (not causal).

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size and left context in chunks (``None`` = unlimited).

        Returns
        -------
        SummaryMixingLayerStreamingContext
        """
        if self.causal:
            raise NotImplementedError(
                "a causal SummaryMixing Transformer has no chunked streaming; train with "
                "causal=False and dynamic chunk training to stream"
            )
        return SummaryMixingLayerStreamingContext(
            mixer_state=self.self_att.make_streaming_state(dynchunktrain_config.left_context_size)
        )

    def _block(self, src, mix):
        """SpeechBrain's Transformer layer (pre- or post-LayerNorm residual blocks) around a mixer function."""
        mixed = mix(self.norm1(src) if self.normalize_before else src)
        src = src + self.dropout1(mixed)
        if not self.normalize_before:
            src = self.norm1(src)
        output = src + self.dropout2(self.pos_ffn(self.norm2(src) if self.normalize_before else src))
        if not self.normalize_before:
            output = self.norm2(output)
        return output, None


class TransformerEncoder(Transformer.TransformerEncoder):
    """SpeechBrain's Transformer encoder of :class:`TransformerEncoderLayer` (SummaryMixing, the default), or of
    SpeechBrain's own layers for a SpeechBrain attention type: one key gives a model or its MHSA twin.

    With SummaryMixing it takes dynamic chunk training and streams (SpeechBrain's Transformer encoder does
    neither), through SpeechBrain's Conformer encoder loops, which pass the chunk configuration to each layer;
    otherwise the loop is SpeechBrain's Transformer one. With ``output_hidden_states`` the third output is
    ``[input] + [output of each layer that ran]`` (the last one before the final LayerNorm), as in SpeechBrain.

    Arguments
    ---------
    num_layers : int
        Number of layers.
    nhead : int
        Number of heads of the mixer.
    d_ffn : int
        Hidden size of the feed-forward networks.
    input_shape : tuple, optional
        Unused, as in SpeechBrain.
    d_model : int
        Embedding dimension size.
    kdim, vdim : int, optional
        Dimension of the keys and values (regularMHA only).
    dropout : float
        Dropout.
    activation : torch.nn.Module
        Activation of the feed-forward networks (and of the cell).
    normalize_before : bool
        Pre-LayerNorm (True) or post-LayerNorm (False) residual blocks.
    causal : bool
        Causal mixing.
    layerdrop_prob : float
        Probability of skipping each layer during training.
    attention_type : str
        ``"SummaryMixing"``, or a SpeechBrain type: regularMHA, RelPosMHAXL, hypermixing, RoPEMHA.
    ffn_type : str
        ``"regularFFN"`` or ``"1dcnn"``.
    ffn_cnn_kernel_size_list : list of int
        Kernel sizes of the two convolutions of a ``"1dcnn"`` feed-forward network.
    output_hidden_states : bool
        Whether to also return the hidden states.
    **summary_mixing_options
        The cell's options (see ``summarymixing.encoders.mixing.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

    Example
    -------
    >>> from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
    >>> encoder = TransformerEncoder(2, nhead=2, d_ffn=64, d_model=32, normalize_before=True).eval()
    >>> config = DynChunkTrainConfig(chunk_size=4, left_context_size=1)
    >>> x = torch.rand(1, 10, 32)
    >>> offline, _ = encoder(x, dynchunktrain_config=config)
    >>> context = encoder.make_streaming_context(config)
    >>> streamed = torch.cat([encoder.forward_streaming(c, context)[0] for c in x.split(4, dim=1)], dim=1)
    >>> torch.allclose(streamed, offline, atol=1e-5)
    True
    """

    def __init__(
        self, num_layers, nhead, d_ffn, input_shape=None, d_model=None, kdim=None, vdim=None, dropout=0.0,
        activation=torch.nn.ReLU, normalize_before=False, causal=False, layerdrop_prob=0.0,
        attention_type=SUMMARY_MIXING, ffn_type="regularFFN", ffn_cnn_kernel_size_list=(3, 3),
        output_hidden_states=False, **summary_mixing_options,
    ):  # fmt: skip
        check_mixer(attention_type, SPEECHBRAIN_TRANSFORMER_ATTENTIONS, type(self).__name__, summary_mixing_options)
        super().__init__(
            0, nhead, d_ffn, input_shape, d_model, kdim, vdim, dropout, activation, normalize_before, causal,
            layerdrop_prob, attention_type, ffn_type, list(ffn_cnn_kernel_size_list), output_hidden_states,
        )  # fmt: skip
        self.attention_type = attention_type  # read by SpeechBrain's Conformer loop, which SummaryMixing uses
        layers = []
        for _ in range(num_layers):
            if attention_type == SUMMARY_MIXING:
                layer = TransformerEncoderLayer(
                    d_ffn, nhead, d_model, kdim, vdim, dropout, activation, normalize_before, ffn_type,
                    ffn_cnn_kernel_size_list, causal, **summary_mixing_options,
                )  # fmt: skip
            else:
                layer = Transformer.TransformerEncoderLayer(
                    d_ffn, nhead, d_model, kdim, vdim, dropout, activation, normalize_before, attention_type,
                    ffn_type, list(ffn_cnn_kernel_size_list), causal,
                )  # fmt: skip
                recompute_activation_in_backward(layer.pos_ffn)
            layers.append(layer)
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, pos_embs=None, dynchunktrain_config=None):
        """SpeechBrain's encoder pass; with a chunk configuration, SpeechBrain's Conformer loop (SummaryMixing only).

        Arguments
        ---------
        src : torch.Tensor
            Input of shape (batch, time, d_model).
        src_mask : torch.Tensor, optional
            [time, time] attention mask (True or -inf = blocked).
        src_key_padding_mask : torch.Tensor, optional
            (batch, time) bool, True = padding.
        pos_embs : torch.Tensor, optional
            Positional embeddings for RelPosMHAXL.
        dynchunktrain_config : DynChunkTrainConfig, optional
            Dynamic chunk training (SummaryMixing only, as SpeechBrain's Transformer attention refuses it).

        Returns
        -------
        output : torch.Tensor
            Encoder output (after the final LayerNorm).
        attention_lst : list
            Attention weights of each layer that ran (None for SummaryMixing).
        hidden_state_lst : list of torch.Tensor
            Only with ``output_hidden_states``: the input, then each layer's output.
        """
        if dynchunktrain_config is None:
            return super().forward(src, src_mask, src_key_padding_mask, pos_embs)
        if self.attention_type != SUMMARY_MIXING:
            raise ValueError(
                f"SpeechBrain's Transformer encoder with {self.attention_type} takes no dynamic chunk "
                "training (SummaryMixing does)"
            )
        return ConformerEncoder.forward(self, src, src_mask, src_key_padding_mask, pos_embs, dynchunktrain_config)

    def forward_streaming(self, src, context, pos_embs=None):
        """Processes one chunk of a stream, updating ``context`` (SpeechBrain's Conformer streaming loop).

        Arguments
        ---------
        src : torch.Tensor
            One chunk of shape (batch, chunk_size, d_model).
        context : ConformerEncoderStreamingContext
            From ``make_streaming_context``.
        pos_embs : torch.Tensor, optional
            Unused.

        Returns
        -------
        output : torch.Tensor
            This chunk's output.
        attention_lst : list
            None per layer.
        """
        return ConformerEncoder.forward_streaming(self, src, context, pos_embs)

    def make_streaming_context(self, dynchunktrain_config):
        """A blank streaming context for the encoder (SpeechBrain's encoder context class; SummaryMixing only).

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size and left context in chunks (``None`` = unlimited).

        Returns
        -------
        ConformerEncoderStreamingContext
            One context per layer.
        """
        if self.attention_type != SUMMARY_MIXING:
            raise NotImplementedError(f"SpeechBrain's Transformer encoder with {self.attention_type} does not stream")
        return ConformerEncoderStreamingContext(
            dynchunktrain_config=dynchunktrain_config,
            layers=[layer.make_streaming_context(dynchunktrain_config) for layer in self.layers],
        )
