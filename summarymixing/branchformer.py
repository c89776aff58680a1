"""SpeechBrain's Branchformer encoder with SummaryMixing in place of self-attention (the paper's SummaryMixing
Branchformer; offline, as SpeechBrain's Branchformer).

Authors
* SummaryMixing contributors 2026
"""

import torch
from speechbrain.lobes.models.transformer import Branchformer

from summarymixing.mixer import SUMMARY_MIXING, build_summary_mixing, check_mixer

SPEECHBRAIN_BRANCHFORMER_ATTENTIONS = ("regularMHA", "RelPosMHAXL", "hypermixing")


class BranchformerEncoderLayer(Branchformer.BranchformerEncoderLayer):
    """SpeechBrain's Branchformer layer whose ``mha_layer`` is the SummaryMixing cell (or a SpeechBrain attention).

    Arguments
    ---------
    d_model : int
        The expected size of the input embedding.
    nhead : int
        Number of heads of the mixer.
    kernel_size : int
        Kernel size of the convolution branch.
    kdim : int, optional
        Dimension of the key (regularMHA only).
    vdim : int, optional
        Dimension of the value (regularMHA only).
    activation : torch.nn.Module
        Activation of the convolution branch.
    dropout : float
        Dropout for the layer and its mixer.
    attention_type : str
        ``"SummaryMixing"``, or a SpeechBrain type: regularMHA, RelPosMHAXL, hypermixing.
    csgu_linear_units : int
        Hidden size of the convolutional spatial gating unit.
    gate_activation : torch.nn.Module
        Activation at the gate of the CSGU.
    use_linear_after_conv : bool
        Whether the CSGU has a linear layer after its convolution.
    **summary_mixing_options
        The cell's options (see ``summarymixing.mixer.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

    Example
    -------
    >>> layer = BranchformerEncoderLayer(d_model=32, nhead=2, kernel_size=3, csgu_linear_units=64)
    >>> layer(torch.rand(2, 10, 32))[0].shape
    torch.Size([2, 10, 32])
    """

    def __init__(
        self,
        d_model,
        nhead,
        kernel_size=31,
        kdim=None,
        vdim=None,
        activation=torch.nn.GELU,
        dropout=0.0,
        attention_type=SUMMARY_MIXING,
        csgu_linear_units=3072,
        gate_activation=torch.nn.Identity,
        use_linear_after_conv=False,
        **summary_mixing_options,
    ):
        check_mixer(attention_type, SPEECHBRAIN_BRANCHFORMER_ATTENTIONS, type(self).__name__, summary_mixing_options)
        # For "SummaryMixing", SpeechBrain's constructor builds every module but the attention.
        super().__init__(
            d_model, nhead, kernel_size, kdim, vdim, activation, dropout, attention_type,
            csgu_linear_units, gate_activation, use_linear_after_conv,
        )  # fmt: skip
        self.attention_type = attention_type
        if attention_type == SUMMARY_MIXING:
            self.mha_layer = build_summary_mixing(d_model, nhead, dropout, summary_mixing_options)

    def forward(self, x, src_mask=None, src_key_padding_mask=None, pos_embs=None):
        """Applies SpeechBrain's layer; with SummaryMixing, padding never changes a valid frame's output.

        SpeechBrain's convolution branch ignores padding: its depthwise convolution reflects at the end of the
        padded tensor, not at the end of each sequence. With SummaryMixing (every valid frame then sees every
        other), that would let padding reach all frames; so each sequence's convolution input is reflected at
        its own end, which is what the same sequence without padding gets.

        Arguments
        ---------
        x : torch.Tensor
            Input of shape (batch, time, d_model).
        src_mask : torch.Tensor, optional
            [time, time] attention mask (True or -inf = blocked).
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
        if self.attention_type != SUMMARY_MIXING or src_key_padding_mask is None:
            return super().forward(x, src_mask, src_key_padding_mask, pos_embs)
        depthwise = self.convolution_branch.csgu.conv
        reach = (depthwise.kernel_size - 1) // 2 * depthwise.dilation
        lengths = (~src_key_padding_mask).sum(dim=1)
        hook = depthwise.register_forward_pre_hook(
            lambda module, inputs: (reflect_at_lengths(inputs[0], lengths, reach),)
        )
        try:
            return super().forward(x, src_mask, src_key_padding_mask, pos_embs)
        finally:
            hook.remove()


def reflect_at_lengths(x, lengths, reach):
    """Overwrites the ``reach`` frames after each sequence's end with its reflection (as ``F.pad(mode="reflect")``
    pads a sequence on its own), so a "same" reflect-padded convolution gives each valid frame the value it has
    without padding.

    Arguments
    ---------
    x : torch.Tensor
        Padded batch (batch, time, channels).
    lengths : torch.Tensor
        Number of valid frames of each sequence (batch,).
    reach : int
        How many frames past its end a sequence's last valid output sees.

    Returns
    -------
    torch.Tensor
        ``x`` with frames ``L .. L + reach - 1`` replaced by frames ``L - 2, L - 3, ...``.

    Example
    -------
    >>> x = torch.arange(6.0).view(1, 6, 1)
    >>> reflect_at_lengths(x, torch.tensor([3]), reach=2).flatten().tolist()
    [0.0, 1.0, 2.0, 1.0, 0.0, 5.0]
    """
    steps = torch.arange(x.shape[1], device=x.device)[None]
    past_end = steps - lengths[:, None]
    mirrored = (lengths[:, None] - 2 - past_end).clamp(min=0)
    source = torch.where((past_end >= 0) & (past_end < reach), mirrored, steps)
    return x.gather(1, source[:, :, None].expand(-1, -1, x.shape[2]))


class BranchformerEncoder(Branchformer.BranchformerEncoder):
    """SpeechBrain's Branchformer encoder built from :class:`BranchformerEncoderLayer`: SummaryMixing by default.

    Offline only (SpeechBrain's Branchformer refuses dynamic chunk training). With ``output_hidden_states`` the
    third output is ``[input] + [output of each layer that ran]``, as in SpeechBrain.

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
    kdim : int, optional
        Dimension of the key (regularMHA only).
    vdim : int, optional
        Dimension of the value (regularMHA only).
    activation : torch.nn.Module
        Activation of the convolution branches.
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
        The cell's options (see ``summarymixing.mixer.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

    Example
    -------
    >>> encoder = BranchformerEncoder(2, d_model=32, nhead=2, kernel_size=3, csgu_linear_units=64,
    ...                               mode="SummaryMixing-lite", output_hidden_states=True)
    >>> output, _, hidden_states = encoder(torch.rand(2, 10, 32))
    >>> output.shape, len(hidden_states)
    (torch.Size([2, 10, 32]), 3)
    """

    def __init__(
        self,
        num_layers,
        d_model,
        nhead,
        kernel_size=31,
        kdim=None,
        vdim=None,
        activation=torch.nn.GELU,
        dropout=0.0,
        attention_type=SUMMARY_MIXING,
        csgu_linear_units=3072,
        gate_activation=torch.nn.Identity,
        use_linear_after_conv=False,
        output_hidden_states=False,
        layerdrop_prob=0.0,
        **summary_mixing_options,
    ):
        check_mixer(attention_type, SPEECHBRAIN_BRANCHFORMER_ATTENTIONS, type(self).__name__, summary_mixing_options)
        super().__init__(
            0, d_model, nhead, kernel_size, kdim, vdim, activation, dropout, attention_type, csgu_linear_units,
            gate_activation, use_linear_after_conv, output_hidden_states, layerdrop_prob,
        )  # fmt: skip
        self.layers = torch.nn.ModuleList(
            BranchformerEncoderLayer(
                d_model, nhead, kernel_size, kdim, vdim, activation, dropout, attention_type, csgu_linear_units,
                gate_activation, use_linear_after_conv, **summary_mixing_options,
            )  # fmt: skip
            for _ in range(num_layers)
        )
