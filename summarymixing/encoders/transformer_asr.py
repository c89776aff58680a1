"""SpeechBrain's ``TransformerASR`` with SummaryMixing encoders, dynamic chunk training and exact streaming.

``attention_type: SummaryMixing`` (default) uses the cell in a Conformer, Branchformer or Transformer encoder; any
SpeechBrain attention type builds SpeechBrain's own model (baselines, same parameter names). With SummaryMixing no
[T, T] mask is ever built: padding goes as a key padding mask, dynamic chunks as the chunk configuration, causality
as one-frame chunks. The absolute sine encoding continues across stream chunks, so ``encode_streaming`` works with
it (SpeechBrain's fails on the second chunk).

Authors
* SummaryMixing contributors 2026
"""

from dataclasses import dataclass

import torch
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.lobes.models.transformer import TransformerASR as speechbrain_asr
from speechbrain.lobes.models.transformer.Transformer import PositionalEncoding, get_lookahead_mask
from speechbrain.nnet.activations import Swish

from summarymixing.encoders.branchformer import SPEECHBRAIN_BRANCHFORMER_ATTENTIONS, BranchformerEncoder
from summarymixing.encoders.conformer import SPEECHBRAIN_CONFORMER_ATTENTIONS, ConformerEncoder
from summarymixing.encoders.mixing import SUMMARY_MIXING, CausalSummaryMixing, build_summary_mixing, check_mixer
from summarymixing.encoders.padding import check_relative_lengths
from summarymixing.encoders.positional import StreamingPositionalEncoding
from summarymixing.encoders.transformer import SPEECHBRAIN_TRANSFORMER_ATTENTIONS, TransformerEncoder

SPEECHBRAIN_ATTENTIONS = {
    "conformer": SPEECHBRAIN_CONFORMER_ATTENTIONS,
    "branchformer": SPEECHBRAIN_BRANCHFORMER_ATTENTIONS,
    "transformer": SPEECHBRAIN_TRANSFORMER_ATTENTIONS,
}


def xavier_normal_matrices(module):
    """SpeechBrain's ``TransformerASR`` initialisation of every matrix, for the parts built here after SpeechBrain
    initialised its own (the cells' too, as in the published SummaryMixing models)."""
    for parameter in module.parameters():
        if parameter.dim() > 1:
            torch.nn.init.xavier_normal_(parameter)


@dataclass
class TransformerASRStreamingContext(speechbrain_asr.TransformerASRStreamingContext):
    """SpeechBrain's streaming context plus the position of the next frame, for the absolute positional encoding."""

    frame_offset: int = 0
    """Number of encoder frames already streamed."""

    ended: bool = False
    """Whether a chunk shorter than the chunk size (a stream's last) was streamed."""


