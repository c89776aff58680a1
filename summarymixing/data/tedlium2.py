"""TED-LIUM release 2 preparation (``prepare_tedlium2``): utterance segments of the talks, read in place.

``data_folder`` is ``TEDLIUM_release2`` as distributed: ``{train,dev,test}/sph/<talk>.sph`` (16 kHz NIST SPHERE
recordings of whole talks) and ``{train,dev,test}/stm/<talk>.stm``, one segment per line::

    AaronHuey_2010X 1 AaronHuey_2010X 17.82 28.81 <o,f0,male> i 've been photographing ...

(talk, channel, speaker, start and end in seconds, label, words). Writes ``train.csv``, ``dev.csv`` and
``test.csv`` with ``ID, duration, wav, start, stop, spk_id, wrd``, where ``wav`` is the talk's recording and
``start`` / ``stop`` the segment's first and past-the-end samples: the recipes read only the segment
(``summarymixing.data.speech_text``), so no audio is copied. SpeechBrain's own preparation writes every segment
into a new audio file instead (its signature has the folder for them); the segments and transcripts are the same:

* segments labelled ``ignore_time_segment_in_scoring``, with fewer than two words, or shorter than
  ``avoid_if_shorter_than`` seconds are left out;
* a trailing non-letter character is dropped and split contractions are joined (``i 've`` -> ``i've``);
* the talk ``JillSobuleMANHATTANINJANUARY_2006`` (a song whose annotation does not fit) is left out.
"""

import glob
import logging
import os

from summarymixing.data.manifest import (
    DatasetError,
    already_prepared,
    audio_infos,
    check_unique,
    read_text,
    require_folder,
    write_csv,
    write_options,
)

logger = logging.getLogger(__name__)
OPTIONS_FILE = "opt_tedlium2_prepare.json"
COLUMNS = ["ID", "duration", "wav", "start", "stop", "spk_id", "wrd"]
SPLITS = ("train", "dev", "test")
SAMPLE_RATE = 16000
SKIPPED_TALKS = ("JillSobuleMANHATTANINJANUARY_2006",)
CONTRACTIONS = ("'ve", "'t", "'ll", "'d", "'m", "'re", "'s")
END_TOLERANCE_S = 0.5
"""How far a segment may end after its recording (annotation rounding); it is then cut at the recording's end."""


def normalize_transcript(words):
    """SpeechBrain's TED-LIUM 2 transcript clean-up: joined words without a trailing non-letter character and
    with split contractions joined.

    Example
    -------
    >>> normalize_transcript(["i", "'ve", "been", "there", "it", "'s", "fine", "."])
    "i've been there it's fine"
    """
    transcript = " ".join(words)
    if transcript and not transcript[-1].isalpha():
        transcript = transcript[:-1].rstrip()
    for contraction in CONTRACTIONS:
        transcript = transcript.replace(" " + contraction, contraction)
    return transcript


def read_stm(path, avoid_if_shorter_than=1.0):
    """The segments of one STM file that the recipes train and test on (see the module documentation).

    Returns
    -------
    list of dict
        ``{"ID", "talk", "spk_id", "start_s", "end_s", "wrd"}`` per kept segment; ``ID`` is ``<talk>-<line
        index>``, as SpeechBrain's.

    Example
    -------
    >>> path = getfixture("tmp_path") / "talk.stm"
    >>> _ = path.write_text("talk 1 talk 0.0 2.5 <o,f0,male> hello there .\\n"
    ...                     "talk 1 talk 2.5 3.0 <o,f0,male> ignore_time_segment_in_scoring\\n")
    >>> read_stm(str(path))
    [{'ID': 'talk-0', 'talk': 'talk', 'spk_id': 'talk', 'start_s': 0.0, 'end_s': 2.5, 'wrd': 'hello there'}]
    """
    segments = []
    for index, line in enumerate(read_text(path).splitlines()):
        fields = line.split()
        if not fields or line.startswith(";;"):
            continue
        if len(fields) < 6:
            raise DatasetError(f"{path} line {index + 1}: expected 'talk channel speaker start end <label> words'")
        try:
            start, end = float(fields[3]), float(fields[4])
        except ValueError:
            raise DatasetError(f"{path} line {index + 1}: start and end must be seconds, got {fields[3:5]}") from None
        if end < start:
            raise DatasetError(f"{path} line {index + 1}: the segment ends ({end}) before it starts ({start})")
        words = fields[6:]
        if end - start < avoid_if_shorter_than or len(words) <= 1 or words == ["ignore_time_segment_in_scoring"]:
            continue
        segments.append(
            {
                "ID": f"{fields[0]}-{index}",
                "talk": fields[0],
                "spk_id": fields[2],
                "start_s": start,
                "end_s": end,
                "wrd": normalize_transcript(words),
            }
        )
    return segments


