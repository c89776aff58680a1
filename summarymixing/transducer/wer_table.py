"""The streaming WER table: which decoding settings are evaluated, their names, Markdown and JSON output.

A setting is full context, or a chunk size in milliseconds with a left context in chunks (``None`` = unlimited),
decoded with chunk masks on each whole utterance (``masked``), chunk by chunk from each utterance's audio
(``streamed``, by ``summarymixing.transducer.inference.StreamingTransducerASR``), or chunk by chunk from one
continuous recording of the whole test set, its utterances joined by pauses, cut into segments by the endpoint
rules (``continuous``: the path of ``transcribe.py`` on a long recording, scored against the joined references).
Its key is ``full_context`` or ``chunk<ms>ms_left<chunks|inf>_<masked|streamed|continuous>``, e.g.
``chunk640ms_leftinf_streamed``; ``<setting>_streamed_rtf`` and ``<setting>_continuous_rtf`` are the real-time
factors of the streamed decodings.

Authors
 * SummaryMixing contributors 2026
"""

import json
import os

from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing.run_folder import write_atomically

FULL_CONTEXT = "full_context"
MODES = ("masked", "streamed", "continuous")


def streaming_settings(chunk_sizes_ms, left_contexts_chunks, frame_ms):
    """Lists the chunked settings of the table as ``(name, DynChunkTrainConfig)`` pairs.

    Arguments
    ---------
    chunk_sizes_ms : list of int
        Chunk sizes in milliseconds; each must be a multiple of ``frame_ms``.
    left_contexts_chunks : list of int or None
        Left context in chunks; ``None`` for unlimited.
    frame_ms : int
        Duration of one encoder frame in milliseconds (40 for a 10 ms hop and 4x subsampling).

    Returns
    -------
    list of (str, DynChunkTrainConfig)
        Names such as ``chunk640ms_left32`` (without the mode suffix) with their configurations.

    Example
    -------
    >>> [name for name, _ in streaming_settings([320, 640], [2, None], 40)]
    ['chunk320ms_left2', 'chunk320ms_leftinf', 'chunk640ms_left2', 'chunk640ms_leftinf']
    >>> streaming_settings([640], [None], 40)[0][1]
    DynChunkTrainConfig(chunk_size=16, left_context_size=None)
    >>> streaming_settings([100], [None], 40)
    Traceback (most recent call last):
    ...
    ValueError: test_chunk_sizes_ms: 100 ms is not a positive multiple of the 40 ms encoder frame
    >>> streaming_settings([640], [-2], 40)
    Traceback (most recent call last):
    ...
    ValueError: test_left_contexts_chunks: -2 is not a number of chunks (a whole number >= 0, or null: unlimited)
    """
    for left in left_contexts_chunks:
        if left is not None and (isinstance(left, bool) or not isinstance(left, int) or left < 0):
            raise ValueError(
                f"test_left_contexts_chunks: {left} is not a number of chunks (a whole number >= 0, or null: unlimited)"
            )
    settings = []
    for chunk_ms in chunk_sizes_ms:
        if isinstance(chunk_ms, bool) or not isinstance(chunk_ms, int) or chunk_ms <= 0 or chunk_ms % frame_ms:
            raise ValueError(
                f"test_chunk_sizes_ms: {chunk_ms} ms is not a positive multiple of the {frame_ms} ms encoder frame"
            )
        for left in left_contexts_chunks:
            name = f"chunk{chunk_ms}ms_left{'inf' if left is None else left}"
            settings.append((name, DynChunkTrainConfig(chunk_ms // frame_ms, left)))
    return settings


def format_markdown(results, settings):
    """Formats a WER table, one row per setting; per test set, the masked, streamed and continuous WER columns and
    the real-time factor of the streamed decoding (a column missing from ``results`` shows ``-``).

    Arguments
    ---------
    results : dict
        ``{test_set: {key: WER in percent, <setting>_streamed_rtf: real-time factor}}``.
    settings : list of str
        Setting names without mode suffix, in row order.

    Returns
    -------
    str
        The Markdown table.

    Example
    -------
    >>> print(format_markdown({"test": {"full_context": 9.5, "chunk640ms_leftinf_masked": 10.0,
    ...     "chunk640ms_leftinf_streamed": 10.0, "chunk640ms_leftinf_streamed_rtf": 0.0412,
    ...     "chunk640ms_leftinf_continuous": 10.5}}, ["chunk640ms_leftinf"]))
    | setting | test masked | test streamed | test continuous | test streamed RTF |
    |---|---|---|---|---|
    | full context | 9.50 | - | - | - |
    | chunk 640 ms, left inf | 10.00 | 10.00 | 10.50 | 0.041 |
    """
    header = ["setting"] + [f"{test_set} {column}" for test_set in results for column in (*MODES, "streamed RTF")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.append(
        "| full context | " + " | ".join(f"{wers[FULL_CONTEXT]:.2f} | - | - | -" for wers in results.values()) + " |"
    )
    for setting in settings:
        label = setting_label(setting)
        cells = []
        for wers in results.values():
            for key in [f"{setting}_{mode}" for mode in MODES]:
                cells.append("-" if key not in wers else f"{wers[key]:.2f}")
            rtf = wers.get(f"{setting}_streamed_rtf")
            cells.append("-" if rtf is None else f"{rtf:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def setting_label(setting):
    """A setting's name for a table row.

    Example
    -------
    >>> setting_label("chunk640ms_leftinf"), setting_label("full_context")
    ('chunk 640 ms, left inf', 'full context')
    """
    if setting == FULL_CONTEXT:
        return "full context"
    chunk, left = setting.split("_")
    return f"chunk {chunk[len('chunk') : -len('ms')]} ms, left {left[len('left') :]}"


def write_wer_table(results, settings, output_folder):
    """Writes ``wer.md`` and the JSON files and returns the Markdown table.

    ``<output_folder>/wer.json`` maps each key to the WER (percent) on the first test set (the headline one, e.g.
    LibriSpeech test-clean); ``wer_<test_set>.json`` holds the same mapping for every test set.

    Arguments
    ---------
    results : dict
        ``{test_set: {key: WER in percent}}``, insertion-ordered.
    settings : list of str
        Setting names without mode suffix, in row order.
    output_folder : str
        Where to write.

    Returns
    -------
    str
        The Markdown table.
    """
    table = format_markdown(results, settings)
    write_atomically(os.path.join(output_folder, "wer.md"), table + "\n")
    for index, (test_set, wers) in enumerate(results.items()):
        names = [f"wer_{test_set}.json"] + (["wer.json"] if index == 0 else [])
        for name in names:
            write_atomically(os.path.join(output_folder, name), json.dumps(wers, indent=2))
    return table