class TransformerASR(speechbrain_asr.TransformerASR):
    """SpeechBrain's ``TransformerASR`` whose encoder mixes with SummaryMixing (or any SpeechBrain attention).

    Arguments are SpeechBrain's, plus the cell's options; differences: ``attention_type`` defaults to
    ``"SummaryMixing"`` and ``causal`` to False (given None, SpeechBrain's warning and True). Streaming needs
    ``causal=False`` and the Conformer (any attention but hypermixing) or the Transformer with SummaryMixing; it
    supports unlimited left context.

    Arguments
    ---------
    tgt_vocab : int
        Size of the output vocabulary (decoder embedding).
    input_size : int
        Input feature size.
    d_model : int
        Embedding dimension size.
    nhead : int
        Number of heads of the encoder mixer and of the decoder attentions.
    num_encoder_layers : int
        Number of encoder layers.
    num_decoder_layers : int
        Number of Transformer decoder layers (0 for CTC or transducer models).
    d_ffn : int
        Hidden size of the feed-forward networks.
    dropout : float
        Dropout.
    activation : torch.nn.Module
        Activation of the Transformer feed-forward networks.
    positional_encoding : str or None
        ``"fixed_abs_sine"`` (added to the encoder input, streaming-aware) or None.
    normalize_before : bool
        Pre-LayerNorm Transformer layers (must be True for the Conformer, as in SpeechBrain).
    kernel_size : int
        Kernel size of the Conformer / Branchformer convolutions.
    bias : bool
        Whether the Conformer convolutions have a bias.
    encoder_module : str
        ``"conformer"``, ``"branchformer"`` or ``"transformer"``.
    conformer_activation : torch.nn.Module
        Activation of the Conformer modules.
    branchformer_activation : torch.nn.Module
        Activation of the Branchformer convolution branches.
    attention_type : str
        ``"SummaryMixing"`` or a SpeechBrain type the encoder supports (RelPosMHAXL, regularMHA, RoPEMHA,
        hypermixing; Branchformer: not RoPEMHA).
    max_length : int
        Positions kept precomputed by the positional encodings.
    causal : bool
        Causal encoder (no dynamic chunk training then).
    csgu_linear_units : int
        Branchformer CSGU hidden size.
    gate_activation : torch.nn.Module
        Branchformer CSGU gate activation.
    use_linear_after_conv : bool
        Branchformer CSGU linear layer after the convolution.
    output_hidden_states : bool
        ``encode`` also returns the encoder's hidden states: ``[encoder input] + [each layer's output]``.
    layerdrop_prob : float
        Probability of skipping each encoder layer during training.
    decoder_attention_type : str
        ``"regularMHA"`` (SpeechBrain's decoder) or ``"SummaryMixing"``: every decoder layer's self-attention is
        a :class:`~summarymixing.encoders.mixing.CausalSummaryMixing` built like the encoder's cells (the
        "summary decoder" of arXiv 2307.07421); the cross-attention stays SpeechBrain's.
    **summary_mixing_options
        The cell's options (see ``summarymixing.encoders.mixing.SUMMARY_MIXING_OPTIONS``); unused by SpeechBrain types.

    Example
    -------
    >>> from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
    >>> model = TransformerASR(
    ...     tgt_vocab=10, input_size=20, d_model=32, nhead=2, num_encoder_layers=2, num_decoder_layers=0,
    ...     d_ffn=64, encoder_module="conformer", normalize_before=True, kernel_size=3,
    ... ).eval()
    >>> features = torch.rand(1, 12, 20)
    >>> config = DynChunkTrainConfig(chunk_size=4, left_context_size=None)
    >>> offline = model.encode(features, dynchunktrain_config=config)
    >>> context = model.make_streaming_context(config)
    >>> streamed = torch.cat([model.encode_streaming(chunk, context) for chunk in features.split(4, dim=1)], 1)
    >>> torch.allclose(streamed, offline, atol=1e-5)
    True
    """

    def __init__(
        self,
        tgt_vocab,
        input_size,
        d_model=512,
        nhead=8,
        num_encoder_layers=6,
        num_decoder_layers=6,
        d_ffn=2048,
        dropout=0.1,
        activation=torch.nn.ReLU,
        positional_encoding="fixed_abs_sine",
        normalize_before=False,
        kernel_size=31,
        bias=True,
        encoder_module="transformer",
        conformer_activation=Swish,
        branchformer_activation=torch.nn.GELU,
        attention_type=SUMMARY_MIXING,
        max_length=2500,
        causal=False,
        csgu_linear_units=3072,
        gate_activation=torch.nn.Identity,
        use_linear_after_conv=False,
        output_hidden_states=False,
        layerdrop_prob=0.0,
        decoder_attention_type="regularMHA",
        **summary_mixing_options,
    ):
        if encoder_module not in SPEECHBRAIN_ATTENTIONS:
            raise ValueError(
                f"TransformerASR: unknown encoder_module {encoder_module!r}; "
                f"expected one of {tuple(SPEECHBRAIN_ATTENTIONS)}"
            )
        owner = f"TransformerASR ({encoder_module})"
        check_mixer(attention_type, SPEECHBRAIN_ATTENTIONS[encoder_module], owner, summary_mixing_options)
        if positional_encoding not in ("fixed_abs_sine", None):
            raise ValueError(
                f"TransformerASR: unknown positional_encoding {positional_encoding!r}; "
                "expected 'fixed_abs_sine' or None"
            )
        if decoder_attention_type not in ("regularMHA", SUMMARY_MIXING):
            raise ValueError(
                f"TransformerASR: unknown decoder_attention_type {decoder_attention_type!r}; "
                f"expected 'regularMHA' or {SUMMARY_MIXING!r}"
            )
        if encoder_module == "conformer" and not normalize_before:
            raise ValueError("TransformerASR: normalize_before must be True for the Conformer (as in SpeechBrain)")
        # SpeechBrain builds everything but the encoder (it builds none for an encoder_module it does not know)
        # and asserts its own attention names: its decoder and positional encodings do not depend on the mixer.
        super().__init__(
            tgt_vocab, input_size, d_model, nhead, num_encoder_layers, num_decoder_layers, d_ffn, dropout,
            activation, positional_encoding, normalize_before, kernel_size, bias, None, conformer_activation,
            branchformer_activation, "regularMHA" if attention_type == SUMMARY_MIXING else attention_type,
            max_length, causal, csgu_linear_units, gate_activation, use_linear_after_conv, output_hidden_states,
            layerdrop_prob,
        )  # fmt: skip
        self.attention_type = attention_type
        self.encoder_module = encoder_module
        self.input_size = input_size
        if self.causal and encoder_module == "branchformer" and attention_type == SUMMARY_MIXING:
            raise ValueError("TransformerASR: a SummaryMixing Branchformer cannot be causal (its convolution is not)")
        if positional_encoding == "fixed_abs_sine" and attention_type != "RelPosMHAXL":
            self.positional_encoding = StreamingPositionalEncoding(d_model, max_length)
        if attention_type == SUMMARY_MIXING and positional_encoding is None and num_decoder_layers > 0:
            self.positional_encoding_decoder = PositionalEncoding(d_model, max_length)
        if num_encoder_layers > 0:
            self.encoder = self._build_encoder(
                encoder_module, num_encoder_layers, d_model, nhead, d_ffn, dropout, activation, normalize_before,
                kernel_size, bias, conformer_activation, branchformer_activation, self.causal, csgu_linear_units,
                gate_activation, use_linear_after_conv, summary_mixing_options,
            )  # fmt: skip
            xavier_normal_matrices(self.encoder)
        if decoder_attention_type == SUMMARY_MIXING and num_decoder_layers > 0:
            for layer in self.decoder.layers:
                layer.self_attn = build_summary_mixing(
                    d_model, nhead, dropout, activation, summary_mixing_options, CausalSummaryMixing
                )
                xavier_normal_matrices(layer.self_attn)
        self.decoder_attention_type = decoder_attention_type
        if num_encoder_layers > 0:
            # SpeechBrain's parameter order (encoder first), so that optimiser checkpoints map across.
            for name in ("decoder", "custom_src_module", "custom_tgt_module"):
                if name in self._modules:
                    self._modules[name] = self._modules.pop(name)

    def _build_encoder(
        self, encoder_module, num_layers, d_model, nhead, d_ffn, dropout, activation, normalize_before,
        kernel_size, bias, conformer_activation, branchformer_activation, causal, csgu_linear_units,
        gate_activation, use_linear_after_conv, summary_mixing_options,
    ):  # fmt: skip
        """The encoder SpeechBrain would build for ``encoder_module``, from our SummaryMixing-capable classes."""
        common = dict(
            num_layers=num_layers,
            d_model=d_model,
            nhead=nhead,
            dropout=dropout,
            attention_type=self.attention_type,
            output_hidden_states=self.output_hidden_states,
            layerdrop_prob=self.layerdrop_prob,
            **summary_mixing_options,
        )
        if encoder_module == "conformer":
            return ConformerEncoder(
                d_ffn=d_ffn,
                kernel_size=kernel_size,
                activation=conformer_activation,
                bias=bias,
                causal=causal,
                **common,
            )
        if encoder_module == "branchformer":
            return BranchformerEncoder(
                kernel_size=kernel_size,
                activation=branchformer_activation,
                csgu_linear_units=csgu_linear_units,
                gate_activation=gate_activation,
                use_linear_after_conv=use_linear_after_conv,
                **common,
            )
        return TransformerEncoder(
            d_ffn=d_ffn,
            activation=activation,
            normalize_before=normalize_before,
            causal=causal,
            kdim=self.encoder_kdim,
            vdim=self.encoder_vdim,
            **common,
        )

    def forward(self, src, tgt, wav_len=None, pad_idx=0):
        """Encodes ``src`` and, if ``tgt`` is given, decodes it, as SpeechBrain's ``TransformerASR.forward``.

        Arguments
        ---------
        src : torch.Tensor
            Features of shape (batch, time, input_size) (or 4-D, flattened as in SpeechBrain).
        tgt : torch.Tensor or None
            Decoder input tokens (batch, length); None returns the encoder's raw outputs.
        wav_len : torch.Tensor, optional
            Relative lengths (batch,).
        pad_idx : int
            Padding token of ``tgt``.

        Returns
        -------
        encoder_out : torch.Tensor
            Encoder output.
        hidden_states : list of torch.Tensor
            Only with ``output_hidden_states``.
        decoder_out : torch.Tensor
            Decoder output.
        """
        self._check_features(src, "src", wav_len)
        if self.attention_type != SUMMARY_MIXING:
            return super().forward(src, tgt, wav_len, pad_idx)
        outputs, src_key_padding_mask = self._run_encoder(src, wav_len, None)
        if tgt is None:
            return outputs
        tgt_key_padding_mask = speechbrain_asr.get_key_padding_mask(tgt, pad_idx=pad_idx)
        decoder_out, _, _ = self._run_decoder(tgt, outputs[0], tgt_key_padding_mask, src_key_padding_mask)
        if self.output_hidden_states:
            return outputs[0], outputs[2], decoder_out
        return outputs[0], decoder_out

    @torch.no_grad()
    def decode(self, tgt, encoder_out, enc_len=None):
        """One decoding step, as SpeechBrain's ``TransformerASR.decode`` (used by ``S2STransformerBeamSearcher``).

        Arguments
        ---------
        tgt : torch.Tensor
            Tokens decoded so far (batch, length).
        encoder_out : torch.Tensor
            Encoder output.
        enc_len : torch.Tensor, optional
            Absolute encoder lengths.

        Returns
        -------
        prediction : torch.Tensor
            Decoder output.
        attention : torch.Tensor
            Cross-attention weights of the last decoder layer.
        """
        if self.attention_type != SUMMARY_MIXING:
            return super().decode(tgt, encoder_out, enc_len)
        memory_key_padding_mask = None if enc_len is None else (1 - length_to_mask(enc_len)).bool()
        prediction, _, cross_attentions = self._run_decoder(tgt, encoder_out, None, memory_key_padding_mask)
        return prediction, cross_attentions[-1]

    def encode(self, src, wav_len=None, pad_idx=0, dynchunktrain_config=None):
        """Encoder forward pass, as SpeechBrain's ``TransformerASR.encode``.

        Arguments
        ---------
        src : torch.Tensor
            Features of shape (batch, time, input_size).
        wav_len : torch.Tensor, optional
            Relative lengths (batch,).
        pad_idx : int
            Unused (SpeechBrain's signature).
        dynchunktrain_config : DynChunkTrainConfig, optional
            Dynamic chunk training: SummaryMixing uses the cell's chunked summary, never a [T, T] mask.

        Returns
        -------
        encoder_out : torch.Tensor
            Encoder output.
        hidden_states : list of torch.Tensor
            Only with ``output_hidden_states``: ``[encoder input] + [each layer's output]``.
        """
        self._check_features(src, "src", wav_len)
        if self.attention_type != SUMMARY_MIXING:
            return super().encode(src, wav_len, pad_idx, dynchunktrain_config)
        outputs, _ = self._run_encoder(src, wav_len, dynchunktrain_config)
        if self.output_hidden_states:
            return outputs[0], outputs[2]
        return outputs[0]

    def encode_streaming(self, src, context):
        """Encodes one chunk of a stream, as SpeechBrain's ``TransformerASR.encode_streaming``.

        Chunk by chunk, the outputs equal ``encode(..., dynchunktrain_config=context.dynchunktrain_config)`` on
        the whole input.

        Arguments
        ---------
        src : torch.Tensor
            One chunk of features (batch, chunk_size, input_size); only the last chunk may be shorter.
        context : TransformerASRStreamingContext
            From ``make_streaming_context``; updated in place.

        Returns
        -------
        torch.Tensor
            Encoder output for this chunk.
        """
        if not isinstance(context, TransformerASRStreamingContext):
            raise TypeError(
                f"encode_streaming needs the context from summarymixing.TransformerASR.make_streaming_context, "
                f"got {type(context).__name__}"
            )
        self._check_features(src, "chunk")
        chunk_size = context.dynchunktrain_config.chunk_size
        if context.ended:
            raise ValueError(
                "encode_streaming: a chunk came after a shorter one; only a stream's last chunk may be shorter "
                f"than the {chunk_size} frames the context was made for (make a new context for a new stream)"
            )
        if not 0 < src.shape[1] <= chunk_size:
            raise ValueError(
                f"encode_streaming: a chunk of {src.shape[1]} frames, but the context was made for chunks of "
                f"{chunk_size} frames (only the last chunk of a stream may be shorter)"
            )
        context.ended = src.shape[1] < chunk_size
        if src.dim() == 4:
            src = src.flatten(start_dim=2)
        src = self.custom_src_module(src)
        pos_embs = None
        if self.attention_type == "RelPosMHAXL":
            cached = context.encoder_context.layers[0].mha_left_context
            window = src.shape[1] + (0 if cached is None else cached.shape[1])
            pos_embs = self.positional_encoding(src.new_empty(src.shape[0], window, src.shape[2]))
        elif self._adds_absolute_positions():
            src = src + self.positional_encoding(src, offset=context.frame_offset)
        context.frame_offset += src.shape[1]
        encoder_out, _ = self.encoder.forward_streaming(src=src, pos_embs=pos_embs, context=context.encoder_context)
        return encoder_out

    def make_streaming_context(self, dynchunktrain_config, encoder_kwargs=None):
        """A blank streaming context for this model.

        Arguments
        ---------
        dynchunktrain_config : DynChunkTrainConfig
            Chunk size and left context in chunks (``None`` = unlimited).
        encoder_kwargs : dict, optional
            Extra arguments for the encoder's ``make_streaming_context``.

        Returns
        -------
        TransformerASRStreamingContext
        """
        if not isinstance(getattr(dynchunktrain_config, "chunk_size", None), int):
            raise ValueError(
                "make_streaming_context needs a DynChunkTrainConfig (chunk size in frames, left context in chunks), "
                f"got {dynchunktrain_config!r}"
            )
        if self.encoder_module == "branchformer":
            raise NotImplementedError("the branchformer encoder is offline only; stream with conformer or transformer")
        if self.attention_type == "hypermixing":
            raise NotImplementedError("SpeechBrain's HyperMixing ignores chunk masks, so it cannot be streamed")
        return TransformerASRStreamingContext(
            dynchunktrain_config=dynchunktrain_config,
            encoder_context=self.encoder.make_streaming_context(dynchunktrain_config, **(encoder_kwargs or {})),
        )

    def _check_features(self, src, name, wav_len=None):
        """Raises a clear error for features of the wrong width (before the encoder's first linear layer would)
        and for lengths that are not relative (SpeechBrain would take frame counts > 1 as unpadded)."""
        width = src.shape[2] * src.shape[3] if src.dim() == 4 else src.shape[-1]
        if src.dim() not in (3, 4) or width != self.input_size:
            raise ValueError(
                f"TransformerASR: {name} must be [batch, time, {self.input_size}] features (input_size; 4-D front-end "
                f"outputs are flattened), got shape {tuple(src.shape)}"
            )
        if src.shape[0] == 0 or src.shape[1] == 0:
            raise ValueError(f"TransformerASR: {name} has no frames to encode (shape {tuple(src.shape)})")
        if wav_len is not None:
            check_relative_lengths(wav_len, src.shape[0], "wav_len")

    def _adds_absolute_positions(self):
        """Whether the encoder input gets the absolute sine encoding (SpeechBrain: only for regularMHA)."""
        return self.positional_encoding_type == "fixed_abs_sine" and self.attention_type in (
            "regularMHA",
            SUMMARY_MIXING,
        )

    def _run_encoder(self, src, wav_len, dynchunktrain_config):
        """SummaryMixing encoder pass: returns the encoder's raw outputs and the key padding mask."""
        if src.dim() == 4:
            src = src.flatten(start_dim=2)
        src_key_padding_mask, _, _, _ = speechbrain_asr.make_transformer_src_tgt_masks(src, wav_len=wav_len)
        src = self.custom_src_module(src)
        if self._adds_absolute_positions():
            src = src + self.positional_encoding(src)
        outputs = self.encoder(
            src=src, src_key_padding_mask=src_key_padding_mask, dynchunktrain_config=dynchunktrain_config
        )
        return outputs, src_key_padding_mask

    def _run_decoder(self, tgt, memory, tgt_key_padding_mask, memory_key_padding_mask):
        """SummaryMixing model's Transformer decoder pass (SpeechBrain's decoder, absolute positions)."""
        tgt_mask = get_lookahead_mask(tgt)
        tgt = self.custom_tgt_module(tgt)
        positional_encoding = getattr(self, "positional_encoding_decoder", None) or self.positional_encoding
        return self.decoder(
            tgt=tgt + positional_encoding(tgt),
            memory=memory,
            tgt_mask=tgt_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
        )