def prepare_tedlium2(data_folder, save_folder, avoid_if_shorter_than=1.0, skip_prep=False):
    """Writes ``train.csv``, ``dev.csv`` and ``test.csv`` (``ID, duration, wav, start, stop, spk_id, wrd``).

    Arguments
    ---------
    data_folder : str
        ``TEDLIUM_release2`` (holding ``train``, ``dev`` and ``test``, each with ``sph/`` and ``stm/``).
    save_folder : str
        Where the CSVs (and ``opt_tedlium2_prepare.json``) go.
    avoid_if_shorter_than : float
        Segments shorter than this many seconds are left out (SpeechBrain's default, 1 s).
    skip_prep : bool
        Do nothing.
    """
    if skip_prep:
        return
    data_folder, save_folder = os.path.abspath(data_folder), os.path.abspath(save_folder)
    options = {"data_folder": data_folder, "avoid_if_shorter_than": avoid_if_shorter_than}
    if already_prepared(save_folder, OPTIONS_FILE, options, [split + ".csv" for split in SPLITS]):
        return
    require_folder(data_folder, "TED-LIUM 2 data_folder (TEDLIUM_release2)")
    os.makedirs(save_folder, exist_ok=True)
    for split in SPLITS:
        rows = _split_rows(os.path.join(data_folder, split), avoid_if_shorter_than)
        write_csv(os.path.join(save_folder, split + ".csv"), COLUMNS, rows)
    write_options(save_folder, OPTIONS_FILE, options)


def _split_rows(split_folder, avoid_if_shorter_than):
    stm_folder, sph_folder = os.path.join(split_folder, "stm"), os.path.join(split_folder, "sph")
    require_folder(stm_folder, "TED-LIUM 2 stm folder")
    require_folder(sph_folder, "TED-LIUM 2 sph folder")
    talks = {}
    for stm in sorted(glob.glob(os.path.join(stm_folder, "*.stm"))):
        talk = os.path.splitext(os.path.basename(stm))[0]
        if talk in SKIPPED_TALKS:
            logger.info("TED-LIUM 2: %s is left out (its annotation does not fit the audio)", talk)
            continue
        sph = os.path.join(sph_folder, talk + ".sph")
        if not os.path.isfile(sph):
            raise DatasetError(f"transcript without audio: {stm} has no recording {sph}")
        talks[sph] = read_stm(stm, avoid_if_shorter_than)
    if not any(talks.values()):
        raise DatasetError(f"TED-LIUM 2: no usable segment in {stm_folder}/*.stm")
    headers = audio_infos(list(talks), f"TED-LIUM 2 {os.path.basename(split_folder)} talks", sample_rate=SAMPLE_RATE)
    rows = []
    for (sph, segments), (frames, rate) in zip(talks.items(), headers):
        for segment in segments:
            start, stop = round(segment["start_s"] * rate), round(segment["end_s"] * rate)
            if stop > frames:
                if stop - frames > END_TOLERANCE_S * rate:
                    raise DatasetError(
                        f"{segment['ID']} ends at {segment['end_s']} s, after the end of {sph} ({frames / rate:.2f} s)"
                    )
                stop = frames
            row = {key: segment[key] for key in ("ID", "spk_id", "wrd")}
            row.update(wav=sph, start=start, stop=stop, duration=round((stop - start) / rate, 5))
            rows.append(row)
    check_unique((row["ID"] for row in rows), stm_folder)
    return rows
