"""What the encoders share about their token mixer: the attention names, the cell's options and how a layer
builds its cell, the streaming context of a SummaryMixing layer, and its chunk configuration.

Each encoder builds SummaryMixing layers (this package's classes) for ``attention_type="SummaryMixing"`` and
SpeechBrain's own layers, unchanged, for SpeechBrain's attention names: one YAML key gives a model or its MHSA twin.

Authors
* SummaryMixing contributors 2026
"""

from dataclasses import dataclass
from typing import Any

import torch
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing.cell import SummaryMixing

SUMMARY_MIXING = "SummaryMixing"
"""The ``attention_type`` that selects the SummaryMixing cell."""

SUMMARY_MIXING_OPTIONS = (
    "local_proj_hid_dim",
    "local_proj_out_dim",
    "summary_hid_dim",
    "summary_out_dim",
    "mixing_activation",
    "mixing_dropout",
    "mode",
    "use_layernorm",
    "decay_constant",
)
"""Keyword arguments our encoders pass to the cell; ``mixing_activation`` and ``mixing_dropout`` are the cell's
``activation`` and ``dropout`` (renamed because ``activation`` and ``dropout`` already name the layer's, which the
cell uses when they are not given: the published SpeechBrain 1.0 cell; the SpeechBrain 0.5 cell behind
2307.07421's Table 1 has no dropout, ``mixing_dropout: 0.0``)."""

CAUSAL_MIXING = DynChunkTrainConfig(chunk_size=1, left_context_size=None)
"""A causal summary is a chunked summary with one-frame chunks and unlimited left context: linear time, no mask."""


@dataclass
class SummaryMixingLayerStreamingContext:
    """Streaming state of one encoder layer that mixes with SummaryMixing.

    No input frames are cached for the mixer: a chunk's cost does not depend on the stream's length or on the
    left context.
    """

    mixer_state: Any
    """The cell's own streaming state (from ``SummaryMixing.make_streaming_state``)."""

    dcconv_left_context: torch.Tensor | None = None
    """The depthwise convolution's input at the last ``padding`` frames (Conformer only), ``[batch, channels,
    padding]``; None before the first chunk (see ``summarymixing.encoders.conformer.convolve_streaming``)."""


def check_mixer(attention_type, speechbrain_types, owner, summary_mixing_options):
    """Raises a clear error, naming ``owner``, for an unknown attention type or SummaryMixing option (options are
    checked whatever the attention type, so a typo does not pass unnoticed in a baseline's YAML).

    Arguments
    ---------
    attention_type : str
        The requested mixer.
    speechbrain_types : tuple of str
        The SpeechBrain attention names that ``owner`` builds.
    owner : str
        Class name for the message.
    summary_mixing_options : dict
        The SummaryMixing options given to ``owner``.

    Example
    -------
    >>> check_mixer("RelPosMHAXL", ("regularMHA", "RelPosMHAXL"), "Demo", {"mode": "SummaryMixing-lite"})
    >>> check_mixer("RoPE", ("regularMHA",), "Demo", {})
    Traceback (most recent call last):
    ...
    ValueError: Demo: unknown attention_type 'RoPE'; expected 'SummaryMixing' or one of ('regularMHA',)
    >>> check_mixer("RelPosMHAXL", ("RelPosMHAXL",), "Demo", {"mdoe": "SummaryMixing"})
    Traceback (most recent call last):
    ...
    TypeError: Demo: unknown SummaryMixing option(s) ['mdoe']; expected some of ('local_proj_hid_dim', ...)
    """
    if attention_type != SUMMARY_MIXING and attention_type not in speechbrain_types:
        raise ValueError(
            f"{owner}: unknown attention_type {attention_type!r}; "
            f"expected {SUMMARY_MIXING!r} or one of {tuple(speechbrain_types)}"
        )
    unknown = sorted(set(summary_mixing_options) - set(SUMMARY_MIXING_OPTIONS))
    if unknown:
        raise TypeError(
            f"{owner}: unknown SummaryMixing option(s) {unknown}; expected some of {SUMMARY_MIXING_OPTIONS}"
        )


