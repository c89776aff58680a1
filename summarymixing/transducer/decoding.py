"""Greedy transducer decoding of encoder features, masked (whole utterance) or streamed (chunk by chunk).

Both paths start from the same front-end features (the input of ``speechbrain.lobes.models.transformer.TransformerASR.EncoderWrapper``) so that they
differ only in how the encoder sees the future:

- masked: one ``encoder(features, lengths, dynchunktrain_config=config)`` call on the whole (padded) batch, the
  chunk and left-context limits enforced by attention masks / chunked summaries and Dynamic Chunk Convolution;
- streamed: each utterance is cut into chunks of ``config.chunk_size`` frames and fed in order through
  ``encoder.forward_streaming(chunk, context)``, the greedy searcher carrying its prediction-network state from one
  chunk to the next, as ``speechbrain.inference.ASR.StreamingASR`` does.

A correct streaming encoder gives identical hypotheses for the two.

Authors
 * SummaryMixing contributors 2026
"""

import torch
from speechbrain.decoders.transducer import TransducerGreedySearcherStreamingContext

from summarymixing.transducer import relative_to_absolute_lengths


def greedy_decode(searcher, encoded, lengths):
    """Greedy-decodes each utterance of a padded batch up to its own length (padding frames emit nothing).

    Arguments
    ---------
    searcher : speechbrain.decoders.transducer.TransducerBeamSearcher
        The searcher (its ``transducer_greedy_decode`` is used whatever its beam size).
    encoded : torch.Tensor
        Projected encoder output ``[batch, time, features]``.
    lengths : torch.Tensor
        Number of valid frames per utterance, ``[batch]``.

    Returns
    -------
    list of list of int
        One token sequence per utterance.
    """
    return [
        searcher.transducer_greedy_decode(encoded[i : i + 1, : int(length)])[0][0] for i, length in enumerate(lengths)
    ]


def decode_masked(encoder, projection, searcher, features, relative_lengths, config):
    """Encodes a batch in one pass with chunk masks from ``config`` (``None`` = full context) and decodes greedily.

    Arguments
    ---------
    encoder : torch.nn.Module
        ``speechbrain.lobes.models.transformer.TransformerASR.EncoderWrapper``-like: ``forward(x, wav_lens, dynchunktrain_config=...)``.
    projection : torch.nn.Module
        Maps encoder outputs to the joint network's input.
    searcher : speechbrain.decoders.transducer.TransducerBeamSearcher
        Greedy searcher.
    features : torch.Tensor
        Front-end output ``[batch, time, features]`` (padded).
    relative_lengths : torch.Tensor
        Relative lengths ``[batch]``.
    config : speechbrain.utils.dynamic_chunk_training.DynChunkTrainConfig or None
        Chunk size (frames) and left context (chunks); ``None`` for full context.

    Returns
    -------
    list of list of int
        One token sequence per utterance.
    """
    encoded = projection(encoder(features, relative_lengths, dynchunktrain_config=config))
    return greedy_decode(searcher, encoded, relative_to_absolute_lengths(relative_lengths, encoded.shape[1]))


def decode_streamed(encoder, projection, searcher, features, relative_lengths, config):
    """Decodes each utterance chunk by chunk through the encoder's streaming context.

    Arguments
    ---------
    encoder : torch.nn.Module
        ``speechbrain.lobes.models.transformer.TransformerASR.EncoderWrapper``-like: ``make_streaming_context(config)`` and
        ``forward_streaming(chunk, context)``.
    projection : torch.nn.Module
        Maps encoder outputs to the joint network's input.
    searcher : speechbrain.decoders.transducer.TransducerBeamSearcher
        Greedy searcher (``transducer_greedy_decode_streaming``).
    features : torch.Tensor
        Front-end output ``[batch, time, features]`` (padded; each utterance is cut to its length).
    relative_lengths : torch.Tensor
        Relative lengths ``[batch]``.
    config : speechbrain.utils.dynamic_chunk_training.DynChunkTrainConfig
        Chunk size (frames) and left context (chunks).

    Returns
    -------
    list of list of int
        One token sequence per utterance.
    """
    hypotheses = []
    for utterance, length in zip(features, relative_to_absolute_lengths(relative_lengths, features.shape[1])):
        encoder_context = encoder.make_streaming_context(config)
        decoder_context = TransducerGreedySearcherStreamingContext()
        tokens = []
        for start in range(0, int(length), config.chunk_size):
            chunk = utterance[start : min(start + config.chunk_size, int(length))].unsqueeze(0)
            encoded = projection(encoder.forward_streaming(chunk, encoder_context))
            tokens += searcher.transducer_greedy_decode_streaming(encoded, decoder_context)[0]
        hypotheses.append(tokens)
    return hypotheses


def decode(encoder, projection, searcher, features, relative_lengths, config, streamed):
    """Dispatches to :func:`decode_streamed` or :func:`decode_masked` under ``torch.no_grad``.

    Arguments
    ---------
    encoder, projection, searcher, features, relative_lengths, config
        As for :func:`decode_masked`.
    streamed : bool
        Whether to stream (requires a ``config``).

    Returns
    -------
    list of list of int
        One token sequence per utterance.

    Example
    -------
    >>> from speechbrain.decoders.transducer import TransducerBeamSearcher
    >>> from speechbrain.lobes.models.transformer.TransformerASR import EncoderWrapper, TransformerASR
    >>> from speechbrain.nnet.linear import Linear
    >>> from speechbrain.nnet.RNN import LSTM
    >>> from speechbrain.nnet.embedding import Embedding
    >>> from speechbrain.nnet.transducer.transducer_joint import Transducer_joint
    >>> from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
    >>> _ = torch.manual_seed(0)
    >>> asr = TransformerASR(5, 8, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=0, d_ffn=32,
    ...     encoder_module="conformer", attention_type="RelPosMHAXL", normalize_before=True, causal=False).eval()
    >>> encoder = EncoderWrapper(asr)
    >>> searcher = TransducerBeamSearcher([Embedding(5, 4), LSTM(8, input_size=4)], Transducer_joint(joint="sum"),
    ...     [Linear(input_size=8, n_neurons=5)], blank_id=0, beam_size=1)
    >>> projection = Linear(input_size=16, n_neurons=8)
    >>> features, lengths = torch.randn(2, 20, 8), torch.tensor([1.0, 0.6])
    >>> masked = decode(encoder, projection, searcher, features, lengths, DynChunkTrainConfig(4, 2), False)
    >>> masked == decode(encoder, projection, searcher, features, lengths, DynChunkTrainConfig(4, 2), True)
    True
    """
    if streamed and config is None:
        raise ValueError("decode: streamed decoding needs a DynChunkTrainConfig (chunk size), got None")
    with torch.no_grad():
        if streamed:
            return decode_streamed(encoder, projection, searcher, features, relative_lengths, config)
        return decode_masked(encoder, projection, searcher, features, relative_lengths, config)
