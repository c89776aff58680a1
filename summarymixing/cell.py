"""The SummaryMixing cell: a linear-time drop-in replacement for multi-head self-attention.

SummaryMixing (Parcollet, van Dalen, Zhang, Bhattacharya, arXiv 2307.07421) replaces self-attention by

    out_t = c([f(x_t); mean_{t' in context(t)} s(x_t')])

where ``f`` (the local branch) and ``s`` (the summary branch) are per-frame MLPs and ``c`` (the combiner) maps
back to the model width. The context of frame t is the whole (unpadded) utterance, or, with a dynamic-chunk
configuration, its own chunk and a number of chunks on its left.

This module depends only on torch and the standard library, so it can be copied alone into any project.

Implementation notes
--------------------
* The combiner is ``c(z) = act(W z + b)`` with ``z = [f(x_t); m_t]``. Since ``W z = W_f f(x_t) + W_m m_t``, the
  summary half ``W_m m + b`` is computed once per utterance (or per chunk, or per streamed chunk) and added to the
  per-frame local half: the per-frame cost does not depend on the summary width.
* Multi-head: the features are split into ``nhead`` groups; each layer of ``f`` and ``s`` has one weight per
  head (a block-diagonal weight), applied as one batched matmul over a leading head dimension. The combiner is a
  dense projection over the concatenated heads (it mixes the heads, as the output projection of attention does).
  The first layers of ``f`` and ``s`` read the same input: they run as one batched matmul with each head's two
  weights side by side (a wider matmul, one activation call, one input-gradient matmul instead of two and a sum).
* The time sum is accumulated in float32 when the branches run in float16/bfloat16 (autocast), and padded
  frames are zeroed (not multiplied) before the sum, so nothing in a padded frame can reach a valid frame.
* Dynamic-chunk summaries use chunk sums and prefix sums over chunks: cost linear in time, no [T, T] tensor.

Authors
-------
* The summarymixing contributors (2026)
"""

import math
from dataclasses import dataclass, field
from typing import List, Optional

import torch
from torch import nn

MODES = ("SummaryMixing", "SummaryMixing-lite", "SummaryMixing-fast")


