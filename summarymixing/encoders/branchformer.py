"""SpeechBrain's Branchformer encoder with SummaryMixing in place of self-attention (the paper's SummaryMixing
Branchformer; offline, as SpeechBrain's Branchformer).

:class:`BranchformerEncoderLayer` is the published SummaryMixing Branchformer layer: SpeechBrain's layer with the
cell in its attention slot and the published merge of the two branches (an MLP, see
``summarymixing.encoders.mixing.summary_mixing_merge``). Padding never changes a valid frame: its convolution
branch reflects each sequence at its own end, not at the end of the padded batch. :class:`BranchformerEncoder`
builds these layers, or SpeechBrain's own for any SpeechBrain attention type; its loop is SpeechBrain's.

Authors
* SummaryMixing contributors 2026
"""

import torch
from speechbrain.lobes.models.transformer import Branchformer

from summarymixing.encoders.mixing import SUMMARY_MIXING, build_summary_mixing, check_mixer, summary_mixing_merge
from summarymixing.encoders.padding import reflect_at_lengths

SPEECHBRAIN_BRANCHFORMER_ATTENTIONS = ("regularMHA", "RelPosMHAXL", "hypermixing")


class BranchformerEncoderLayer(Branchformer.BranchformerEncoderLayer):
    """SpeechBrain's Branchformer layer whose ``mha_layer`` is the SummaryMixing cell and whose ``merge_proj`` is
    the published SummaryMixing Branchformer's MLP.

    Arguments
    ---------
    d_model : int
        The expected size of the input embedding.
    nhead : int
        Number of heads of the cell.
    kernel_size : int
        Kernel size of the convolution branch.
    kdim, vdim : int, optional
        Unused (SpeechBrain's signature).
    activation : torch.nn.Module
        Activation of the convolution branch, the merge and (unless ``mixing_activation``) the cell.
    dropout : float
        Dropout for the layer and its cell.
    csgu_linear_units : int
        Hidden size of the convolutional spatial gating unit.
    gate_activation : torch.nn.Module
        Activation at the gate of the CSGU.
    use_linear_after_conv : bool
        Whether the CSGU has a linear layer after its convolution.
    **summary_mixing_options
        The cell's options (see ``summarymixing.encoders.mixing.SUMMARY_MIXING_OPTIONS``); ``summary_hid_dim`` also
        sets the merge's hidden sizes, as published.

    Example
    -------
    >>> layer = BranchformerEncoderLayer(d_model=32, nhead=2, kernel_size=3, csgu_linear_units=64)
    >>> x = torch.rand(2, 10, 32)
    >>> out, _ = layer(x, src_key_padding_mask=torch.arange(10) >= torch.tensor([[10], [6]]))
    >>> torch.allclose(out[1, :6], layer(x[1:, :6])[0][0], atol=1e-5)
    True
    """

    def __init__(
        self, d_model, nhead, kernel_size=31, kdim=None, vdim=None, activation=torch.nn.GELU, dropout=0.0,
        csgu_linear_units=3072, gate_activation=torch.nn.Identity, use_linear_after_conv=False,
        **summary_mixing_options,
    ):  # fmt: skip
        check_mixer(SUMMARY_MIXING, (), type(self).__name__, summary_mixing_options)
        # SpeechBrain's constructor builds every module but the attention for a name it does not know.
        super().__init__(
            d_model, nhead, kernel_size, kdim, vdim, activation, dropout, SUMMARY_MIXING, csgu_linear_units,
            gate_activation, use_linear_after_conv,
        )  # fmt: skip
        self.mha_layer = build_summary_mixing(d_model, nhead, dropout, activation, summary_mixing_options)
        self.merge_proj = summary_mixing_merge(d_model, summary_mixing_options.get("summary_hid_dim"), activation)

    def forward(self, x, src_mask=None, src_key_padding_mask=None, pos_embs=None):
        """SpeechBrain's two-branch block with the cell, the published merge, and padding-exact convolutions.

        Arguments
        ---------
        x : torch.Tensor
            Input of shape (batch, time, d_model).
        src_mask : torch.Tensor, optional
            [time, time] context mask (True or -inf = blocked).
        src_key_padding_mask : torch.Tensor, optional
            (batch, time) bool, True = padding.
        pos_embs : torch.Tensor, optional
            Unused (SummaryMixing needs no positions).

        Returns
        -------
        output : torch.Tensor
            Output of shape (batch, time, d_model).
        None
            No attention weights.
        """
        mixed, _ = self.mha_layer(self.norm_mhsa(x), attn_mask=src_mask, key_padding_mask=src_key_padding_mask)
        lengths = None if src_key_padding_mask is None else (~src_key_padding_mask).sum(dim=1)
        convolved = self._convolution_branch(self.norm_conv(x), lengths)
        merged = self.merge_proj(torch.cat([self.dropout(mixed), self.dropout(convolved)], dim=-1))
        return x + self.dropout(merged), None

    def _convolution_branch(self, x, lengths):
        """SpeechBrain's convolution branch (channel projection, gating unit, projection back), with the depthwise
        convolution's input reflected at each sequence's own end, as the sequence alone gets it."""
        branch, gating = self.convolution_branch, self.convolution_branch.csgu
        x = branch.activation(branch.pre_channel_proj(x))
        gate, value = x.chunk(2, dim=-1)
        value = gating.norm(value)
        if lengths is not None:
            reach = (gating.conv.kernel_size - 1) // 2 * gating.conv.dilation
            value = reflect_at_lengths(value, lengths, reach)
        value = gating.conv(value)
        if gating.use_linear_after_conv:
            value = gating.linear(value)
        return branch.post_channel_proj(gating.dropout(gating.activation(value) * gate))


