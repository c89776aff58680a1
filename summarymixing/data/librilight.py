"""Libri-Light preparation: voice-activity segments cut into training segments, as start/stop rows.

Libri-Light holds ``<subset>/<speaker>/<book>/<file>.flac`` with a ``<file>.json`` whose ``voice_activity`` lists
``[onset, offset]`` pairs in seconds. ``prepare_librilight`` joins consecutive voice-activity segments of a file
(keeping the pauses between them) into training segments between ``min_duration`` and ``max_duration`` seconds
(10 and 30 s by default, the SummaryMixing SSL paper's bounds), and writes them as rows of ``<subset>.csv`` with
``start``/``stop`` in samples, so no audio is rewritten; SpeechBrain reads a row with
``read_audio({"file": wav, "start": start, "stop": stop})``. Works on the real corpus and the mini corpus::

    from summarymixing.data import mini
    prepare_librilight(mini.layout("librilight", "/tmp/mini"), "/tmp/mini/manifests",
                       min_duration=2.0, max_duration=8.0)
"""

import json
import logging
import os

from summarymixing.data.manifest import (
    SAMPLE_RATE,
    DatasetError,
    already_prepared,
    audio_infos,
    check_unique,
    read_text,
    require_file,
    require_folder,
    write_csv,
    write_options,
)

logger = logging.getLogger(__name__)

OPTIONS_FILE = "opt_librilight_prepare.json"
COLUMNS = ["ID", "duration", "wav", "start", "stop", "spk_id"]


def training_segments(voice_activity, min_duration=10.0, max_duration=30.0):
    """Joins consecutive voice-activity segments into ``[start, stop]`` segments of bounded length (seconds).

    A segment grows by whole voice-activity segments (with the pause in between) while it stays within
    ``max_duration``; a voice-activity segment longer than ``max_duration`` is cut into ``max_duration``
    pieces. Segments shorter than ``min_duration`` are dropped.

    Arguments
    ---------
    voice_activity : list of (float, float)
        Sorted, non-overlapping ``[onset, offset]`` pairs in seconds.
    min_duration, max_duration : float
        Bounds of the output segments in seconds.

    Returns
    -------
    list of (float, float)

    Example
    -------
    >>> training_segments([[0, 4], [5, 9], [10, 14], [20, 51]], min_duration=10, max_duration=30)
    [(0, 14), (20, 50)]
    >>> training_segments([[0, 4], [5, 9]], min_duration=2, max_duration=5)
    [(0, 4), (5, 9)]
    """
    if not 0 < min_duration <= max_duration:
        raise ValueError(f"need 0 < min_duration <= max_duration, got {min_duration} and {max_duration}")
    segments, current = [], None
    for onset, offset in voice_activity:
        if current is not None and offset - current[0] <= max_duration:
            current = (current[0], offset)
            continue
        if current is not None:
            segments.append(current)
        while offset - onset > max_duration:
            segments.append((onset, onset + max_duration))
            onset += max_duration
        current = (onset, offset)
    if current is not None:
        segments.append(current)
    return [segment for segment in segments if segment[1] - segment[0] >= min_duration]


def _read_voice_activity(json_path):
    try:
        metadata = json.loads(read_text(json_path))
    except json.JSONDecodeError as error:
        raise DatasetError(f"unreadable Libri-Light metadata {json_path}: {error}") from error
    voice_activity = metadata.get("voice_activity")
    if not isinstance(voice_activity, list):
        raise DatasetError(f"{json_path} has no 'voice_activity' list")
    previous = 0.0
    for pair in voice_activity:
        if len(pair) != 2 or not previous <= pair[0] < pair[1]:
            raise DatasetError(f"{json_path}: voice_activity segment {pair} is not a sorted [onset, offset] pair")
        previous = pair[1]
    return metadata.get("speaker"), voice_activity


