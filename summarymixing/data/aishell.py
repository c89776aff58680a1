"""AISHELL-1 preparation with SpeechBrain's recipe signature (``prepare_aishell``).

``data_folder`` is the corpus's ``data_aishell`` folder as distributed: ``transcript/aishell_transcript_v0.8.txt``
(``BAC009S0002W0122 而 对 楼市 成交 抑制 作用 最 大 的 限 购``: an utterance id, then the words separated by
spaces) and ``wav/``, which holds one ``S0002.tar.gz`` per speaker (each unpacking to
``{train,dev,test}/S0002/*.wav``) or the unpacked split folders. Writes ``train.csv``, ``dev.csv`` and ``test.csv``
with ``ID, duration, wav, spk_id, wrd``; ``wrd`` keeps the transcript's spaces, and the recipes remove them before
scoring characters (``metric: CER``)::

    prepare_aishell("/data/aishell/data_aishell", "results/aishell")

Speaker archives are unpacked next to themselves, each into a temporary folder that is moved into place when
complete, so an interrupted preparation unpacks again only what it had not finished. The archives are kept
(``remove_compressed_wavs=True`` deletes each once unpacked, as SpeechBrain's default does). Recordings without a
transcript (the corpus has some) are left out with a warning.
"""

import glob
import logging
import os
import shutil
import tarfile

from summarymixing.data.manifest import (
    DatasetError,
    add_durations,
    already_prepared,
    check_unique,
    read_text,
    require_file,
    require_folder,
    write_csv,
    write_options,
)

logger = logging.getLogger(__name__)
OPTIONS_FILE = "opt_aishell_prepare.json"
COLUMNS = ["ID", "duration", "wav", "spk_id", "wrd"]
SPLITS = ("train", "dev", "test")
SAMPLE_RATE = 16000
TRANSCRIPT = os.path.join("transcript", "aishell_transcript_v0.8.txt")


