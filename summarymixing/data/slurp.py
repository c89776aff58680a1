"""SLURP preparation (spoken language understanding: scenario, action, intent, entities).

``data_folder`` holds ``dataset/slurp/{train,train_synthetic,devel,test}.jsonl`` (the SLURP repository's text
annotations) and the audio folders ``slurp_real/`` and ``slurp_synth/``. Every recording of every sentence
becomes one row of ``<save_folder>/<split>-type=direct.csv`` with SpeechBrain's SLURP columns
``ID, duration, wav, wav_format, wav_opts, semantics, transcript`` plus ``scenario, action, intent``.
``semantics`` is SpeechBrain's string ``{'scenario': ..., 'action': ..., 'entities': [{'type': ..., 'filler':
...}]}`` with its commas written as ``|`` (so the CSV needs no quoting); ``transcript`` is upper case::

    from summarymixing.data import mini
    prepare_slurp(mini.layout("slurp", "/tmp/mini"), "/tmp/mini/slurp_csv")
"""

import json
import os

from summarymixing.data.manifest import (
    SAMPLE_RATE,
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

OPTIONS_FILE = "opt_slurp_prepare.json"
COLUMNS = ["ID", "duration", "wav", "wav_format", "wav_opts", "semantics", "transcript", "scenario", "action", "intent"]
SPLITS = ["train_real", "train_synthetic", "devel", "test"]
JSONL = {
    "train_real": "train.jsonl",
    "train_synthetic": "train_synthetic.jsonl",
    "devel": "devel.jsonl",
    "test": "test.jsonl",
}


def semantics_string(record):
    """SpeechBrain's SLURP ``semantics`` target of one jsonl record, commas written as ``|``.

    Example
    -------
    >>> record = {"scenario": "alarm", "action": "set", "tokens": [{"surface": w} for w in "wake me at six am".split()],
    ...           "entities": [{"span": [3, 4], "type": "time"}]}
    >>> semantics_string(record)
    "{'scenario': 'alarm'| 'action': 'set'| 'entities': [{'type': 'time'| 'filler': 'six am'}]}"
    """
    surfaces = [token["surface"] for token in record["tokens"]]
    entities = []
    for entity in record.get("entities", []):
        try:
            filler = " ".join(surfaces[index] for index in entity["span"])
        except IndexError as error:
            raise DatasetError(
                f"SLURP record {record.get('slurp_id')}: entity span {entity['span']} lies outside "
                f"its {len(surfaces)} tokens"
            ) from error
        entities.append({"type": entity["type"], "filler": filler})
    semantics = {"scenario": record["scenario"], "action": record["action"], "entities": entities}
    return str(semantics).replace(",", "|")


RECORD_KEYS = ("recordings", "sentence", "scenario", "action", "intent", "tokens")


def _read_jsonl(jsonl_path, audio_folder):
    rows = []
    text = read_text(jsonl_path)
    if text.lstrip().startswith("["):
        raise DatasetError(f"{jsonl_path} holds a JSON array; SLURP files are JSON Lines (one record per line)")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{jsonl_path} line {number}: not JSON ({error})") from error
        missing = [key for key in RECORD_KEYS if not isinstance(record, dict) or key not in record]
        if missing:
            raise DatasetError(f"{jsonl_path} line {number}: a SLURP record needs the key(s) {missing}")
        labels = {key: record[key] for key in ("scenario", "action", "intent")}
        semantics = semantics_string(record)
        for recording in record["recordings"]:
            if not isinstance(recording, dict) or "file" not in recording:
                raise DatasetError(f"{jsonl_path} line {number}: a recording without a 'file': {recording!r}")
            wav = os.path.join(audio_folder, recording["file"])
            require_file(wav, f"transcript without audio ({jsonl_path} line {number})")
            rows.append(
                {
                    "ID": os.path.splitext(recording["file"])[0],
                    "wav": wav,
                    "wav_format": "flac",
                    "wav_opts": None,
                    "semantics": semantics,
                    "transcript": record["sentence"].upper(),
                    **labels,
                }
            )
    check_unique((row["ID"] for row in rows), jsonl_path)
    return rows


def prepare_slurp(data_folder, save_folder, splits=SPLITS, skip_prep=False, train_splits=None):
    """Writes ``<save_folder>/<split>-type=direct.csv`` for each SLURP split, and with ``train_splits``
    ``train-type=direct.csv``, their rows together (as SpeechBrain's SLURP preparation).

    Arguments
    ---------
    data_folder : str
        The SLURP folder (``dataset/slurp/*.jsonl``, ``slurp_real/``, ``slurp_synth/``).
    save_folder : str
        Where the CSVs (and ``opt_slurp_prepare.json``) go.
    splits : list of str
        Among ``train_real``, ``train_synthetic``, ``devel``, ``test``.
    skip_prep : bool
        Do nothing.
    train_splits : list of str, optional
        Splits (among ``splits``) whose rows also go to ``train-type=direct.csv``, e.g. ``["train_real",
        "train_synthetic"]``.

    Example
    -------
    >>> from summarymixing.data import mini
    >>> tmp = getfixture("tmp_path")
    >>> prepare_slurp(mini.layout("slurp", getfixture("tmp_path_factory").getbasetemp() / "mini"), tmp, ["test"])
    >>> open(tmp / "test-type=direct.csv").readline().strip()
    'ID,duration,wav,wav_format,wav_opts,semantics,transcript,scenario,action,intent'
    """
    if skip_prep:
        return
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown SLURP split(s) {unknown}; choose among {SPLITS}")
    data_folder, save_folder = os.path.abspath(data_folder), os.path.abspath(save_folder)
    unknown_train = sorted(set(train_splits or []) - set(splits))
    if unknown_train:
        raise ValueError(f"train_splits {unknown_train} are not among the prepared splits {list(splits)}")
    options = {"data_folder": data_folder, "splits": list(splits), "train_splits": list(train_splits or [])}
    manifests = [f"{split}-type=direct.csv" for split in splits] + (["train-type=direct.csv"] if train_splits else [])
    if already_prepared(save_folder, OPTIONS_FILE, options, manifests):
        return
    require_folder(data_folder, "SLURP data_folder")
    os.makedirs(save_folder, exist_ok=True)
    train_rows = []
    for split, manifest in zip(splits, manifests):
        jsonl_path = os.path.join(data_folder, "dataset", "slurp", JSONL[split])
        if not os.path.isfile(jsonl_path):
            raise FileNotFoundError(f"SLURP split {split!r} not found: {jsonl_path} is missing")
        audio_folder = os.path.join(data_folder, "slurp_synth" if split == "train_synthetic" else "slurp_real")
        require_folder(audio_folder, f"SLURP audio folder of {split!r}")
        rows = _read_jsonl(jsonl_path, audio_folder)
        add_durations(rows, f"SLURP {split}", sample_rate=SAMPLE_RATE)
        write_csv(os.path.join(save_folder, manifest), COLUMNS, rows)
        if split in (train_splits or []):
            train_rows.extend(rows)
    if train_splits:
        write_csv(os.path.join(save_folder, "train-type=direct.csv"), COLUMNS, train_rows)
    write_options(save_folder, OPTIONS_FILE, options)