def build_summary_mixing(d_model, nhead, dropout, activation, summary_mixing_options, cell_class=SummaryMixing):
    """Builds the cell of an encoder layer as the published encoders do: the layer's sizes, dropout and
    activation, and the user's SummaryMixing options.

    Arguments
    ---------
    d_model : int
        Feature size of the layer.
    nhead : int
        Number of heads of the cell.
    dropout : float
        The layer's dropout: the cell's unless ``mixing_dropout`` is given.
    activation : type
        The layer's activation: the cell's unless ``mixing_activation`` is given.
    summary_mixing_options : dict
        Keys from ``SUMMARY_MIXING_OPTIONS`` (checked by ``check_mixer``); a None value counts as not given.
    cell_class : type
        The cell's class (``SummaryMixing``, or a subclass such as :class:`CausalSummaryMixing`).

    Returns
    -------
    SummaryMixing
        The cell; branch sizes not given are ``d_model`` (one hidden layer), and ``summary_out_dim`` is
        ``d_model``, as in the published encoders.

    Example
    -------
    >>> cell = build_summary_mixing(16, 2, 0.0, torch.nn.GELU, {"mode": "SummaryMixing-lite"})
    >>> cell(torch.rand(1, 5, 16))[0].shape
    torch.Size([1, 5, 16])
    """
    given = {key: value for key, value in summary_mixing_options.items() if value is not None}
    options = dict(
        local_proj_hid_dim=[d_model],
        local_proj_out_dim=d_model,
        summary_hid_dim=[d_model],
        summary_out_dim=d_model,
        activation=given.pop("mixing_activation", activation),
        dropout=given.pop("mixing_dropout", dropout),
    )
    options.update(given)
    return cell_class(enc_dim=d_model, nhead=nhead, **options)


def mixer_chunk_config(causal, dynchunktrain_config):
    """The chunk configuration a layer gives its cell: the training one, or one-frame chunks when causal.

    Arguments
    ---------
    causal : bool
        Whether the layer is causal.
    dynchunktrain_config : DynChunkTrainConfig or None
        Dynamic chunk training configuration of this step.

    Returns
    -------
    DynChunkTrainConfig or None
        What to pass to the cell as ``dynchunktrain_config``.

    Example
    -------
    >>> mixer_chunk_config(True, None)
    DynChunkTrainConfig(chunk_size=1, left_context_size=None)
    """
    if causal:
        if dynchunktrain_config is not None:
            raise ValueError("a causal encoder cannot also use dynamic chunk training (as in SpeechBrain)")
        return CAUSAL_MIXING
    return dynchunktrain_config


def summary_mixing_merge(d_model, summary_hid_dim, activation):
    """The published SummaryMixing Branchformer's merge of its two branches: an MLP from the concatenation
    ``[mixer; convolution]`` (2 ``d_model``) through ``summary_hid_dim`` to ``d_model``, every layer followed by
    ``activation`` (SpeechBrain's Branchformer merges with one linear layer).

    Arguments
    ---------
    d_model : int
        Feature size of the layer.
    summary_hid_dim : list of int or None
        Hidden sizes (None: ``[d_model]``, the cell's default).
    activation : type
        Activation class.

    Returns
    -------
    torch.nn.Sequential

    Example
    -------
    >>> summary_mixing_merge(8, None, torch.nn.GELU)
    Sequential(
      (0): Linear(in_features=16, out_features=8, bias=True)
      (1): GELU(approximate='none')
      (2): Linear(in_features=8, out_features=8, bias=True)
      (3): GELU(approximate='none')
    )
    """
    sizes = [2 * d_model] + list(summary_hid_dim if summary_hid_dim is not None else [d_model]) + [d_model]
    layers = []
    for size_in, size_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(size_in, size_out), activation()]
    return torch.nn.Sequential(*layers)


class CausalSummaryMixing(SummaryMixing):
    """SummaryMixing in place of a Transformer decoder's self-attention (the "summary decoder" of arXiv
    2307.07421, Table 1): token t mixes with the summary of tokens 0..t, in linear time and exact under padding.

    It has the attention interface SpeechBrain's decoder layers call; the look-ahead mask they pass is not needed
    (causality is the chunked summary with one-token chunks, :data:`CAUSAL_MIXING`) and is only checked to be one.
    Arguments are :class:`~summarymixing.cell.SummaryMixing`'s.

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Transformer import get_lookahead_mask
    >>> mixer = CausalSummaryMixing(8, 2, [8], 8, [8], 8).eval()
    >>> tokens = torch.randn(1, 5, 8)
    >>> out = mixer(tokens, tokens, tokens, attn_mask=get_lookahead_mask(tokens))[0]
    >>> torch.allclose(out[:, :3], mixer(tokens[:, :3])[0], atol=1e-6)  # the future never changes the past
    True
    """

    def forward(self, query, key=None, value=None, attn_mask=None, key_padding_mask=None, **kwargs):
        """Mixes ``query`` [B, T, d] causally; ``attn_mask``, if given, must be the [T, T] look-ahead mask."""
        if attn_mask is not None:
            time = query.shape[1]
            blocked = attn_mask if attn_mask.dtype == torch.bool else attn_mask == float("-inf")
            future = torch.ones(time, time, dtype=torch.bool, device=blocked.device).triu(1)
            if blocked.shape != (time, time) or not torch.equal(blocked, future):
                raise ValueError("CausalSummaryMixing: attn_mask must be the look-ahead mask of its input, or None")
        return super().forward(query, key_padding_mask=key_padding_mask, dynchunktrain_config=CAUSAL_MIXING)