def read_transcripts(path):
    """``{utterance id: words separated by single spaces}`` from AISHELL-1's transcript file.

    Example
    -------
    >>> path = getfixture("tmp_path") / "aishell_transcript_v0.8.txt"
    >>> _ = path.write_text("BAC009S0002W0122 而 对 楼市  成交\\nBAC009S0002W0123 也 成为\\n", encoding="utf-8")
    >>> read_transcripts(str(path))
    {'BAC009S0002W0122': '而 对 楼市 成交', 'BAC009S0002W0123': '也 成为'}
    """
    transcripts = {}
    for number, line in enumerate(read_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise DatasetError(f"{path} line {number}: an utterance id without words: {line!r}")
        if fields[0] in transcripts:
            raise DatasetError(f"{path} line {number}: duplicate id {fields[0]!r}")
        transcripts[fields[0]] = " ".join(fields[1:])
    if not transcripts:
        raise DatasetError(f"{path} holds no transcript")
    return transcripts


def unpack_speakers(wav_folder, remove_compressed_wavs=False):
    """Unpacks every ``<wav_folder>/<speaker>.tar.gz`` whose speaker folder is not in place yet.

    Each archive goes to ``<wav_folder>/.unpacking-<speaker>`` first; its ``<split>/<speaker>`` folder is then
    moved into ``<wav_folder>/<split>/``. Members that would land outside that folder (absolute paths, ``..``,
    links) are refused by ``tarfile``'s ``data`` filter.
    """
    for archive in sorted(glob.glob(os.path.join(wav_folder, "*.tar.gz"))):
        speaker = os.path.basename(archive)[: -len(".tar.gz")]
        if any(os.path.isdir(os.path.join(wav_folder, split, speaker)) for split in SPLITS):
            if remove_compressed_wavs:
                os.remove(archive)
            continue
        staging = os.path.join(wav_folder, f".unpacking-{speaker}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            with tarfile.open(archive) as tar:
                _extract_safely(tar, staging)
        except (tarfile.TarError, OSError, EOFError) as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise DatasetError(f"cannot unpack {archive}: {error}") from error
        unpacked = [split for split in SPLITS if os.path.isdir(os.path.join(staging, split, speaker))]
        if len(unpacked) != 1:
            shutil.rmtree(staging, ignore_errors=True)
            raise DatasetError(f"{archive} should hold one of {[f'{s}/{speaker}/' for s in SPLITS]}")
        os.makedirs(os.path.join(wav_folder, unpacked[0]), exist_ok=True)
        os.replace(os.path.join(staging, unpacked[0], speaker), os.path.join(wav_folder, unpacked[0], speaker))
        shutil.rmtree(staging)
        if remove_compressed_wavs:
            os.remove(archive)


def prepare_aishell(data_folder, save_folder, skip_prep=False, remove_compressed_wavs=False):
    """Writes ``train.csv``, ``dev.csv`` and ``test.csv`` (``ID, duration, wav, spk_id, wrd``) for AISHELL-1.

    Arguments
    ---------
    data_folder : str
        The ``data_aishell`` folder (``transcript/`` and ``wav/``).
    save_folder : str
        Where the CSVs (and ``opt_aishell_prepare.json``) go.
    skip_prep : bool
        Do nothing.
    remove_compressed_wavs : bool
        Delete each speaker archive once unpacked (default: keep them).

    Example
    -------
    >>> import numpy, soundfile
    >>> root = getfixture("tmp_path") / "data_aishell"
    >>> for split, speaker in [("train", "S0002"), ("dev", "S0724"), ("test", "S0764")]:
    ...     os.makedirs(root / "wav" / split / speaker)
    ...     soundfile.write(str(root / "wav" / split / speaker / f"BAC009{speaker}W0001.wav"),
    ...                     numpy.zeros(8000), SAMPLE_RATE)
    >>> os.makedirs(root / "transcript")
    >>> _ = (root / TRANSCRIPT).write_text("".join(f"BAC009{s}W0001 你 好\\n" for s in ["S0002", "S0724", "S0764"]))
    >>> prepare_aishell(str(root), str(root.parent / "prepared"))
    >>> print(open(root.parent / "prepared" / "dev.csv").read().splitlines()[1].split(",")[-1])
    你 好
    """
    if skip_prep:
        return
    data_folder, save_folder = os.path.abspath(data_folder), os.path.abspath(save_folder)
    options = {"data_folder": data_folder}
    manifests = [split + ".csv" for split in SPLITS]
    if already_prepared(save_folder, OPTIONS_FILE, options, manifests):
        return
    require_folder(data_folder, "AISHELL-1 data_folder (data_aishell)")
    transcript_path = os.path.join(data_folder, TRANSCRIPT)
    require_file(transcript_path, "AISHELL-1 transcript file")
    wav_folder = os.path.join(data_folder, "wav")
    require_folder(wav_folder, "AISHELL-1 wav folder")
    unpack_speakers(wav_folder, remove_compressed_wavs)
    transcripts = read_transcripts(transcript_path)
    os.makedirs(save_folder, exist_ok=True)
    for split in SPLITS:
        wavs = sorted(glob.glob(os.path.join(wav_folder, split, "*", "*.wav")))
        rows = [
            {
                "ID": _stem(wav),
                "wav": wav,
                "spk_id": os.path.basename(os.path.dirname(wav)),
                "wrd": transcripts[_stem(wav)],
            }
            for wav in wavs
            if _stem(wav) in transcripts
        ]
        if len(rows) < len(wavs):
            logger.warning(
                "AISHELL-1 %s: %d recordings have no transcript and are left out", split, len(wavs) - len(rows)
            )
        if not rows:
            raise DatasetError(
                f"AISHELL-1 {split}: no transcribed recording under {os.path.join(wav_folder, split)} "
                "(expected <split>/<speaker>/<utterance id>.wav, or <speaker>.tar.gz archives in wav/)"
            )
        check_unique((row["ID"] for row in rows), os.path.join(wav_folder, split))
        add_durations(rows, f"AISHELL-1 {split}", sample_rate=SAMPLE_RATE)
        write_csv(os.path.join(save_folder, split + ".csv"), COLUMNS, rows)
    write_options(save_folder, OPTIONS_FILE, options)


def _extract_safely(tar, folder):
    """``tar.extractall(folder)`` refusing members outside ``folder`` and links (``tarfile``'s ``data`` filter,
    or the same checks on Pythons that predate it)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(folder, filter="data")
        return
    for member in tar.getmembers():
        target = os.path.realpath(os.path.join(folder, member.name))
        if member.issym() or member.islnk() or not target.startswith(os.path.realpath(folder) + os.sep):
            raise tarfile.TarError(f"refusing the member {member.name!r}")
    tar.extractall(folder)


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]
