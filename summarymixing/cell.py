"""The SummaryMixing cell: a linear-time drop-in replacement for multi-head self-attention.

SummaryMixing (Parcollet, van Dalen, Zhang, Bhattacharya, arXiv 2307.07421) replaces self-attention by

    out_t = c([f(x_t); mean_{t' in context(t)} s(x_t')])

where ``f`` (the local branch) and ``s`` (the summary branch) are per-frame MLPs and ``c`` (the combiner) maps
back to the model width. The context of frame t is the whole (unpadded) utterance, or, with a dynamic-chunk
configuration, its own chunk and a number of chunks on its left.

The four modes are the published cell's (the structure, parameters, initialisation and dropout of the authors'
code, read for facts), each with the exactness of this implementation: padding never reaches a valid frame (also
in the denominators of the means, which the published masked path does not guarantee), and the chunked,
masked and streamed computations agree.

This module depends only on torch and the standard library, so it can be copied alone into any project.

Implementation notes
--------------------
* The combiner is ``c(z) = act(W z + b)`` with ``z = [f(x_t); m_t]``. Since ``W z = W_f f(x_t) + W_m m_t``, the
  summary half ``W_m m + b`` is computed once per utterance (or per chunk, or per streamed chunk) and added to the
  per-frame local half, whenever dropout is off (evaluation). In training with dropout, the published cell
  drops each frame's copy of the summary independently, so the combiner then runs on every frame's
  concatenation, as published.
* Multi-head: ``f`` and ``s`` split the features into ``nhead`` groups; each of their layers has one weight per
  head (a block-diagonal weight), applied as one batched matmul over a leading head dimension. The first layers of
  ``f`` and ``s`` read the same input: they run as one batched matmul with each head's two weights side by side.
* The time sum is accumulated in float32 when the branches run in float16/bfloat16 (autocast), and padded
  frames are zeroed (not multiplied) before the sum, so nothing in a padded frame can reach a valid frame.
* Dynamic-chunk summaries use chunk sums and prefix sums over chunks: cost linear in time, no [T, T] tensor.
* ``SummaryMixing-expdecay`` weighs frame t' in frame t's summary by ``decay ** |t - t'|``. The published cell
  builds the [T, T] weights; here two exponentially decayed scans (forward and backward in time, in float64) give
  the same weighted sums in linear time, also over chunk windows and streamed.

Authors
-------
* The summarymixing contributors (2026)
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

MODES = ("SummaryMixing", "SummaryMixing-lite", "SummaryMixing-fast", "SummaryMixing-expdecay")
SCAN_BLOCK = 256
"""Frames per block of the decayed scans of ``SummaryMixing-expdecay`` (decay ** -255 stays small)."""


class HeadwiseLinear(nn.Module):
    """``nhead`` independent linear maps, one per feature group, run as one batched matmul.

    Equivalent to a linear layer with a block-diagonal weight. The weight is ``[nhead, in / nhead, out / nhead]``
    and the bias ``[nhead, out / nhead]``, both initialised as the published cell's block-diagonal layers
    (``kaiming_uniform_`` with ``a = sqrt(5)`` on each tensor as a whole).

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
        self.bias = nn.Parameter(torch.empty(nhead, out_features // nhead))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.bias, a=math.sqrt(5))

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
    owner : int, optional
        ``id`` of the cell that made the state (a state belongs to one cell).
    running_sum : torch.Tensor, optional
        Unlimited context: sum of the summary branch over all past frames (``expdecay``: decayed to the last
        past frame), [nhead, B, summary_out_dim / nhead].
    running_count : torch.Tensor, optional
        Unlimited context: number (``expdecay``: decayed weight) of past valid frames per batch element, [B].
    chunk_sums : list of torch.Tensor
        Limited context: the sums (``expdecay``: decayed to each chunk's last frame) of the last
        ``left_context_chunks`` chunks, oldest first.
    chunk_counts : list of torch.Tensor
        Limited context: their valid-frame counts (``expdecay``: decayed weights), [B] each.
    chunk_lengths : list of int
        Limited context: their lengths in frames (``expdecay`` decays a chunk's sum over the chunks after it).
    """

    left_context_chunks: int | None = None
    owner: int | None = None
    running_sum: torch.Tensor | None = None
    running_count: torch.Tensor | None = None
    chunk_sums: list[torch.Tensor] = field(default_factory=list)
    chunk_counts: list[torch.Tensor] = field(default_factory=list)
    chunk_lengths: list[int] = field(default_factory=list)


class SummaryMixing(nn.Module):
    """SummaryMixing (arXiv 2307.07421): linear-time token mixing with a drop-in self-attention interface.

    The published modes:

    * ``"SummaryMixing"``: ``out_t = c([f(x_t); mean s(x)])``. ``f`` and ``s`` are MLPs with ``nhead``
      block-diagonal layers (hidden sizes ``local_proj_hid_dim`` / ``summary_hid_dim``, outputs
      ``local_proj_out_dim`` / ``summary_out_dim``), each layer followed by ``activation``; with
      ``use_layernorm``, ``f``'s output and the mean are layer-normalised; dropout on the concatenation; the
      combiner ``c`` is one dense layer back to ``enc_dim`` followed by ``activation``.
    * ``"SummaryMixing-fast"``: one dense projection of ``x`` (no heads) to ``2 * local_proj_out_dim``, followed by
      ``activation``; its first half is the local stream, the mean of its second half the summary (no LayerNorm,
      ``summary_hid_dim`` and ``summary_out_dim`` unused); dropout and combiner as above.
    * ``"SummaryMixing-lite"``: the output is the mean of ``s(x)``, broadcast to every frame: no local branch, no
      combiner, no LayerNorm, no dropout (``summary_out_dim`` must equal ``enc_dim``).
    * ``"SummaryMixing-expdecay"``: as ``"SummaryMixing"``, with the mean weighted by ``decay_constant ** |t - t'|``
      (normalised by the weights' sum over the frames the context allows), in linear time.

    The published cell maps the combiner to ``summary_out_dim``; every published configuration has
    ``summary_out_dim == enc_dim`` (the cell replaces attention), and this cell always maps to ``enc_dim``. The
    published cell registers its two LayerNorms in every mode when ``use_layernorm`` is set, also where they are
    unused (``-fast``, ``-lite``): this cell builds them only where they are used.

    Arguments
    ---------
    enc_dim : int
        Input and output feature size (d_model).
    nhead : int
        Number of heads of ``f`` and ``s`` (default 1): ``enc_dim`` and every branch size must be divisible by it.
    local_proj_hid_dim : list of int
        Hidden sizes of the local branch ``f`` (any depth, may be empty; default [512]).
    local_proj_out_dim : int
        Output size of ``f`` (default 512); in ``-fast``, the size of each half of the projection.
    summary_hid_dim : list of int
        Hidden sizes of the summary branch ``s`` (any depth, may be empty; default [512]).
    summary_out_dim : int
        Output size of ``s`` (default 512). The default sizes are those of the paper's d_model 512 models.
    activation : type
        Activation class, instantiated without arguments (default ``torch.nn.GELU``).
    dropout : float
        Dropout on the concatenation ``[f(x_t); mean]`` (default 0.1, as published).
    mode : str
        ``"SummaryMixing"`` (default), ``"SummaryMixing-lite"``, ``"SummaryMixing-fast"`` or
        ``"SummaryMixing-expdecay"``.
    use_layernorm : bool
        LayerNorm on ``f``'s output and on the mean (``"SummaryMixing"`` and ``-expdecay``; default True).
    decay_constant : float
        ``-expdecay``: the weight's decay per frame of distance (default 0.995, as published; not trained).

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
        dropout=0.1,
        mode="SummaryMixing",
        use_layernorm=True,
        decay_constant=0.995,
    ):
        super().__init__()
        if isinstance(nhead, bool) or not isinstance(nhead, int) or nhead < 1:
            raise ValueError(f"nhead must be an int >= 1, got {nhead!r}")
        if mode not in MODES:
            raise ValueError(f"unknown SummaryMixing mode {mode!r}; expected one of {', '.join(MODES)}")
        fast, lite = mode == "SummaryMixing-fast", mode == "SummaryMixing-lite"
        sizes = [("enc_dim", enc_dim), ("local_proj_out_dim", local_proj_out_dim)]
        if not fast:
            sizes += [("summary_out_dim", summary_out_dim)]
            sizes += [(f"summary_hid_dim[{i}]", s) for i, s in enumerate(summary_hid_dim)]
        if not (fast or lite):
            sizes += [(f"local_proj_hid_dim[{i}]", s) for i, s in enumerate(local_proj_hid_dim)]
        for name, size in sizes:
            if size <= 0 or size % nhead != 0:
                raise ValueError(f"{name}={size} must be a positive multiple of nhead={nhead}")
        if lite and summary_out_dim != enc_dim:
            raise ValueError(
                f"SummaryMixing-lite outputs the summary itself: summary_out_dim={summary_out_dim} must "
                f"equal enc_dim={enc_dim}"
            )
        if mode == "SummaryMixing-expdecay" and not 0.0 < decay_constant < 1.0:
            raise ValueError(f"decay_constant must be in (0, 1), got {decay_constant!r}")
        self.enc_dim = enc_dim
        self.nhead = nhead
        self.mode = mode
        self.use_layernorm = use_layernorm
        self.local_proj_out_dim = local_proj_out_dim
        self.local_dim = 0 if lite else local_proj_out_dim
        self.summary_dim = local_proj_out_dim if fast else summary_out_dim
        self.summary_heads = 1 if fast else nhead
        self.activation = activation()
        self.dropout = nn.Dropout(dropout)

        if fast:
            self.projection = nn.Linear(enc_dim, 2 * local_proj_out_dim)
            nn.init.zeros_(self.projection.bias)
        else:
            self.summary_layers = self._mlp(enc_dim, list(summary_hid_dim) + [summary_out_dim])
            if not lite:
                self.local_layers = self._mlp(enc_dim, list(local_proj_hid_dim) + [local_proj_out_dim])
        with_norms = use_layernorm and not (fast or lite)
        self.local_norm = nn.LayerNorm(self.local_dim) if with_norms else nn.Identity()
        self.summary_norm = nn.LayerNorm(self.summary_dim) if with_norms else nn.Identity()
        if not lite:
            self.combiner = nn.Linear(self.local_dim + self.summary_dim, enc_dim)
            nn.init.zeros_(self.combiner.bias)
        if mode == "SummaryMixing-expdecay":
            self.register_buffer("decay_constant", torch.tensor(float(decay_constant)))

    def _mlp(self, in_dim, sizes):
        dims = [in_dim] + sizes
        return nn.ModuleList(HeadwiseLinear(self.nhead, i, o) for i, o in zip(dims[:-1], dims[1:]))

    def _run(self, layers, x):
        for layer in layers:
            x = self.activation(layer(x))
        return x

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
        elif attn_mask is None:
            chunk_size, left = max(time, 1), 0
        if self.mode == "SummaryMixing-expdecay":
            if dynchunktrain_config is None and attn_mask is not None:
                sums, counts = self._masked_sums(summary, pad, self._check_attn_mask(attn_mask, time))
            else:
                sums, counts = self._decayed_window_sums(summary, pad, chunk_size, left)
            return self._mix(local, sums, counts, 1, batch, time), None
        if dynchunktrain_config is None and attn_mask is not None:
            chunk_size = 1
            sums, counts = self._masked_sums(summary, pad, self._check_attn_mask(attn_mask, time))
        else:
            sums, counts = _window_sums(*self._chunk_sums(summary, pad, chunk_size), left)
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
        return SummaryMixingStreamingState(left_context_chunks=left_context_chunks, owner=id(self))

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
            raise ValueError(f"state must come from make_streaming_state(), got {type(state).__name__}")
        if state.owner != id(self):
            raise ValueError(
                "this streaming state was made by another SummaryMixing cell (each layer streams with "
                "its own state: call make_streaming_state() on this cell)"
            )
        batch, time = self._check_input(chunk, "chunk")
        pad = self._check_padding_mask(key_padding_mask, batch, time, "key_padding_mask")
        if state.running_count is not None:
            self._check_state_batch(state.running_count, batch)
        if state.chunk_counts:
            self._check_state_batch(state.chunk_counts[0], batch)
        local, summary = self._branches(chunk)
        summary, valid = _zero_padding(summary, pad)
        if self.mode == "SummaryMixing-expdecay":
            return self._stream_decayed(local, summary, valid, state, batch, time)
        sums, counts = summary.sum(2, dtype=valid.dtype), valid.sum(1)
        past_sums, past_counts = self._past_context(state)
        self._remember(state, sums, counts, time)
        if past_sums is not None:
            sums, counts = sums + past_sums, counts + past_counts
        return self._mix(local, sums[:, :, None], counts[:, None], max(time, 1), batch, time)

    # ---------------------------------------------------------------------------------------------------------
    # Computation

    def _branches(self, x):
        """Runs f and s. Returns the local stream [B*T, local_dim] (None in lite mode) and the summary stream,
        head-major [heads, B, T, summary_dim / heads] (one head in fast mode)."""
        batch, time, _ = x.shape
        if self.mode == "SummaryMixing-fast":
            projected = self.activation(self.projection(x.reshape(batch * time, self.enc_dim)))
            local, summary = projected.split([self.local_dim, self.summary_dim], dim=1)
            return local, summary[None].unflatten(1, (batch, time))
        heads = x.reshape(batch * time, self.nhead, self.enc_dim // self.nhead).transpose(0, 1)
        if self.mode == "SummaryMixing-lite":
            return None, self._run(self.summary_layers, heads).unflatten(1, (batch, time))
        first = [self.local_layers[0], self.summary_layers[0]]
        hidden = self.activation(_headwise(first, heads))
        local, summary = hidden.split([layer.weight.shape[2] for layer in first], dim=2)
        summary = self._run(self.summary_layers[1:], summary)
        if len(self.local_layers) > 1:
            # the last activation runs after the heads are put side by side, so that its gradient (from the
            # LayerNorm and the combiner) is contiguous: 2x faster than on the head-major view
            local = self._run(self.local_layers[1:-1], local)
            local = self.activation(_frame_major(self.local_layers[-1](local)))
        else:
            local = _frame_major(local)
        return self.local_norm(local), summary.unflatten(1, (batch, time))

    @staticmethod
    def _chunk_sums(summary, pad, chunk_size):
        """Sums of the summary stream over each chunk of ``chunk_size`` frames (the last may be shorter),
        [heads, B, K, summary_dim / heads] (float32 or wider), and the valid-frame counts [B, K]."""
        summary, valid = _zero_padding(summary, pad)
        # zeros complete the last chunk (adding zeros changes no sum), so that one reshape serves every length
        # and a compiled graph needs no case for lengths that are or are not a multiple of chunk_size
        extra = -summary.shape[2] % chunk_size
        sums = F.pad(summary, (0, 0, 0, extra)).unflatten(2, (-1, chunk_size)).sum(3, dtype=valid.dtype)
        counts = F.pad(valid, (0, extra)).unflatten(1, (-1, chunk_size)).sum(2)
        return sums, counts

    def _masked_sums(self, summary, pad, allowed):
        """Reference path: per-frame (decay-weighted, in ``-expdecay``) sums over the frames ``allowed`` [T, T]
        lets each frame see, O(T^2)."""
        summary, valid = _zero_padding(summary, pad)
        weights = allowed.to(valid.dtype)
        if self.mode == "SummaryMixing-expdecay":
            steps = torch.arange(weights.shape[0], device=weights.device)
            distance = (steps[:, None] - steps[None, :]).abs().to(torch.float64)
            weights = weights * self.decay_constant.double().pow(distance).to(valid.dtype)
        weights = weights * valid[:, None, :]
        with torch.autocast(device_type=summary.device.type, enabled=False):
            sums = torch.matmul(weights, summary.to(valid.dtype))
        return sums, weights.sum(2)

    def _decayed_window_sums(self, summary, pad, chunk_size, left):
        """``-expdecay``: for every frame t, the sums of ``decay ** |t - t'| * s(x_t')`` and of
        ``decay ** |t - t'|`` over the valid frames t' of its window (chunks ``k - left`` .. k of t's chunk k, or
        all frames before its chunk's end with ``left`` None), in linear time. Returns [heads, B, T, .] and
        [B, T]."""
        summary, valid = _zero_padding(summary, pad)
        time = summary.shape[2]
        decay = self.decay_constant.double()
        values = torch.cat([summary.double(), valid.double()[None, :, :, None].expand(summary.shape[0], -1, -1, 1)], 3)
        forward, backward = _decayed_scans(values, decay)  # [heads, B, T, F + 1] each
        steps = torch.arange(time, device=summary.device)
        chunk = torch.div(steps, chunk_size, rounding_mode="floor")
        start = torch.zeros_like(steps) if left is None else ((chunk - left).clamp(min=0) * chunk_size)
        end = ((chunk + 1) * chunk_size).clamp(max=time)  # exclusive
        # frames start .. t: forward[t] - decay^(t - start + 1) forward[start - 1]
        before = _gather_time(forward, start - 1)
        totals = forward - decay.pow((steps - start + 1).double())[:, None] * before
        # frames t + 1 .. end - 1: decay * backward[t + 1] - decay^(end - t) backward[end]
        totals = totals + decay * _gather_time(backward, steps + 1)
        totals = totals - decay.pow((end - steps).double())[:, None] * _gather_time(backward, end)
        # a window without valid frames (padding only) sums to exactly zero, not to the rounding residue of the
        # subtractions above, whose ratio could be anything (even overflow in the mean)
        valid_before = nn.functional.pad(valid.cumsum(1), (1, 0))  # valid frames before each index, [B, T + 1]
        empty = (valid_before[:, end] - valid_before[:, start]) == 0  # [B, T]
        totals = totals.masked_fill(empty[None, :, :, None], 0.0)
        sums, counts = totals[..., :-1], totals[0, :, :, -1]
        return sums.to(valid.dtype), counts.to(valid.dtype)

    def _stream_decayed(self, local, summary, valid, state, batch, time):
        """``-expdecay`` streaming: within the chunk, the decayed scans; from the past chunks, their sums decayed
        to the chunk's start (limited context: the last ``left_context_chunks`` chunks, each decayed over the
        chunks after it)."""
        decay = self.decay_constant.double()
        values = torch.cat([summary.double(), valid.double()[None, :, :, None].expand(summary.shape[0], -1, -1, 1)], 3)
        forward, backward = _decayed_scans(values, decay)
        steps = torch.arange(time, device=summary.device, dtype=torch.float64)
        # inside the chunk: forward[t] + decay * backward[t + 1]
        totals = forward + decay * _gather_time(backward, torch.arange(1, time + 1, device=summary.device))
        past_sums, past_counts = self._past_context(state, decay)
        if past_sums is not None:  # the past, decayed to the frame before the chunk, reaches frame t decayed t + 1
            past = torch.cat(
                [past_sums.double(), past_counts.double()[None, :, None].expand(past_sums.shape[0], -1, 1)], 2
            )
            totals = totals + decay.pow(steps + 1)[None, None, :, None] * past[:, :, None]
        # this chunk's sums, decayed to its last frame, for the chunks after it
        self._remember(state, forward[:, :, -1, :-1], forward[0, :, -1, -1], time, decay)
        sums, counts = totals[..., :-1].to(valid.dtype), totals[0, :, :, -1].to(valid.dtype)
        return self._mix(local, sums, counts, 1, batch, time)

    def _past_context(self, state, decay=None):
        """The summed past of a stream that the next chunk may see (decayed to its start with ``decay``), or
        (None, None) when there is none."""
        if state.left_context_chunks is None:
            return state.running_sum, state.running_count
        if not state.chunk_sums:
            return None, None
        sums, counts = state.chunk_sums, state.chunk_counts
        if decay is not None:  # chunk j's sum, decayed to its last frame, decays over the chunks after it
            after = [sum(state.chunk_lengths[j + 1 :]) for j in range(len(sums))]
            sums = [s * decay.pow(a).to(s.dtype) for s, a in zip(sums, after)]
            counts = [c * decay.pow(a).to(c.dtype) for c, a in zip(counts, after)]
        return torch.stack(sums).sum(0), torch.stack(counts).sum(0)

    @staticmethod
    def _remember(state, sums, counts, time, decay=None):
        """Adds a processed chunk's sums to the state (``decay``: the running sum decays over the chunk first)."""
        if state.left_context_chunks is None:
            if state.running_sum is not None:
                factor = 1.0 if decay is None else decay.pow(time)
                sums = (
                    sums + state.running_sum * factor.to(sums.dtype) if decay is not None else sums + state.running_sum
                )
                counts = (
                    counts + state.running_count * factor.to(counts.dtype)
                    if decay is not None
                    else (counts + state.running_count)
                )
            state.running_sum, state.running_count = sums, counts
        elif state.left_context_chunks > 0:
            keep = state.left_context_chunks
            state.chunk_sums = (state.chunk_sums + [sums])[-keep:]
            state.chunk_counts = (state.chunk_counts + [counts])[-keep:]
            state.chunk_lengths = (state.chunk_lengths + [time])[-keep:]

    def _mix(self, local, sums, counts, chunk_size, batch, time):
        """The output from the local stream [B*T, local_dim] and the summaries: head-major sums
        [heads, B, K, .] and counts [B, K] of chunks of ``chunk_size`` frames (the last may be shorter).

        Lite: the mean itself. Otherwise ``act(W [f(x_t); m] + b)``: with dropout active, on every frame's
        concatenation (the published cell drops each frame's copy of the summary independently); else the
        summary half ``W_m m + b`` once per chunk, added to the local half of the chunk's frames (as a broadcast
        when the chunks tile the sequence: no per-frame copy). Returns [B, T, enc_dim]."""
        groups = sums.shape[2]
        mean = sums / counts.clamp(min=torch.finfo(counts.dtype).tiny)[:, :, None]
        mean = mean.permute(1, 2, 0, 3).reshape(batch, groups, self.summary_dim)
        padded = groups * chunk_size
        # each frame's copy of its chunk's summary is gathered by index rather than sliced from a padded copy:
        # the same cost, and one compiled graph whatever the length
        chunk_of_frame = torch.arange(time, device=mean.device) // chunk_size
        if local is None:  # the dtype the branches ran in (autocast's, or the parameters')
            device = mean.device.type
            dtype = (
                torch.get_autocast_dtype(device)
                if torch.is_autocast_enabled(device)
                else self.summary_layers[-1].weight.dtype
            )
            return mean.to(dtype).index_select(1, chunk_of_frame)
        mean = self.summary_norm(mean.to(self.combiner.weight.dtype))
        if self.training and self.dropout.p > 0:
            frames = mean.index_select(1, chunk_of_frame).view(batch * time, self.summary_dim)
            concatenated = torch.cat([local, frames], dim=1)
            mixed = self.combiner(self.dropout(concatenated))
            return self.activation(mixed).view(batch, time, self.enc_dim)
        local_weight, summary_weight = self.combiner.weight.split([self.local_dim, self.summary_dim], dim=1)
        bias = nn.functional.linear(mean, summary_weight, self.combiner.bias)[:, :, None]
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
        weight_dtype = next(self.parameters()).dtype
        autocast = torch.is_autocast_enabled(x.device.type) and x.dtype in (
            torch.float32,
            torch.float16,
            torch.bfloat16,
        )
        if x.dtype != weight_dtype and not autocast:
            raise ValueError(
                f"{name} is {x.dtype} but the cell's parameters are {weight_dtype}: convert one of them "
                f"(x.to({weight_dtype}) or cell.to({x.dtype})), or run under torch.autocast"
            )
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
        return torch.baddbmm(layers[0].bias[:, None], x, layers[0].weight)
    weight = torch.cat([layer.weight for layer in layers], dim=2)
    return torch.baddbmm(torch.cat([layer.bias for layer in layers], dim=1)[:, None], x, weight)


def _zero_padding(summary, pad):
    """The head-major summary stream [heads, B, T, .] with padded frames set to zero (so that not even a NaN
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


def _decayed_scans(values, decay):
    """``forward[t] = sum_{t' <= t} decay^(t - t') values[t']`` and ``backward[t] = sum_{t' >= t} decay^(t' - t)
    values[t']`` over dim 2 of ``values`` [heads, B, T, F] (float64), in linear time: a cumulative sum inside
    blocks of :data:`SCAN_BLOCK` frames, then the blocks' carries one after the other."""
    return _decayed_prefix(values, decay), _decayed_prefix(values.flip(2), decay).flip(2)


def _decayed_prefix(values, decay):
    time = values.shape[2]
    blocks = -(-time // SCAN_BLOCK)
    padded = nn.functional.pad(values, (0, 0, 0, blocks * SCAN_BLOCK - time)).unflatten(2, (blocks, SCAN_BLOCK))
    powers = decay.pow(torch.arange(SCAN_BLOCK, device=values.device, dtype=torch.float64))[:, None]
    inside = (padded / powers).cumsum(3) * powers  # sum_{i <= j} decay^(j - i) x_i within each block
    carry, carries = None, []
    for block in range(blocks):
        carry = inside[:, :, block, -1] if carry is None else inside[:, :, block, -1] + carry * powers[-1] * decay
        carries.append(carry)
    previous = torch.stack([torch.zeros_like(carries[0])] + carries[:-1], dim=2)  # the carry into each block
    return (inside + previous[:, :, :, None] * (powers * decay)).flatten(2, 3)[:, :, :time]


def _gather_time(scan, steps):
    """``scan[:, :, steps]`` with 0 where a step lies outside ``0 .. T - 1`` (the empty sums at the ends)."""
    time = scan.shape[2]
    inside = (steps >= 0) & (steps < time)
    picked = scan[:, :, steps.clamp(0, max(time - 1, 0))]
    return picked * inside.to(scan.dtype)[:, None]