def prepare_librilight(
    data_folder, save_folder, subsets=["small"], min_duration=10.0, max_duration=30.0, skip_prep=False
):
    """Writes ``<save_folder>/<subset>.csv`` (``ID, duration, wav, start, stop, spk_id``) per Libri-Light subset.

    Arguments
    ---------
    data_folder : str
        The folder holding the subset folders (``small``, ``medium``, ``large``, ``duplicate``).
    save_folder : str
        Where the CSVs (and ``opt_librilight_prepare.json``) go.
    subsets : list of str
        Subsets to prepare.
    min_duration, max_duration : float
        Bounds of the training segments in seconds (see :func:`training_segments`).
    skip_prep : bool
        Do nothing.

    Example
    -------
    >>> from summarymixing.data import mini
    >>> tmp = getfixture("tmp_path")
    >>> shared = getfixture("tmp_path_factory").getbasetemp() / "mini"
    >>> prepare_librilight(mini.layout("librilight", shared), tmp / "csv", min_duration=2, max_duration=8)
    >>> open(tmp / "csv" / "small.csv").readline().strip()
    'ID,duration,wav,start,stop,spk_id'
    """
    if skip_prep:
        return
    data_folder, save_folder = os.path.abspath(data_folder), os.path.abspath(save_folder)
    options = {
        "data_folder": data_folder,
        "subsets": list(subsets),
        "min_duration": min_duration,
        "max_duration": max_duration,
    }
    if already_prepared(save_folder, OPTIONS_FILE, options, [subset + ".csv" for subset in subsets]):
        return
    training_segments([], min_duration, max_duration)  # rejects bad bounds before any work
    require_folder(data_folder, "Libri-Light data_folder")
    os.makedirs(save_folder, exist_ok=True)
    for subset in subsets:
        subset_folder = os.path.join(data_folder, subset)
        require_folder(subset_folder, f"Libri-Light subset {subset!r}")
        files, without_metadata = [], []
        for directory, _, names in os.walk(subset_folder):
            for name in sorted(names):
                if name.endswith(".json"):
                    flac = os.path.join(directory, name[: -len(".json")] + ".flac")
                    require_file(flac, f"voice-activity metadata without audio ({os.path.join(directory, name)})")
                    files.append((os.path.join(directory, name), flac))
                elif name.endswith(".flac") and name[: -len(".flac")] + ".json" not in names:
                    without_metadata.append(os.path.join(directory, name))
        if without_metadata:
            logger.warning(
                "Libri-Light %s: %d .flac files have no .json voice-activity file and are left out (first: %s)",
                subset,
                len(without_metadata),
                without_metadata[0],
            )
        if not files:
            raise DatasetError(f"Libri-Light subset {subset!r} has no .json/.flac pairs in {subset_folder}")
        files.sort()
        rows = []
        headers = audio_infos([flac for _, flac in files], f"Libri-Light {subset}", sample_rate=SAMPLE_RATE)
        for (json_path, flac), (frames, rate) in zip(files, headers):
            speaker, voice_activity = _read_voice_activity(json_path)
            if voice_activity and voice_activity[-1][1] > frames / rate + 0.01:
                raise DatasetError(
                    f"{json_path}: voice activity ends at {voice_activity[-1][1]} s but {flac} "
                    f"lasts {frames / rate:.2f} s"
                )
            speaker = speaker or os.path.basename(os.path.dirname(os.path.dirname(flac)))
            stem = os.path.basename(flac)[: -len(".flac")]
            for index, (onset, offset) in enumerate(training_segments(voice_activity, min_duration, max_duration)):
                start, stop = int(round(onset * rate)), min(int(round(offset * rate)), frames)
                rows.append(
                    {
                        "ID": f"{speaker}-{stem}-{index:04d}",
                        "duration": round((stop - start) / rate, 5),
                        "wav": flac,
                        "start": start,
                        "stop": stop,
                        "spk_id": speaker,
                    }
                )
        check_unique((row["ID"] for row in rows), subset_folder)
        write_csv(os.path.join(save_folder, subset + ".csv"), COLUMNS, rows)
    write_options(save_folder, OPTIONS_FILE, options)
