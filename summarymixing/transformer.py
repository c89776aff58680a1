"""SpeechBrain's plain Transformer encoder with SummaryMixing in place of self-attention (offline).

Authors
* SummaryMixing contributors 2026
"""

import torch
from speechbrain.lobes.models.transformer import Transformer

from summarymixing.mixer import SUMMARY_MIXING, build_summary_mixing, check_attention_type, mixer_chunk_config

SPEECHBRAIN_TRANSFORMER_ATTENTIONS = ("regularMHA", "RelPosMHAXL", "hypermixing", "RoPEMHA")


class TransformerEncoderLayer(Transformer.TransformerEncoderLayer):
    """SpeechBrain's Transformer layer whose ``self_att`` is the SummaryMixing cell (or a SpeechBrain attention).

    Arguments
    ---------
    d_ffn : int
        Hidden size of the feed-forward network.
    nhead : int
        Number of heads of the mixer.
    d_model : int
        The expected size of the input embedding.
    kdim : int, optional
        Dimension of the key (regularMHA only).
    vdim : int, optional
        Dimension of the value (regularMHA only).
    dropout : float
        Dropout for the layer and its mixer.
    activation : torch.nn.Module
        Activation of the feed-forward network.
    normalize_before : bool
        Pre-LayerNorm (True) or post-LayerNorm (False) residual blocks.
    attention_type : str
        ``"SummaryMixing"``, or a SpeechBrain type: regularMHA, RelPosMHAXL, hypermixing, RoPEMHA.
    ffn_type : str
        ``"regularFFN"`` or ``"1dcnn"``.
    ffn_cnn_kernel_size_list : list of int
        Kernel sizes of the two convolutions of a ``"1dcnn"`` feed-forward network.
    causal : bool
        With SummaryMixing, a causal (running-mean) summary.
    **summary_mixing_options
        The cell's options (see ``summarymixing.mixer.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

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
        self,
        d_ffn,
        nhead,
        d_model,
        kdim=None,
        vdim=None,
        dropout=0.0,
        activation=torch.nn.ReLU,
        normalize_before=False,
        attention_type=SUMMARY_MIXING,
        ffn_type="regularFFN",
        ffn_cnn_kernel_size_list=(3, 3),
        causal=False,
        **summary_mixing_options,
    ):
        check_attention_type(attention_type, SPEECHBRAIN_TRANSFORMER_ATTENTIONS, type(self).__name__)
        # For "SummaryMixing", SpeechBrain's constructor builds every module but the attention.
        super().__init__(
            d_ffn, nhead, d_model, kdim, vdim, dropout, activation, normalize_before, attention_type, ffn_type,
            list(ffn_cnn_kernel_size_list), causal,
        )  # fmt: skip
        self.attention_type = attention_type
        self.causal = causal
        if attention_type == SUMMARY_MIXING:
            self.self_att = build_summary_mixing(d_model, nhead, dropout, summary_mixing_options)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, pos_embs=None):
        """Applies the layer; SpeechBrain attention types run SpeechBrain's code.

        Arguments
        ---------
        src : torch.Tensor
            Input of shape (batch, time, d_model).
        src_mask : torch.Tensor, optional
            [time, time] attention mask (True or -inf = blocked); a causal SummaryMixing layer needs none.
        src_key_padding_mask : torch.Tensor, optional
            (batch, time) bool, True = padding.
        pos_embs : torch.Tensor, optional
            Positional embeddings for RelPosMHAXL.

        Returns
        -------
        output : torch.Tensor
            Output of shape (batch, time, d_model).
        attention : torch.Tensor or None
            SpeechBrain's attention weights; None for SummaryMixing.
        """
        if self.attention_type != SUMMARY_MIXING:
            return super().forward(src, src_mask, src_key_padding_mask, pos_embs)
        mixed, _ = self.self_att(
            self.norm1(src) if self.normalize_before else src,
            attn_mask=src_mask,
            key_padding_mask=src_key_padding_mask,
            dynchunktrain_config=mixer_chunk_config(self.causal, None),
        )
        src = src + self.dropout1(mixed)
        if not self.normalize_before:
            src = self.norm1(src)
        output = src + self.dropout2(self.pos_ffn(self.norm2(src) if self.normalize_before else src))
        if not self.normalize_before:
            output = self.norm2(output)
        return output, None


class TransformerEncoder(Transformer.TransformerEncoder):
    """SpeechBrain's Transformer encoder built from :class:`TransformerEncoderLayer`: SummaryMixing by default.

    Offline (SpeechBrain's Transformer encoder refuses dynamic chunk training). With ``output_hidden_states`` the
    third output is ``[input] + [output of each layer that ran]``, as in SpeechBrain.

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
    kdim : int, optional
        Dimension of the key (regularMHA only).
    vdim : int, optional
        Dimension of the value (regularMHA only).
    dropout : float
        Dropout.
    activation : torch.nn.Module
        Activation of the feed-forward networks.
    normalize_before : bool
        Pre-LayerNorm (True) or post-LayerNorm (False) residual blocks.
    causal : bool
        With SummaryMixing, a causal (running-mean) summary.
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
        The cell's options (see ``summarymixing.mixer.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

    Example
    -------
    >>> encoder = TransformerEncoder(2, nhead=2, d_ffn=64, d_model=32, normalize_before=True)
    >>> encoder(torch.rand(2, 10, 32))[0].shape
    torch.Size([2, 10, 32])
    """

    def __init__(
        self,
        num_layers,
        nhead,
        d_ffn,
        input_shape=None,
        d_model=None,
        kdim=None,
        vdim=None,
        dropout=0.0,
        activation=torch.nn.ReLU,
        normalize_before=False,
        causal=False,
        layerdrop_prob=0.0,
        attention_type=SUMMARY_MIXING,
        ffn_type="regularFFN",
        ffn_cnn_kernel_size_list=(3, 3),
        output_hidden_states=False,
        **summary_mixing_options,
    ):
        check_attention_type(attention_type, SPEECHBRAIN_TRANSFORMER_ATTENTIONS, type(self).__name__)
        super().__init__(
            0, nhead, d_ffn, input_shape, d_model, kdim, vdim, dropout, activation, normalize_before, causal,
            layerdrop_prob, attention_type, ffn_type, list(ffn_cnn_kernel_size_list), output_hidden_states,
        )  # fmt: skip
        self.attention_type = attention_type
        self.layers = torch.nn.ModuleList(
            TransformerEncoderLayer(
                d_ffn, nhead, d_model, kdim, vdim, dropout, activation, normalize_before, attention_type,
                ffn_type, ffn_cnn_kernel_size_list, causal, **summary_mixing_options,
            )  # fmt: skip
            for _ in range(num_layers)
        )
