"""Chunk-by-chunk SentencePiece detokenisation that keeps word boundaries between chunks.

``speechbrain.tokenizers.SentencePiece.spm_decode_preserve_leading_space`` (SpeechBrain 1.1.2) asks SentencePiece for
``out_type="immutable_proto"``, which sentencepiece 0.2.1+ rejects with a ValueError, so StreamingASR cannot decode
with it here. This function does the same job from the token pieces and plugs into the same place
(``tokenizer_decode_streaming`` in the inference YAML, with SpeechBrain's ``SentencePieceDecoderStreamingContext``).

Authors
 * SummaryMixing contributors 2026
"""

WORD_START = "\u2581"


def spm_decode_streaming(tokenizer, tokens, context):
    """Decodes the tokens of one chunk, restoring the space SentencePiece drops before a mid-stream word.

    Arguments
    ---------
    tokenizer : sentencepiece.SentencePieceProcessor
        The tokenizer.
    tokens : list of int
        Token ids decoded from this chunk (possibly empty).
    context : speechbrain.tokenizers.SentencePiece.SentencePieceDecoderStreamingContext
        Per-stream state (how many tokens were emitted before), reused across the chunks of one stream.

    Returns
    -------
    str
        The chunk's text; concatenating the chunks of a stream gives the full transcript.

    Example
    -------
    >>> from speechbrain.tokenizers.SentencePiece import SentencePieceDecoderStreamingContext
    >>> class Pieces:  # a two-word stand-in for a SentencePieceProcessor
    ...     pieces = ["<unk>", "\u2581turn", "\u2581on", "s"]
    ...     def id_to_piece(self, i): return self.pieces[i]
    ...     def decode_ids(self, ids): return "".join(self.pieces[i] for i in ids).replace("\u2581", " ").strip()
    >>> context = SentencePieceDecoderStreamingContext()
    >>> [spm_decode_streaming(Pieces(), chunk, context) for chunk in [[1], [], [2], [3]]]
    ['turn', '', ' on', 's']
    """
    text = tokenizer.decode_ids(list(tokens))
    if tokens and context.emitted_symbol_count > 0 and tokenizer.id_to_piece(tokens[0]).startswith(WORD_START):
        text = " " + text
    context.emitted_symbol_count += len(tokens)
    return text
