"""Transducer decoding of a padded batch, with full context or chunk masks on the whole utterance.

The ``masked`` decoding of the WER table: one ``encoder(frames, lengths, dynchunktrain_config=config)`` call on
the whole batch, the chunk and left-context limits enforced by chunked summaries (SummaryMixing) or attention
masks, and Dynamic Chunk Convolution. Its streamed twin, chunk by chunk from audio, is
:class:`summarymixing.transducer.inference.StreamingTransducerASR`; the two give identical hypotheses.

Authors
 * SummaryMixing contributors 2026
"""

import torch

from summarymixing.transducer.loss import relative_to_absolute_lengths


@torch.no_grad()
def decode_masked(encoder, projection, searcher, features, relative_lengths, config):
    """Encodes a batch in one pass with chunk masks from ``config`` (``None`` = full context) and decodes it.

    Arguments
    ---------
    encoder : torch.nn.Module
        SpeechBrain's ``TransformerASR.EncoderWrapper`` or alike: ``forward(x, wav_lens, dynchunktrain_config=...)``.
    projection : torch.nn.Module
        Maps encoder outputs to the joint network's input.
    searcher : summarymixing.transducer.search.TransducerSearcher
        Greedy or beam search, each utterance up to its own length.
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

    Example
    -------
        >>> from speechbrain.lobes.models.transformer.TransformerASR import EncoderWrapper, TransformerASR
    >>> from speechbrain.nnet.embedding import Embedding
    >>> from speechbrain.nnet.linear import Linear
    >>> from speechbrain.nnet.RNN import LSTM
    >>> from speechbrain.nnet.transducer.transducer_joint import Transducer_joint
    >>> from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig
    >>> _ = torch.manual_seed(0)
    >>> asr = TransformerASR(5, 8, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=0, d_ffn=32,
    ...     encoder_module="conformer", attention_type="RelPosMHAXL", normalize_before=True, causal=False).eval()
    >>> from summarymixing.transducer.search import TransducerSearcher
    >>> searcher = TransducerSearcher([Embedding(5, 4), LSTM(8, input_size=4)], Transducer_joint(joint="sum"),
    ...     [Linear(input_size=8, n_neurons=5)], blank_id=0, beam_size=1)
    >>> hypotheses = decode_masked(EncoderWrapper(asr), Linear(input_size=16, n_neurons=8), searcher,
    ...     torch.randn(2, 20, 8), torch.tensor([1.0, 0.6]), DynChunkTrainConfig(4, 2))
    >>> len(hypotheses)
    2
    """
    encoded = projection(encoder(features, relative_lengths, dynchunktrain_config=config))
    return searcher.decode(encoded, relative_to_absolute_lengths(relative_lengths, encoded.shape[1]))