class BranchformerEncoder(Branchformer.BranchformerEncoder):
    """SpeechBrain's Branchformer encoder of :class:`BranchformerEncoderLayer` (SummaryMixing, the default), or of
    SpeechBrain's own layers for a SpeechBrain attention type: one key gives a model or its MHSA twin.

    Offline only (SpeechBrain's Branchformer refuses dynamic chunk training); the loop, layerdrop and
    ``output_hidden_states`` (``[input] + [output of each layer that ran]``) are SpeechBrain's.

    Arguments
    ---------
    num_layers : int
        Number of layers.
    d_model : int
        Embedding dimension size.
    nhead : int
        Number of heads of the mixer.
    kernel_size : int
        Kernel size of the convolution branches.
    kdim, vdim : int, optional
        Dimension of the keys and values (regularMHA only).
    activation : torch.nn.Module
        Activation of the convolution branches (and of the cell and merge).
    dropout : float
        Dropout.
    attention_type : str
        ``"SummaryMixing"``, or a SpeechBrain type: regularMHA, RelPosMHAXL, hypermixing.
    csgu_linear_units : int
        Hidden size of the convolutional spatial gating units.
    gate_activation : torch.nn.Module
        Activation at the gate of the CSGU.
    use_linear_after_conv : bool
        Whether the CSGU has a linear layer after its convolution.
    output_hidden_states : bool
        Whether to also return the hidden states.
    layerdrop_prob : float
        Probability of skipping each layer during training.
    **summary_mixing_options
        The cell's options (see ``summarymixing.encoders.mixing.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

    Example
    -------
    >>> encoder = BranchformerEncoder(2, d_model=32, nhead=2, kernel_size=3, csgu_linear_units=64,
    ...                               mode="SummaryMixing-lite", output_hidden_states=True)
    >>> output, _, hidden_states = encoder(torch.rand(2, 10, 32))
    >>> output.shape, len(hidden_states)
    (torch.Size([2, 10, 32]), 3)
    """

    def __init__(
        self, num_layers, d_model, nhead, kernel_size=31, kdim=None, vdim=None, activation=torch.nn.GELU,
        dropout=0.0, attention_type=SUMMARY_MIXING, csgu_linear_units=3072, gate_activation=torch.nn.Identity,
        use_linear_after_conv=False, output_hidden_states=False, layerdrop_prob=0.0, **summary_mixing_options,
    ):  # fmt: skip
        check_mixer(attention_type, SPEECHBRAIN_BRANCHFORMER_ATTENTIONS, type(self).__name__, summary_mixing_options)
        super().__init__(
            0, d_model, nhead, kernel_size, kdim, vdim, activation, dropout, attention_type, csgu_linear_units,
            gate_activation, use_linear_after_conv, output_hidden_states, layerdrop_prob,
        )  # fmt: skip
        common = (d_model, nhead, kernel_size, kdim, vdim, activation, dropout)
        gating = (csgu_linear_units, gate_activation, use_linear_after_conv)
        if attention_type == SUMMARY_MIXING:
            layers = [BranchformerEncoderLayer(*common, *gating, **summary_mixing_options) for _ in range(num_layers)]
        else:
            layers = [
                Branchformer.BranchformerEncoderLayer(*common, attention_type, *gating) for _ in range(num_layers)
            ]
        self.layers = torch.nn.ModuleList(layers)