class HeadwiseLinear(nn.Module):
    """``nhead`` independent linear maps, one per feature group, run as one batched matmul.

    Equivalent to a linear layer with a block-diagonal weight. Each head's weight is initialised like an
    ``nn.Linear`` with that head's fan-in (uniform in +-1/sqrt(in_features / nhead)); biases start at zero.

    Arguments
    ---------
    nhead : int
        Number of heads (feature groups).
    in_features : int
        Total input size (all heads), divisible by ``nhead``.
    out_features : int
        Total output size (all heads), divisible by ``nhead``.

    Example
    -------
    >>> layer = HeadwiseLinear(nhead=2, in_features=8, out_features=6)
    >>> layer(torch.randn(2, 5, 4)).shape
    torch.Size([2, 5, 3])
    """

    def __init__(self, nhead, in_features, out_features):
        super().__init__()
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            if size % nhead != 0:
                raise ValueError(f"{name}={size} is not divisible by nhead={nhead}")
        self.nhead = nhead
        self.weight = nn.Parameter(torch.empty(nhead, in_features // nhead, out_features // nhead))
        self.bias = nn.Parameter(torch.zeros(nhead, 1, out_features // nhead))
        bound = 1.0 / math.sqrt(in_features // nhead)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x):
        """Applies each head's map to its own features.

        Arguments
        ---------
        x : torch.Tensor
            Head-major input [nhead, N, in_features / nhead] (any strides).

        Returns
        -------
        torch.Tensor
            [nhead, N, out_features / nhead].
        """
        return _headwise([self], x)


@dataclass
class SummaryMixingStreamingState:
    """What a :class:`SummaryMixing` cell remembers between streamed chunks.

    Build it with :meth:`SummaryMixing.make_streaming_state`. The memory is O(left context), never O(stream).

    Arguments
    ---------
    left_context_chunks : int, optional
        How many past chunks each frame may see; None = the whole past.
    running_sum : torch.Tensor, optional
        Unlimited context: sum of the summary branch over all past frames, [nhead, B, summary_out_dim / nhead].
    running_count : torch.Tensor, optional
        Unlimited context: number of past valid frames per batch element, [B].
    chunk_sums : list of torch.Tensor
        Limited context: the sums of the last ``left_context_chunks`` chunks, oldest first.
    chunk_counts : list of torch.Tensor
        Limited context: their valid-frame counts, [B] each.
    """

    left_context_chunks: Optional[int] = None
    running_sum: Optional[torch.Tensor] = None
    running_count: Optional[torch.Tensor] = None
    chunk_sums: List[torch.Tensor] = field(default_factory=list)
    chunk_counts: List[torch.Tensor] = field(default_factory=list)


class SummaryMixing(nn.Module):
    """SummaryMixing (arXiv 2307.07421): linear-time token mixing with a drop-in self-attention interface.

    Modes:

    * ``"SummaryMixing"``: ``out_t = c([f(x_t); mean s(x)])``, with MLPs ``f`` (hidden sizes
      ``local_proj_hid_dim``, output ``local_proj_out_dim``) and ``s`` (``summary_hid_dim``,
      ``summary_out_dim``); every layer of ``f`` and ``s`` is followed by ``activation`` and dropout.
    * ``"SummaryMixing-lite"``: no local branch, ``out_t = c(mean s(x))``.
    * ``"SummaryMixing-fast"``: a single projection of ``x`` (one layer, then ``activation``) gives both the
      local stream (``local_proj_out_dim`` features) and the summary stream (``summary_out_dim`` features);
      the hidden sizes are not used.

    The combiner is ``c(z) = activation(Linear(z))`` back to ``enc_dim``. With ``use_layernorm``, the local
    branch output (per frame) and the summary (after the mean) are layer-normalised before the combiner.

    Arguments
    ---------
    enc_dim : int
        Input and output feature size (d_model).
    nhead : int
        Number of heads of ``f`` and ``s`` (default 1): ``enc_dim`` and every branch size must be divisible by
        it.
    local_proj_hid_dim : list of int
        Hidden sizes of the local branch ``f`` (any depth, may be empty; default [512]).
    local_proj_out_dim : int
        Output size of ``f`` (default 512).
    summary_hid_dim : list of int
        Hidden sizes of the summary branch ``s`` (any depth, may be empty; default [512]).
    summary_out_dim : int
        Output size of ``s`` (default 512). The default sizes are those of the paper's d_model 512 models.
    activation : type
        Activation class, instantiated without arguments (default ``torch.nn.GELU``).
    dropout : float
        Dropout after every activation of ``f`` and ``s`` (default 0.0).
    mode : str
        ``"SummaryMixing"`` (default), ``"SummaryMixing-lite"`` or ``"SummaryMixing-fast"``.
    use_layernorm : bool
        LayerNorm on the local branch output and on the summary (default True).

    Example
    -------
    >>> cell = SummaryMixing(enc_dim=16, nhead=2, local_proj_hid_dim=[16], local_proj_out_dim=16,
    ...                      summary_hid_dim=[16], summary_out_dim=16)
    >>> x = torch.randn(3, 10, 16)
    >>> out, weights = cell(x, x, x, key_padding_mask=torch.arange(10) >= torch.tensor([[10], [7], [4]]))
    >>> out.shape, weights
    (torch.Size([3, 10, 16]), None)
    """

    def __init__(
        self,
        enc_dim,
        nhead=1,
        local_proj_hid_dim=(512,),
        local_proj_out_dim=512,
        summary_hid_dim=(512,),
        summary_out_dim=512,
        activation=nn.GELU,
        dropout=0.0,
        mode="SummaryMixing",
        use_layernorm=True,
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown SummaryMixing mode {mode!r}; expected one of {', '.join(MODES)}")
        for name, size in (
            ("enc_dim", enc_dim),
            ("local_proj_out_dim", local_proj_out_dim),
            ("summary_out_dim", summary_out_dim),
            *((f"local_proj_hid_dim[{i}]", s) for i, s in enumerate(local_proj_hid_dim)),
            *((f"summary_hid_dim[{i}]", s) for i, s in enumerate(summary_hid_dim)),
        ):
            if size <= 0 or size % nhead != 0:
                raise ValueError(f"{name}={size} must be a positive multiple of nhead={nhead}")
        self.enc_dim = enc_dim
        self.nhead = nhead
        self.mode = mode
        self.local_dim = 0 if mode == "SummaryMixing-lite" else local_proj_out_dim
        self.summary_dim = summary_out_dim
        self.activation = activation()
        self.dropout = nn.Dropout(dropout)

        if mode == "SummaryMixing-fast":
            self.local_layers = nn.ModuleList()
            self.summary_layers = nn.ModuleList(
                [HeadwiseLinear(nhead, enc_dim, local_proj_out_dim + summary_out_dim)]
            )
        else:
            self.summary_layers = self._mlp(enc_dim, list(summary_hid_dim) + [summary_out_dim])
            self.local_layers = (
                nn.ModuleList()
                if mode == "SummaryMixing-lite"
                else self._mlp(enc_dim, list(local_proj_hid_dim) + [local_proj_out_dim])
            )
        self.local_norm = nn.LayerNorm(self.local_dim) if use_layernorm and self.local_dim else nn.Identity()
        self.summary_norm = nn.LayerNorm(summary_out_dim) if use_layernorm else nn.Identity()
        self.combiner = nn.Linear(self.local_dim + summary_out_dim, enc_dim)
        nn.init.zeros_(self.combiner.bias)

    def _mlp(self, in_dim, sizes):
        dims = [in_dim] + sizes
        return nn.ModuleList(HeadwiseLinear(self.nhead, i, o) for i, o in zip(dims[:-1], dims[1:]))

    def _run(self, layers, x):
        for layer in layers:
            x = self._activate(layer(x))
        return x

    def _activate(self, x):
        return self.dropout(self.activation(x))

    # ---------------------------------------------------------------------------------------------------------
    # Public interface

    def forward(
        self,
        query,
        key=None,
        value=None,
        attn_mask=None,
        key_padding_mask=None,
        return_attn_weights=True,
        pos_embs=None,
        dynchunktrain_config=None,
    ):
        """Mixes the frames of ``query`` (SpeechBrain attention interface).

        Arguments
        ---------
        query : torch.Tensor
            Input [B, T, enc_dim].
        key, value : torch.Tensor, optional
            Ignored (self-mixing of ``query``); accepted for drop-in compatibility with attention.
        attn_mask : torch.Tensor, optional
            [T, T] context mask: bool (True = frame t may not use frame t') or float additive (0 = allowed,
            -inf = blocked, as SpeechBrain's ``get_lookahead_mask``). This general path costs O(T^2); prefer
            ``dynchunktrain_config`` for chunked context.
        key_padding_mask : torch.Tensor, optional
            Bool [B, T], True = padding. Padded frames never influence valid frames; a row of padding only
            gives a finite output (its summary is zero).
        return_attn_weights : bool
            Ignored: there are no attention weights, ``None`` is returned.
        pos_embs : torch.Tensor, optional
            Ignored (SummaryMixing needs no positional embedding).
        dynchunktrain_config : object, optional
            Any object with ``chunk_size`` (frames) and ``left_context_size`` (chunks, None = unlimited), such
            as ``speechbrain.utils.dynamic_chunk_training.DynChunkTrainConfig``. Frame t in chunk k then
            summarises chunks max(0, k - left_context_size) .. k, in linear time. It takes precedence over
            ``attn_mask`` (SpeechBrain builds the equivalent mask from the same configuration).

        Returns
        -------
        output : torch.Tensor
            [B, T, enc_dim].
        None
            In place of attention weights.
        """
        batch, time = self._check_input(query, "query")
        pad = self._check_padding_mask(key_padding_mask, batch, time, "key_padding_mask")
        local, summary = self._branches(query)
        if dynchunktrain_config is not None:
            chunk_size, left = self._check_chunk_config(dynchunktrain_config)
            sums, counts = self._chunk_sums(summary, pad, chunk_size)
            sums, counts = _window_sums(sums, counts, left)
        elif attn_mask is not None:
            chunk_size = 1
            sums, counts = self._masked_sums(summary, pad, self._check_attn_mask(attn_mask, time))
        else:
            chunk_size = time
            sums, counts = self._chunk_sums(summary, pad, max(time, 1))
        return self._mix(local, sums, counts, chunk_size, batch, time), None

    def make_streaming_state(self, left_context_chunks=None):
        """Creates an empty state for :meth:`forward_streaming`.

        Arguments
        ---------
        left_context_chunks : int, optional
            How many past chunks each chunk may summarise (0 = only itself); None = unlimited.

        Returns
        -------
        SummaryMixingStreamingState
        """
        if left_context_chunks is not None and (
            isinstance(left_context_chunks, bool) or not isinstance(left_context_chunks, int) or left_context_chunks < 0
        ):
            raise ValueError(f"left_context_chunks must be None or an int >= 0, got {left_context_chunks!r}")
        return SummaryMixingStreamingState(left_context_chunks=left_context_chunks)

    def forward_streaming(self, chunk, state, key_padding_mask=None):
        """Processes the next chunk of a stream, in O(chunk length) whatever the length of the stream.

        Feeding the chunks of a dynamic-chunk configuration in order (the last one may be shorter) gives the
        same outputs as :meth:`forward` with that configuration. For inference, run it under
        ``torch.no_grad()`` so that the state does not keep the autograd graph of past chunks.

        Arguments
        ---------
        chunk : torch.Tensor
            The next frames [B, C, enc_dim].
        state : SummaryMixingStreamingState
            From :meth:`make_streaming_state`; updated in place.
        key_padding_mask : torch.Tensor, optional
            Bool [B, C], True = padding (e.g. a stream of the batch that has ended).

        Returns
        -------
        torch.Tensor
            [B, C, enc_dim].

        Example
        -------
        >>> cell = SummaryMixing(8, nhead=2, local_proj_hid_dim=[8], local_proj_out_dim=8,
        ...                      summary_hid_dim=[8], summary_out_dim=8).eval()
        >>> state = cell.make_streaming_state(left_context_chunks=2)
        >>> x = torch.randn(1, 10, 8)
        >>> outs = [cell.forward_streaming(c, state) for c in x.split(4, dim=1)]
        >>> torch.cat(outs, dim=1).shape
        torch.Size([1, 10, 8])
        """
        if not isinstance(state, SummaryMixingStreamingState):
            raise ValueError(
                f"state must come from make_streaming_state(), got {type(state).__name__}"
            )
        batch, time = self._check_input(chunk, "chunk")
        pad = self._check_padding_mask(key_padding_mask, batch, time, "key_padding_mask")
        local, summary = self._branches(chunk)
        summary, valid = _zero_padding(summary, pad)
        sums, counts = summary.sum(2, dtype=valid.dtype), valid.sum(1)
        if state.left_context_chunks is None:
            if state.running_sum is not None:
                self._check_state_batch(state.running_count, batch)
                sums, counts = sums + state.running_sum, counts + state.running_count
            state.running_sum, state.running_count = sums, counts
            total, total_count = sums, counts
        else:
            if state.chunk_counts:
                self._check_state_batch(state.chunk_counts[0], batch)
            total = torch.stack(state.chunk_sums + [sums]).sum(0)
            total_count = torch.stack(state.chunk_counts + [counts]).sum(0)
            if state.left_context_chunks > 0:
                state.chunk_sums = (state.chunk_sums + [sums])[-state.left_context_chunks:]
                state.chunk_counts = (state.chunk_counts + [counts])[-state.left_context_chunks:]
        return self._mix(local, total[:, :, None], total_count[:, None], max(time, 1), batch, time)

    # ---------------------------------------------------------------------------------------------------------
    # Computation

    def _branches(self, x):
        """Runs f and s. Returns the local stream [B*T, local_dim] (None in lite mode) and the summary stream,
        head-major [nhead, B, T, summary_dim / nhead]."""
        batch, time, _ = x.shape
        heads = x.reshape(batch * time, self.nhead, self.enc_dim // self.nhead).transpose(0, 1)
        local = None
        if self.mode == "SummaryMixing":
            first = [self.local_layers[0], self.summary_layers[0]]
            hidden = self._activate(_headwise(first, heads))
            local, summary = hidden.split([layer.weight.shape[2] for layer in first], dim=2)
            summary = self._run(self.summary_layers[1:], summary)
            if len(self.local_layers) > 1:
                # the last activation runs after the heads are put side by side, so that its gradient (from the
                # LayerNorm and the combiner) is contiguous: 2x faster than on the head-major view
                local = self._run(self.local_layers[1:-1], local)
                local = self._activate(_frame_major(self.local_layers[-1](local)))
            else:
                local = _frame_major(local)
        else:
            summary = self._run(self.summary_layers, heads)
            if self.mode == "SummaryMixing-fast":
                local, summary = summary.split([self.local_dim // self.nhead, self.summary_dim // self.nhead], dim=2)
                local = _frame_major(local)
        if local is not None:
            local = self.local_norm(local)
        return local, summary.unflatten(1, (batch, time))

    @staticmethod
    def _chunk_sums(summary, pad, chunk_size):
        """Sums of the summary stream over each chunk of ``chunk_size`` frames (the last may be shorter),
        [nhead, B, K, summary_dim / nhead] (float32 or wider), and the valid-frame counts [B, K]."""
        summary, valid = _zero_padding(summary, pad)
        time = summary.shape[2]
        full = time // chunk_size * chunk_size
        sums = summary[:, :, :full].unflatten(2, (-1, chunk_size)).sum(3, dtype=valid.dtype)
        counts = valid[:, :full].unflatten(1, (-1, chunk_size)).sum(2)
        if full < time:
            sums = torch.cat([sums, summary[:, :, full:].sum(2, keepdim=True, dtype=valid.dtype)], dim=2)
            counts = torch.cat([counts, valid[:, full:].sum(1, keepdim=True)], dim=1)
        return sums, counts

    @staticmethod
    def _masked_sums(summary, pad, allowed):
        """Reference path: per-frame sums over the frames ``allowed`` [T, T] lets each frame see, O(T^2)."""
        summary, valid = _zero_padding(summary, pad)
        weights = allowed.to(valid.dtype) * valid[:, None, :]
        with torch.autocast(device_type=summary.device.type, enabled=False):
            sums = torch.matmul(weights, summary.to(valid.dtype))
        return sums, weights.sum(2)

    def _mix(self, local, sums, counts, chunk_size, batch, time):
        """The combiner over ``[f(x_t); mean]`` for frames in chunks of ``chunk_size`` (the last may be shorter):
        the summary half ``W_m mean + b`` once per chunk, from head-major sums [nhead, B, K, .] and counts
        [B, K], added to the local half ``W_f f(x_t)`` of the chunk's frames (as a broadcast when the chunks
        tile the sequence: no per-frame copy), then the activation. Returns [B, T, enc_dim]."""
        local_weight, summary_weight = self.combiner.weight.split([self.local_dim, self.summary_dim], dim=1)
        groups = sums.shape[2]
        mean = sums / counts.clamp(min=1.0)[:, :, None]
        mean = mean.permute(1, 2, 0, 3).reshape(batch, groups, self.summary_dim)
        mean = self.summary_norm(mean.to(self.combiner.weight.dtype))
        bias = nn.functional.linear(mean, summary_weight, self.combiner.bias)[:, :, None]
        padded = groups * chunk_size
        if local is None:
            frames = self.activation(bias).expand(-1, -1, chunk_size, -1).reshape(batch, padded, self.enc_dim)
            return frames[:, :time].contiguous()
        if padded == time:
            mixed = torch.matmul(local.view(batch, groups, chunk_size, self.local_dim), local_weight.t()).add_(bias)
        else:
            # a shorter last chunk: the summary terms are copied per frame (cheaper than a padded matmul)
            frames = bias.expand(-1, -1, chunk_size, -1).reshape(batch, padded, self.enc_dim)[:, :time]
            mixed = torch.addmm(frames.reshape(batch * time, self.enc_dim), local, local_weight.t())
        return self.activation(mixed).view(batch, time, self.enc_dim)

    # ---------------------------------------------------------------------------------------------------------
    # Input checks

    def _check_input(self, x, name):
        if x.dim() != 3 or x.shape[-1] != self.enc_dim:
            raise ValueError(f"{name} must be [batch, time, enc_dim={self.enc_dim}], got shape {tuple(x.shape)}")
        return x.shape[0], x.shape[1]

    @staticmethod
    def _check_padding_mask(mask, batch, time, name):
        if mask is None:
            return None
        if mask.dtype != torch.bool or tuple(mask.shape) != (batch, time):
            raise ValueError(
                f"{name} must be a bool tensor [batch, time] = [{batch}, {time}] (True = padding), "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        return mask

    @staticmethod
    def _check_attn_mask(mask, time):
        if tuple(mask.shape) != (time, time):
            raise ValueError(f"attn_mask must be [time, time] = [{time}, {time}], got shape {tuple(mask.shape)}")
        if mask.dtype == torch.bool:
            return ~mask
        if not mask.is_floating_point():
            raise ValueError(f"attn_mask must be bool (True = blocked) or float (0 / -inf), got {mask.dtype}")
        allowed = mask == 0
        if not torch.all(allowed | (mask == float("-inf"))):
            raise ValueError("a float attn_mask may only hold 0 (allowed) and -inf (blocked)")
        return allowed

    @staticmethod
    def _check_chunk_config(config):
        chunk_size = getattr(config, "chunk_size", None)
        left = getattr(config, "left_context_size", None)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"dynchunktrain_config.chunk_size must be an int >= 1, got {chunk_size!r}")
        if left is not None and (isinstance(left, bool) or not isinstance(left, int) or left < 0):
            raise ValueError(f"dynchunktrain_config.left_context_size must be None or an int >= 0, got {left!r}")
        return chunk_size, left

    @staticmethod
    def _check_state_batch(count, batch):
        if count.shape[0] != batch:
            raise ValueError(f"chunk has batch size {batch} but the streaming state was built with {count.shape[0]}")


def _accumulation_dtype(dtype):
    """float32 for half-precision streams, their own dtype otherwise."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _frame_major(heads):
    """Head-major [nhead, N, F / nhead] to frame-major [N, F], heads side by side."""
    return heads.transpose(0, 1).flatten(1)


def _headwise(layers, x):
    """Runs :class:`HeadwiseLinear` layers that read the same head-major input [nhead, N, in / nhead] as one
    batched matmul, their outputs side by side: [nhead, N, sum of out / nhead]."""
    if len(layers) == 1:
        return torch.baddbmm(layers[0].bias, x, layers[0].weight)
    weight = torch.cat([layer.weight for layer in layers], dim=2)
    return torch.baddbmm(torch.cat([layer.bias for layer in layers], dim=2), x, weight)


def _zero_padding(summary, pad):
    """The head-major summary stream [nhead, B, T, .] with padded frames set to zero (so that not even a NaN
    there can reach a sum), and the valid-frame indicator [B, T] in the accumulation dtype."""
    dtype = _accumulation_dtype(summary.dtype)
    if pad is None:
        return summary, summary.new_ones(summary.shape[1:3], dtype=dtype)
    return summary.masked_fill(pad[:, :, None], 0.0), (~pad).to(dtype)


def _window_sums(sums, counts, left):
    """Sums over chunks max(0, k - left) .. k, from chunk sums [..., K, F] and counts [B, K] (left None =
    unlimited). Limited windows subtract prefix sums taken in float64, so long sequences lose no precision."""
    if left is None:
        return sums.cumsum(2), counts.cumsum(1)
    wide_sums = nn.functional.pad(sums.double().cumsum(2), (0, 0, left + 1, 0))
    wide_counts = nn.functional.pad(counts.double().cumsum(1), (left + 1, 0))
    window = (wide_sums[:, :, left + 1 :] - wide_sums[:, :, : -left - 1]).to(sums.dtype)
    return window, (wide_counts[:, left + 1 :] - wide_counts[:, : -left - 1]).to(counts.dtype)
