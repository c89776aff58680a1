"""Shared machinery of the dataset preparers: options-aware skipping, parallel audio headers, atomic CSVs.

Every ``prepare_<dataset>`` function follows the same steps: return at once when the manifests it would write
already exist with the same options (saved as JSON next to them; otherwise that record is removed first), read
and check all audio headers in parallel behind a progress bar (rate, channels, a truncated end), then write each
CSV under a temporary name and move it into place, and the options record last, so that an interrupted run never
leaves a half-written manifest or a record that vouches for manifests of another run.
"""

import codecs
import csv
import functools
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import soundfile as sf
from tqdm import tqdm

logger = logging.getLogger(__name__)
SAMPLE_RATE = 16000
"""The sample rate of the datasets' audio, which their recipes read without resampling (CommonVoice's clips, 48 kHz
MP3, are the exception: they are resampled when read)."""
TAIL_FRAMES = 1600
"""Samples decoded at the end of every audio file, to catch files whose data ends before their header says."""


class DatasetError(ValueError):
    """Bad dataset content (unreadable or empty audio, transcript without audio, duplicate ids, ...)."""


def require_folder(path, what):
    """Raises ``FileNotFoundError`` naming ``what`` and ``path`` when ``path`` is not a folder.

    Example
    -------
    >>> require_folder("/nonexistent/LibriSpeech/dev-clean", "split 'dev-clean'")
    Traceback (most recent call last):
    ...
    FileNotFoundError: split 'dev-clean' not found: /nonexistent/LibriSpeech/dev-clean is not a folder
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{what} not found: {path} is not a folder")


def require_file(path, problem):
    """Raises :class:`DatasetError` ``"<problem>: <path> is missing"`` when ``path`` is not a file."""
    if not os.path.isfile(path):
        raise DatasetError(f"{problem}: {path} is missing")


def already_prepared(save_folder, options_name, options, manifests):
    """Tells whether ``manifests`` all exist in ``save_folder`` and were written with the same ``options``; if
    not, removes the options record first, so that a preparation interrupted from here on (with other options,
    say, leaving manifests of both runs) is never trusted by the next run: the record is written last, by
    :func:`write_options`, once every manifest is.

    Arguments
    ---------
    save_folder : str
        Where the manifests and the options JSON live.
    options_name : str
        File name of the options JSON (e.g. ``opt_librispeech_prepare.json``).
    options : dict
        JSON-serialisable options of this call.
    manifests : list of str
        Manifest file names the call would write.

    Returns
    -------
    bool

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> already_prepared(folder, "opt.json", {"a": 1}, ["train.csv"])
    False
    >>> write_options(folder, "opt.json", {"a": 1}); _ = (folder / "train.csv").write_text("ID\\n")
    >>> already_prepared(folder, "opt.json", {"a": 1}, ["train.csv"])
    True
    >>> already_prepared(folder, "opt.json", {"a": 2}, ["train.csv"]), (folder / "opt.json").exists()
    (False, False)
    """
    path = os.path.join(save_folder, options_name)
    saved = None
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            try:
                saved = json.load(handle)
            except json.JSONDecodeError:
                saved = None
    complete = all(os.path.isfile(os.path.join(save_folder, name)) for name in manifests)
    if complete and saved == json.loads(json.dumps(options)):
        logger.info("%s in %s are up to date (same options): skipping preparation", manifests, save_folder)
        return True
    if os.path.isfile(path):
        os.remove(path)
    return False


def write_options(save_folder, options_name, options):
    """Saves ``options`` as JSON (atomically) so that a later identical call can skip."""
    path = os.path.join(save_folder, options_name)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(options, handle, indent=1, sort_keys=True)
    os.replace(temporary, path)


def read_text(path):
    """The text of a dataset file (transcripts, TSVs, JSON), decoded as UTF-8 with any byte-order mark removed.

    Raises
    ------
    DatasetError
        The file is not UTF-8; the message names it and the first bad byte.

    Example
    -------
    >>> path = getfixture("tmp_path") / "1-2.trans.txt"
    >>> _ = path.write_bytes("\\ufeff1-2-0000 HELLO\\n".encode("utf-8"))
    >>> read_text(path)
    '1-2-0000 HELLO\\n'
    >>> _ = path.write_bytes(b"1-2-0000 CAF\\xe9\\n")
    >>> read_text(path)
    Traceback (most recent call last):
    ...
    summarymixing.data.manifest.DatasetError: .../1-2.trans.txt is not UTF-8 text: byte 0xe9 at offset 12 ...
    """
    with open(path, "rb") as handle:
        data = handle.read()
    data = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{path} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start} ({error.reason}); "
            "convert it (e.g. iconv -f latin1 -t utf-8)"
        ) from error


def audio_info(path, sample_rate=None):
    """Reads one audio header and decodes the file's last samples; returns ``(frames, sample_rate)``.

    Arguments
    ---------
    path : str
        The audio file.
    sample_rate : int, optional
        The rate the dataset's audio must have (its recipes read it without resampling).

    Raises
    ------
    DatasetError
        Naming the file: unreadable, empty, not mono, at another sample rate, or truncated (the header promises
        more samples than decode).
    """
    if os.path.getsize(path) == 0:
        raise DatasetError(f"empty audio {path}: the file is 0 bytes")
    try:
        audio = sf.SoundFile(path)
    except (RuntimeError, sf.LibsndfileError) as error:
        raise DatasetError(f"unreadable audio {path}: {error}") from error
    with audio:
        frames, rate, channels = audio.frames, audio.samplerate, audio.channels
        if frames <= 0:
            raise DatasetError(f"empty audio {path}: it holds no samples")
        tail = min(frames, TAIL_FRAMES)
        try:
            audio.seek(frames - tail)
            decoded = len(audio.read(tail, dtype="float32"))
        except (RuntimeError, sf.LibsndfileError) as error:
            raise DatasetError(f"truncated audio {path}: its last samples do not decode ({error})") from error
    if decoded < tail:
        raise DatasetError(
            f"truncated audio {path}: its header promises {frames} samples, but decoding stops "
            f"{tail - decoded} samples short"
        )
    if channels != 1:
        raise DatasetError(
            f"{path} has {channels} channels; the recipes read mono audio (downmix it, e.g. "
            "sox in.flac out.flac remix -)"
        )
    if sample_rate is not None and rate != sample_rate:
        raise DatasetError(
            f"{path} is sampled at {rate} Hz; this dataset's recipes read it as {sample_rate} Hz "
            f"without resampling (resample it, e.g. sox in.flac -r {sample_rate} out.flac)"
        )
    return frames, rate


def audio_infos(paths, description="reading audio headers", workers=None, sample_rate=None):
    """Reads many audio headers in parallel (threads; libsndfile releases the GIL) with a progress bar.

    Arguments
    ---------
    paths : list of str
        Audio files.
    description : str
        Progress bar label.
    workers : int, optional
        Threads; default ``min(32, 4 * cpu_count)`` since header reads wait on the disk.
    sample_rate : int, optional
        The rate every file must have (see :func:`audio_info`).

    Returns
    -------
    list of (int, int)
        ``(frames, sample_rate)`` per path, in order.
    """
    workers = workers or min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        return list(
            tqdm(
                pool.map(functools.partial(audio_info, sample_rate=sample_rate), paths),
                total=len(paths),
                desc=description,
                disable=len(paths) < 100,
            )
        )


def add_durations(rows, description, key="duration", sample_rate=None):
    """Sets ``row[key]`` (seconds) from the header of every ``row["wav"]``, read in parallel and checked
    (:func:`audio_info`, with the ``sample_rate`` the dataset must have).

    Returns
    -------
    list of (int, int)
        ``(frames, sample_rate)`` per row.
    """
    headers = audio_infos([row["wav"] for row in rows], description, sample_rate=sample_rate)
    for row, (frames, rate) in zip(rows, headers):
        row[key] = round(frames / rate, 5)
    return headers


def check_unique(ids, where):
    """Raises :class:`DatasetError` naming the first duplicated id and ``where`` it occurs.

    Example
    -------
    >>> check_unique(["a", "b", "a"], "train.tsv")
    Traceback (most recent call last):
    ...
    summarymixing.data.manifest.DatasetError: duplicate id 'a' in train.tsv
    """
    seen = set()
    for identifier in ids:
        if identifier in seen:
            raise DatasetError(f"duplicate id {identifier!r} in {where}")
        seen.add(identifier)


def write_csv(path, columns, rows):
    """Writes a SpeechBrain CSV manifest under a temporary name, then moves it into place.

    Arguments
    ---------
    path : str
        Final CSV path.
    columns : list of str
        Header; the first column is ``ID``.
    rows : list of dict
        One dict per row with (at least) the ``columns`` keys.

    Example
    -------
    >>> path = getfixture("tmp_path") / "dev.csv"
    >>> write_csv(str(path), ["ID", "duration"], [{"ID": "a", "duration": 1.5}])
    >>> path.read_text().splitlines()
    ['ID,duration', 'a,1.5']
    """
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)
    hours = sum(float(row.get("duration") or 0) for row in rows) / 3600
    logger.info("wrote %s: %d rows, %.2f h", path, len(rows), hours)


def read_csv(path):
    """Reads a SpeechBrain CSV manifest into a list of dicts (column name -> string)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
