"""Shared machinery of the dataset preparers: options-aware skipping, parallel audio headers, atomic CSVs.

Every ``prepare_<dataset>`` function follows the same steps: return at once when the manifests it would write
already exist with the same options (saved as JSON next to them), read all audio headers in parallel behind a
progress bar, then write each CSV under a temporary name and move it into place, so that an interrupted run
never leaves a half-written manifest.
"""

import csv
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import soundfile as sf
from tqdm import tqdm

logger = logging.getLogger(__name__)


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


def options_unchanged(save_folder, options_name, options, manifests):
    """Tells whether ``manifests`` all exist in ``save_folder`` and were written with the same ``options``.

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
    >>> options_unchanged(folder, "opt.json", {"a": 1}, ["train.csv"])
    False
    >>> write_options(folder, "opt.json", {"a": 1}); _ = (folder / "train.csv").write_text("ID\\n")
    >>> options_unchanged(folder, "opt.json", {"a": 1}, ["train.csv"])
    True
    >>> options_unchanged(folder, "opt.json", {"a": 2}, ["train.csv"])
    False
    """
    path = os.path.join(save_folder, options_name)
    if not all(os.path.isfile(os.path.join(save_folder, name)) for name in manifests):
        return False
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    if saved != json.loads(json.dumps(options)):
        return False
    logger.info("%s in %s are up to date (same options): skipping preparation", manifests, save_folder)
    return True


def write_options(save_folder, options_name, options):
    """Saves ``options`` as JSON (atomically) so that a later identical call can skip."""
    path = os.path.join(save_folder, options_name)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(options, handle, indent=1, sort_keys=True)
    os.replace(temporary, path)


def audio_info(path):
    """Reads one audio header; returns ``(frames, sample_rate)``.

    Raises
    ------
    DatasetError
        When the file is unreadable or holds no samples, naming the file.
    """
    if os.path.getsize(path) == 0:
        raise DatasetError(f"empty audio {path}: the file is 0 bytes")
    try:
        info = sf.info(path)
    except (RuntimeError, sf.LibsndfileError) as error:
        raise DatasetError(f"unreadable audio {path}: {error}") from error
    if info.frames <= 0:
        raise DatasetError(f"empty audio {path}: it holds no samples")
    return info.frames, info.samplerate


def audio_infos(paths, description="reading audio headers", workers=None):
    """Reads many audio headers in parallel (threads; libsndfile releases the GIL) with a progress bar.

    Arguments
    ---------
    paths : list of str
        Audio files.
    description : str
        Progress bar label.
    workers : int, optional
        Threads; default ``min(32, 4 * cpu_count)`` since header reads wait on the disk.

    Returns
    -------
    list of (int, int)
        ``(frames, sample_rate)`` per path, in order.
    """
    workers = workers or min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        return list(tqdm(pool.map(audio_info, paths), total=len(paths), desc=description,
                         disable=len(paths) < 100))


def add_durations(rows, description, key="duration"):
    """Sets ``row[key]`` (seconds) from the header of every ``row["wav"]``, read in parallel.

    Returns
    -------
    list of (int, int)
        ``(frames, sample_rate)`` per row.
    """
    headers = audio_infos([row["wav"] for row in rows], description)
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
