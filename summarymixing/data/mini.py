"""The bundled mini corpus, laid out on demand in the real datasets' on-disk formats.

The pool (``summarymixing/data/mini_pool/``: one Ogg/Opus reel per synthetic speaker and ``pool.csv``, made by
``tools/generate_mini.py``) is cut into a dataset's exact layout inside a folder you choose::

    from summarymixing.data import mini
    data_folder = mini.layout("librispeech", "/tmp/mini")   # -> "/tmp/mini/LibriSpeech"

(or from a shell: ``python -m summarymixing.data.mini librispeech /tmp/mini``, which prints the root),

then the dataset's preparer reads it exactly as it would read the real corpus::

    from summarymixing.data.librispeech import prepare_librispeech
    prepare_librispeech(data_folder, "/tmp/mini/manifests", tr_splits=["train-clean-100"],
                        dev_splits=["dev-clean"], te_splits=["test-clean"])

Every format with its preparer (``root = mini.layout(<format>, folder)``):

=================== ==========================================================================================
``librispeech``     ``librispeech.prepare_librispeech(root, save, ["train-clean-100"], ["dev-clean"], ["test-clean"])``
``librilight``      ``librilight.prepare_librilight(root, save, ["small"], min_duration=2.0, max_duration=8.0)``
``commonvoice``     ``commonvoice.prepare_common_voice(f"{root}/cy", save, language="cy")`` (or ``eu``)
``slurp``           ``slurp.prepare_slurp(root, save)``
``iemocap``         ``iemocap.prepare_iemocap(root, train_json, valid_json, test_json, different_speakers=True)``
``voxceleb1``       ``voxceleb.prepare_voxceleb(root, save, f"{root}/meta/veri_test2.txt", seg_dur=1.0)``
``voxpopuli``       ``voxpopuli.prepare_voxpopuli(f"{root}/transcribed_data/en", save)``
``speech_commands`` ``speech_commands.prepare_speech_commands(root, save, num_classes=12)``
=================== ==========================================================================================

``librispeech_seen_voices`` and ``slurp_seen_voices`` are prepared as ``librispeech`` and ``slurp`` (the same
roots, split by :func:`seen_voice_splits`: dev and test are held-out sentences of the training voices).

The pool: 26 English voices (20 train, 3 dev, 3 test speakers; about 1040 / 120 / 120 spoken commands of about
1.8 s, four speaking styles each), the same voices saying Speech Commands' 35 words (language ``keywords``,
speakers ``kw01``-``kw26``; the ten command words twice), and 8 Welsh and 8 Basque voices (90 / 15 / 15 sentences
each); see
``tools/generate_mini.py`` and ``pool.csv`` (``id, language, speaker, gender, voice, style, split,
text, annotation, scenario, action, intent, reel, start, stop, duration``).

A layout takes seconds and is cached: the dataset folder holds ``.mini_layout.json`` (layout version and pool
hash, plus ``ids``: dataset utterance id -> pool id, for tests), and a second call returns at once. Layouts are
built in a temporary sibling folder and moved into place, so an interrupted call leaves nothing half-built (and the
next call removes what a killed one left). A dataset folder that exists without the marker is never deleted or
written into: the layout refuses it (a real corpus there is safe).
The parent folder also keeps ``.mini_pool_<hash>.npy`` (about 90 MB, the pool decoded once) so that further
layouts there only write files; it may be deleted at any time.

Formats (``mini.FORMATS``) and what they hold:

- ``"librispeech"`` -> ``LibriSpeech/{train-clean-100,dev-clean,test-clean}/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac``
  plus ``<spk>-<chapter>.trans.txt`` (upper case) and ``SPEAKERS.TXT``; the English pool, by its split.
- ``"librispeech_seen_voices"`` -> the same files, split by :func:`seen_voice_splits`: dev-clean and test-clean
  hold 6 + 6 sentences of each of the 20 training voices that occur nowhere else in the pool, train-clean-100 all
  other English utterances (26 voices). A small model learns to recognise unseen sentences of seen voices within
  minutes on a CPU, which the transducer's mini recipe needs; unseen voices (``"librispeech"``) need far more.
- ``"librilight"`` -> ``librilight/small/<spk>/<book>/<file>.flac`` + ``<file>.json`` (``speaker``, ``book_meta``,
  ``snr``, ``voice_activity``: ``[[onset, offset], ...]`` seconds); the English training speakers' utterances
  joined with 0.3-1.5 s silences into files of about 30 s (``ids``: file stem -> its pool ids, in order).
- ``"commonvoice"`` -> ``CommonVoice/{cy,eu}/clips/common_voice_<lang>_<n>.mp3`` (48 kHz MP3, as the real clips)
  plus ``train.tsv``, ``dev.tsv``, ``test.tsv`` and ``validated.tsv`` with the CommonVoice 17 columns
  (``client_id, path, sentence_id, sentence, sentence_domain, up_votes, down_votes, age, gender, accents,
  variant, locale, segment``); pass ``<root>/cy`` or ``<root>/eu`` as ``data_folder``
  (``ids``: ``<lang>/<clip stem>`` -> pool id).
- ``"slurp"`` -> ``SLURP/dataset/slurp/{train,train_synthetic,devel,test}.jsonl`` (one record per sentence with its
  ``recordings``, ``scenario``, ``action``, ``intent``, ``sentence_annotation``, ``tokens`` and ``entities`` spans) and
  ``SLURP/slurp_real/audio-<n>-headset.flac``, ``SLURP/slurp_synth/audio--<n>.flac``; English pool by split
  (the flite voices en17/en18's training utterances form ``train_synthetic``).
- ``"iemocap"`` -> ``IEMOCAP_full_release/Session{1..5}/sentences/wav/<dialog>/<utterance>.wav`` and
  ``Session*/dialog/EmoEvaluation/<dialog>.txt`` (``[start - end]<TAB>turn<TAB>emo<TAB>[V, A, D]`` blocks with
  ``C-E``/``A-E`` evaluator lines) plus ``dialog/transcriptions``; ten English voices (one F, one M per session,
  :func:`iemocap_speakers`), styles as ``neu``/``hap``/``sad``/``ang``.
- ``"voxceleb1"`` -> ``VoxCeleb1/wav/id<n>/<11-char video>/<nnnnn>.wav`` (one "video" per speaker and style),
  ``VoxCeleb1/meta/veri_test2.txt`` (``label enrol test`` lines, balanced, over the unseen speakers) and
  ``meta/vox1_meta.csv``; all English voices, :func:`voxceleb_speakers` (``ids``: utterance path without
  ``.wav`` -> pool id).
- ``"voxpopuli"`` -> ``VoxPopuli/transcribed_data/en/<year>/<segment id>.ogg`` (Ogg Vorbis, as produced by
  VoxPopuli's ``get_asr_data``) and ``transcribed_data/en/asr_{train,dev,test}.tsv`` (``id, raw_text,
  normalized_text, speaker_id, split, gender, is_gold_transcript, accent``); pass ``<root>/transcribed_data/en``
  as ``data_folder``; the English dev and test pool and the first 20 utterances of each training speaker
  (Vorbis encoding is slow, and this keeps the layout within seconds).
- ``"speech_commands"`` -> ``speech_commands_v0.02/<word>/<speaker hash>_nohash_<n>.wav`` (1 s, the word
  centred), ``validation_list.txt`` and ``testing_list.txt`` (the pool's dev and test voices) and
  ``_background_noise_/{white,pink}_noise.wav`` (20 s, generated from a fixed seed) (``ids``: clip path without
  ``.wav`` -> pool id).
"""

import csv
import functools
import hashlib
import json
import os
import random
import re
import shutil
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf

POOL_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mini_pool")
LAYOUT_VERSION = 2
MARKER = ".mini_layout.json"
SAMPLE_RATE = 16000
COMMONVOICE_SAMPLE_RATE = 48000  # CommonVoice clips are 48 kHz MP3
PAD_SECONDS = 0.1  # silence the generator leaves before and after every pool utterance


@functools.lru_cache(maxsize=1)
def load_pool(pool_folder=POOL_FOLDER):
    """Reads ``pool.csv``: one dict per utterance, ``start``/``stop`` (samples) as int, ``duration`` as float.

    Example
    -------
    >>> pool = load_pool()
    >>> sorted({row["language"] for row in pool})
    ['cy', 'en', 'eu', 'keywords']
    >>> all(abs((row["stop"] - row["start"]) / SAMPLE_RATE - row["duration"]) < 1e-4 for row in pool)
    True
    """
    with open(os.path.join(pool_folder, "pool.csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["start"], row["stop"], row["duration"] = int(row["start"]), int(row["stop"]), float(row["duration"])
    return tuple(rows)


def pool_rows(language=None, split=None):
    """Pool rows filtered by ``language`` and ``split`` (``None`` keeps all).

    Example
    -------
    >>> len({row["speaker"] for row in pool_rows("en")}) >= 20
    True
    """
    return [
        row
        for row in load_pool()
        if (language is None or row["language"] == language) and (split is None or row["split"] == split)
    ]


def decoded_pool(cache_folder):
    """All reels decoded once into ``<cache_folder>/.mini_pool_<hash>.npy`` (int16, memory-mapped).

    Returns
    -------
    (numpy.ndarray, dict)
        The samples of all reels one after the other, and ``{reel: offset}`` into them.
    """
    reel_lengths = {}
    for row in load_pool():
        reel_lengths[row["reel"]] = max(reel_lengths.get(row["reel"], 0), row["stop"])
    offsets, total = {}, 0
    for reel, length in reel_lengths.items():
        offsets[reel], total = total, total + length
    path = os.path.join(cache_folder, f".mini_pool_{_pool_hash()[:12]}.npy")
    if not os.path.isfile(path):
        os.makedirs(cache_folder, exist_ok=True)
        remove_abandoned_partials(path)
        partial = f"{path}.partial-{os.getpid()}"
        samples = np.lib.format.open_memmap(partial, mode="w+", dtype="int16", shape=(total,))

        def decode(reel):
            audio, _ = sf.read(os.path.join(POOL_FOLDER, reel), dtype="int16")
            samples[offsets[reel] : offsets[reel] + reel_lengths[reel]] = audio[: reel_lengths[reel]]

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(decode, offsets))
        samples.flush()
        del samples
        os.replace(partial, path)
    return np.load(path, mmap_mode="r"), offsets


def cut(rows, cache_folder):
    """Yields ``(row, samples)`` (int16, 16 kHz) for pool ``rows``, from :func:`decoded_pool`."""
    samples, offsets = decoded_pool(cache_folder)
    for row in rows:
        offset = offsets[row["reel"]]
        yield row, np.asarray(samples[offset + row["start"] : offset + row["stop"]])


def _pool_hash():
    with open(os.path.join(POOL_FOLDER, "pool.csv"), "rb") as handle:
        return hashlib.sha1(handle.read()).hexdigest()


def _encode(path, samples, audio_format, sample_rate):
    if sample_rate != SAMPLE_RATE:
        import torch
        import torchaudio

        resampled = torchaudio.functional.resample(torch.from_numpy(samples / 32768.0), SAMPLE_RATE, sample_rate)
        samples = resampled.clamp(-1, 1).float().numpy()
    sf.write(path, samples, sample_rate, format=audio_format)


class _Builder:
    """What a format builder uses: pool audio (decoded once per parent folder) and parallel file writing."""

    def __init__(self, root, cache_folder, executor):
        self.root, self.cache_folder, self.executor, self.pending = root, cache_folder, executor, []

    def cut(self, rows):
        return cut(rows, self.cache_folder)

    def audio(self, relative_path, samples, audio_format="FLAC", sample_rate=SAMPLE_RATE):
        path = os.path.join(self.root, relative_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.pending.append(self.executor.submit(_encode, path, samples, audio_format, sample_rate))

    def text(self, relative_path, text):
        path = os.path.join(self.root, relative_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)

    def finish(self):
        for future in self.pending:
            future.result()


def _librispeech_names(row):
    """LibriSpeech-style numeric speaker and chapter ids for a pool row (``en07`` -> ``107``, ``1007``)."""
    number = int(row["speaker"][2:])
    return str(100 + number), str(1000 + number)


def seen_voice_splits(held_out_per_split=6):
    """``{pool id: split}`` for ``librispeech_seen_voices``: dev and test are unseen sentences of seen voices.

    Each training voice gives its first ``2 * held_out_per_split`` utterances whose text occurs nowhere else in
    the English pool (alternately to ``dev`` and ``test``), so no dev or test sentence is ever trained on; all
    other English utterances, the pool's dev and test voices included, are ``train``.

    Arguments
    ---------
    held_out_per_split : int
        Utterances per training voice in each of dev and test.

    Returns
    -------
    dict

    Example
    -------
    >>> splits = seen_voice_splits()
    >>> sorted(Counter(splits.values()).items())
    [('dev', 120), ('test', 120), ('train', 1040)]
    """
    rows = pool_rows("en")
    text_count = Counter(row["text"] for row in rows)
    splits, held_out = {}, Counter()
    for row in rows:
        speaker = row["speaker"]
        if row["split"] == "train" and text_count[row["text"]] == 1 and held_out[speaker] < 2 * held_out_per_split:
            splits[row["id"]] = ("dev", "test")[held_out[speaker] % 2]
            held_out[speaker] += 1
        else:
            splits[row["id"]] = "train"
    return splits


def _layout_librispeech_seen_voices(builder):
    return _layout_librispeech(builder, seen_voice_splits())


def _layout_librispeech(builder, splits=None):
    split_names = {"train": "train-clean-100", "dev": "dev-clean", "test": "test-clean"}
    transcripts, ids, speakers, minutes = defaultdict(list), {}, {}, defaultdict(float)
    for row, samples in builder.cut(pool_rows("en")):
        split = splits[row["id"]] if splits else row["split"]
        speaker, chapter = _librispeech_names(row)
        utterance = f"{speaker}-{chapter}-{int(row['id'].rsplit('_', 1)[1]):04d}"
        folder = os.path.join(split_names[split], speaker, chapter)
        builder.audio(os.path.join(folder, utterance + ".flac"), samples)
        transcripts[os.path.join(folder, f"{speaker}-{chapter}.trans.txt")].append(
            f"{utterance} {row['text'].upper()}\n"
        )
        ids[utterance] = row["id"]
        speakers.setdefault(speaker, (row["gender"].upper(), split_names[split], row["voice"]))
        minutes[speaker] += row["duration"] / 60
    for path, lines in transcripts.items():
        builder.text(path, "".join(sorted(lines)))
    builder.text(
        "SPEAKERS.TXT",
        ";ID  |SEX| SUBSET           |MINUTES| NAME\n"
        + "".join(
            f"{speaker:<5}| {sex} | {subset:<17}| {minutes[speaker]:5.2f} | {voice}\n"
            for speaker, (sex, subset, voice) in sorted(speakers.items())
        ),
    )
    return ids


def _layout_librilight(builder, utterances_per_file=16):
    by_speaker, ids = defaultdict(list), {}
    for row, samples in builder.cut(pool_rows("en", "train")):
        by_speaker[row["speaker"]].append((row, samples))
    for speaker_rows in by_speaker.values():
        speaker, _ = _librispeech_names(speaker_rows[0][0])
        rng = random.Random(speaker)
        book = f"commands_{speaker}"
        for first in range(0, len(speaker_rows), utterances_per_file):
            stem = f"{book}_{first // utterances_per_file:02d}_espeak_64kb"
            pieces, voice_activity, position = [], [], 0
            for _, samples in speaker_rows[first : first + utterances_per_file]:
                gap = np.zeros(int(rng.uniform(0.3, 1.5) * SAMPLE_RATE), dtype="int16")
                pieces += [gap, samples]
                position += len(gap)
                voice_activity.append(
                    [
                        round(position / SAMPLE_RATE + PAD_SECONDS, 3),
                        round((position + len(samples)) / SAMPLE_RATE - PAD_SECONDS, 3),
                    ]
                )
                position += len(samples)
            folder = os.path.join("small", speaker, book)
            builder.audio(os.path.join(folder, stem + ".flac"), np.concatenate(pieces))
            metadata = {
                "speaker": speaker,
                "book_meta": {
                    "id": book,
                    "title": f"Spoken commands read by {speaker}",
                    "genre": ["*Non-fiction"],
                    "Dramatic Readings": False,
                    "meta_genre": "Undefined",
                },
                "snr": 30.0,
                "voice_activity": voice_activity,
            }
            builder.text(os.path.join(folder, stem + ".json"), json.dumps(metadata, indent=1))
            ids[stem] = [row["id"] for row, _ in speaker_rows[first : first + utterances_per_file]]
    return ids


def _client_id(speaker):
    return hashlib.sha512(speaker.encode()).hexdigest()


COMMONVOICE_COLUMNS = [
    "client_id",
    "path",
    "sentence_id",
    "sentence",
    "sentence_domain",
    "up_votes",
    "down_votes",
    "age",
    "gender",
    "accents",
    "variant",
    "locale",
    "segment",
]


def _layout_commonvoice(builder):
    ids = {}
    for language in ("cy", "eu"):
        tables = defaultdict(list)
        for number, (row, samples) in enumerate(builder.cut(pool_rows(language)), 20000001):
            clip = f"common_voice_{language}_{number}.mp3"
            builder.audio(os.path.join(language, "clips", clip), samples, "MP3", COMMONVOICE_SAMPLE_RATE)
            record = {
                "client_id": _client_id(row["speaker"]),
                "path": clip,
                "sentence_id": hashlib.sha256(row["text"].encode()).hexdigest(),
                "sentence": row["text"],
                "sentence_domain": "",
                "up_votes": 2,
                "down_votes": 0,
                "age": "",
                "gender": {"m": "male_masculine", "f": "female_feminine"}[row["gender"]],  # CommonVoice 17 values
                "accents": "",
                "variant": "",
                "locale": language,
                "segment": "",
            }
            tables[row["split"]].append(record)
            tables["validated"].append(record)
            ids[f"{language}/{clip[: -len('.mp3')]}"] = row["id"]
        for split, records in tables.items():
            builder.text(
                os.path.join(language, f"{split}.tsv"),
                "\t".join(COMMONVOICE_COLUMNS)
                + "\n"
                + "".join(
                    "\t".join(str(record[column]) for column in COMMONVOICE_COLUMNS) + "\n" for record in records
                ),
            )
    return ids


SLURP_SYNTHETIC_SPEAKERS = ("en17", "en18")  # flite voices: their training utterances form train_synthetic


def _slurp_entities(annotation):
    """Token spans and types of ``[type : words]`` entities in a SLURP annotation (tokens split on spaces)."""
    entities, position = [], 0
    for match in re.finditer(r"\[(\w+) : ([^\]]+)\]|(\S+)", annotation):
        if match.group(1):
            length = len(match.group(2).split())
            entities.append({"span": list(range(position, position + length)), "type": match.group(1)})
            position += length
        else:
            position += 1
    return entities


def _layout_slurp(builder, splits=None):
    records, ids = {}, {}
    jsonl = {"train": "train.jsonl", "dev": "devel.jsonl", "test": "test.jsonl"}
    for number, (row, samples) in enumerate(builder.cut(pool_rows("en")), 1490000001):
        split = splits[row["id"]] if splits else row["split"]
        synthetic = split == "train" and row["speaker"] in SLURP_SYNTHETIC_SPEAKERS
        name = "train_synthetic.jsonl" if synthetic else jsonl[split]
        audio = f"audio--{number}.flac" if synthetic else f"audio-{number}-headset.flac"
        builder.audio(os.path.join("slurp_synth" if synthetic else "slurp_real", audio), samples)
        key = (name, row["text"])
        if key not in records:
            records[key] = {
                "slurp_id": len(records) + 1,
                "sentence": row["text"],
                "sentence_annotation": row["annotation"],
                "intent": row["intent"],
                "action": row["action"],
                "tokens": [
                    {"surface": word, "id": index, "lemma": word, "pos": ""}
                    for index, word in enumerate(row["text"].split())
                ],
                "scenario": row["scenario"],
                "recordings": [],
                "entities": _slurp_entities(row["annotation"]),
            }
        records[key]["recordings"].append({"file": audio, "wer": 0.0, "ent_wer": 0.0, "status": "correct"})
        ids[audio[: -len(".flac")]] = row["id"]
    for name in sorted({name for name, _ in records}):
        builder.text(
            os.path.join("dataset", "slurp", name),
            "".join(json.dumps(record) + "\n" for (file_name, _), record in records.items() if file_name == name),
        )
    return ids


IEMOCAP_LABELS = {  # style -> (EmoEvaluation code, evaluator word, [valence, activation, dominance])
    "neutral": ("neu", "Neutral", [2.5, 2.5, 2.5]),
    "happy": ("hap", "Happiness", [4.0, 3.5, 3.0]),
    "sad": ("sad", "Sadness", [1.5, 2.0, 2.0]),
    "angry": ("ang", "Anger", [1.5, 4.0, 4.0]),
}
IEMOCAP_DIALOGS = ("impro01", "impro02", "script01_1", "script01_2")


def iemocap_speakers():
    """The ten English pool speakers acting in the IEMOCAP layout: ``[(session, "F"|"M", speaker), ...]``.

    Example
    -------
    >>> [(session, sex) for session, sex, _ in iemocap_speakers()][:3]
    [(1, 'F'), (1, 'M'), (2, 'F')]
    """
    by_gender = {"f": [], "m": []}
    for row in pool_rows("en"):
        if row["speaker"] not in by_gender[row["gender"]]:
            by_gender[row["gender"]].append(row["speaker"])
    return [(session, sex, by_gender[sex.lower()][session - 1]) for session in range(1, 6) for sex in ("F", "M")]


def _layout_iemocap(builder):
    actors = {speaker: (session, sex) for session, sex, speaker in iemocap_speakers()}
    turns, ids = defaultdict(list), {}
    for row, samples in builder.cut([row for row in pool_rows("en") if row["speaker"] in actors]):
        session, sex = actors[row["speaker"]]
        index = int(row["id"].rsplit("_", 1)[1])
        dialogs, styles = len(IEMOCAP_DIALOGS), len(IEMOCAP_LABELS)  # every dialog gets every style
        dialog = f"Ses{session:02d}F_{IEMOCAP_DIALOGS[index // styles % dialogs]}"
        utterance = f"{dialog}_{sex}{index // (styles * dialogs) * styles + index % styles:03d}"
        builder.audio(os.path.join(f"Session{session}", "sentences", "wav", dialog, utterance + ".wav"), samples, "WAV")
        turns[(session, dialog)].append((utterance, row, len(samples) / SAMPLE_RATE))
        ids[utterance] = row["id"]
    for (session, dialog), dialog_turns in turns.items():
        evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"]
        transcription, start = [], 1.0
        for utterance, row, seconds in sorted(dialog_turns, key=lambda turn: (turn[0][-3:], turn[0])):
            code, word, (valence, activation, dominance) = IEMOCAP_LABELS[row["style"]]
            end = start + seconds
            evaluation.append(
                f"[{start:.4f} - {end:.4f}]\t{utterance}\t{code}\t[{valence:.4f}, {activation:.4f}, {dominance:.4f}]\n"
                + "".join(f"C-E{evaluator}:\t{word};\t()\n" for evaluator in (1, 2, 3))
                + f"A-E1:\tval {round(valence)}; act {round(activation)}; dom  {round(dominance)};\t()\n\n"
            )
            transcription.append(f"{utterance} [{start:08.4f}-{end:08.4f}]: {row['text'].capitalize()}.\n")
            start = end + 0.5
        folder = os.path.join(f"Session{session}", "dialog")
        builder.text(os.path.join(folder, "EmoEvaluation", dialog + ".txt"), "".join(evaluation))
        builder.text(os.path.join(folder, "transcriptions", dialog + ".txt"), "".join(transcription))
    return ids


def voxceleb_speakers():
    """``{pool speaker: VoxCeleb1 id}``: training speakers as dev-set ids (``id10001``...), dev and test
    speakers as test-set ids (``id10270``...), so verification speakers are unseen in training.

    Example
    -------
    >>> names = voxceleb_speakers()
    >>> names["en01"], names["en21"]
    ('id10001', 'id10270')
    """
    speakers = {}
    for row in pool_rows("en"):
        speakers.setdefault(row["speaker"], row["split"])
    train = [speaker for speaker, split in speakers.items() if split == "train"]
    held_out = [speaker for speaker, split in speakers.items() if split != "train"]
    return {
        **{speaker: f"id{10001 + i}" for i, speaker in enumerate(train)},
        **{speaker: f"id{10270 + i}" for i, speaker in enumerate(held_out)},
    }


def _video_id(speaker, style):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    digest = hashlib.sha256(f"{speaker}/{style}".encode()).digest()
    return "".join(alphabet[byte % 64] for byte in digest[:11])


def _layout_voxceleb1(builder, trials_per_utterance=2):
    names, ids, counters = voxceleb_speakers(), {}, defaultdict(int)
    test_utterances = defaultdict(list)
    for row, samples in builder.cut(pool_rows("en")):
        speaker, video = names[row["speaker"]], _video_id(row["speaker"], row["style"])
        counters[(speaker, video)] += 1
        utterance = f"{speaker}/{video}/{counters[(speaker, video)]:05d}.wav"
        builder.audio(os.path.join("wav", utterance), samples, "WAV")
        ids[utterance[: -len(".wav")]] = row["id"]
        if row["split"] != "train":
            test_utterances[speaker].append(utterance)
    rng, trials = random.Random(1), []
    speakers = sorted(test_utterances)
    for speaker in speakers:
        for enrol in test_utterances[speaker]:
            same_speaker = [u for u in test_utterances[speaker] if u.split("/")[1] != enrol.split("/")[1]]
            for _ in range(trials_per_utterance // 2):
                other = rng.choice([s for s in speakers if s != speaker])
                trials.append(f"1 {enrol} {rng.choice(same_speaker)}\n")
                trials.append(f"0 {enrol} {rng.choice(test_utterances[other])}\n")
    builder.text(os.path.join("meta", "veri_test2.txt"), "".join(trials))
    genders = {names[row["speaker"]]: row["gender"] for row in pool_rows("en")}
    builder.text(
        os.path.join("meta", "vox1_meta.csv"),
        "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
        + "".join(
            f"{speaker}\t{pool_speaker}\t{genders[speaker]}\tSynthetic\t"
            f"{'test' if speaker in test_utterances else 'dev'}\n"
            for pool_speaker, speaker in sorted(names.items(), key=lambda item: item[1])
        ),
    )
    return ids


VOXPOPULI_COLUMNS = [
    "id",
    "raw_text",
    "normalized_text",
    "speaker_id",
    "split",
    "gender",
    "is_gold_transcript",
    "accent",
]


def _layout_voxpopuli(builder, train_utterances_per_speaker=20):
    tables, ids = defaultdict(list), {}
    rows = [
        row
        for row in pool_rows("en")
        if row["split"] != "train" or int(row["id"].rsplit("_", 1)[1]) < train_utterances_per_speaker
    ]
    for row, samples in builder.cut(rows):
        number = int(row["speaker"][2:])
        year = 2019 + number % 2
        index = int(row["id"].rsplit("_", 1)[1])
        session = f"{year}0{number % 9 + 1}1{number % 7}-0900-PLENARY-{number}"
        segment = f"{session}-en_{year}0101-09:{index // 60:02d}:{index % 60:02d}_{index}"
        builder.audio(os.path.join("transcribed_data", "en", str(year), segment + ".ogg"), samples, "OGG")
        tables[row["split"]].append(
            {
                "id": segment,
                "raw_text": row["text"].capitalize() + ".",
                "normalized_text": row["text"],
                "speaker_id": str(124700 + number),
                "split": row["split"],
                "gender": {"m": "male", "f": "female"}[row["gender"]],
                "is_gold_transcript": "True",
                "accent": "None",
            }
        )
        ids[segment] = row["id"]
    for split, records in tables.items():
        builder.text(
            os.path.join("transcribed_data", "en", f"asr_{split}.tsv"),
            "\t".join(VOXPOPULI_COLUMNS)
            + "\n"
            + "".join("\t".join(record[column] for column in VOXPOPULI_COLUMNS) + "\n" for record in records),
        )
    return ids


def _layout_slurp_seen_voices(builder):
    return _layout_slurp(builder, seen_voice_splits())


def _speech_commands_speaker(speaker):
    """An 8-hex-digit Speech Commands speaker id for a pool speaker."""
    return hashlib.sha256(speaker.encode()).hexdigest()[:8]


def _layout_speech_commands(builder, noise_seconds=20.0):
    """Speech Commands v2: one 1 s clip per keyword utterance (the word centred; cut to 1 s when longer), split by
    the pool's speakers into the official lists, and white and pink noise recordings in ``_background_noise_``."""
    ids, lists = {}, {"dev": [], "test": []}
    for row, samples in builder.cut(pool_rows("keywords")):
        clip = np.zeros(SAMPLE_RATE, dtype=np.int16)
        if len(samples) >= SAMPLE_RATE:
            clip[:] = samples[(len(samples) - SAMPLE_RATE) // 2 :][:SAMPLE_RATE]
        else:
            offset = (SAMPLE_RATE - len(samples)) // 2
            clip[offset : offset + len(samples)] = samples
        number = 0 if row["style"] == "neutral" else 1
        name = f"{row['text']}/{_speech_commands_speaker(row['speaker'])}_nohash_{number}.wav"
        builder.audio(name, clip, "WAV")
        ids[name[: -len(".wav")]] = row["id"]
        if row["split"] in lists:
            lists[row["split"]].append(name)
    builder.text("validation_list.txt", "".join(f"{name}\n" for name in lists["dev"]))
    builder.text("testing_list.txt", "".join(f"{name}\n" for name in lists["test"]))
    rng = np.random.default_rng(0)
    white = rng.normal(0.0, 0.1, int(noise_seconds * SAMPLE_RATE))
    pink = np.fft.irfft(np.fft.rfft(rng.normal(0.0, 1.0, len(white))) / np.sqrt(np.arange(len(white) // 2 + 1) + 1))
    pink *= 0.1 / pink.std()
    for noise_name, noise in (("white_noise", white), ("pink_noise", pink)):
        builder.audio(f"_background_noise_/{noise_name}.wav", (np.clip(noise, -1, 1) * 32767).astype(np.int16), "WAV")
    return ids


FORMATS = {
    "librispeech": ("LibriSpeech", _layout_librispeech),
    "librispeech_seen_voices": ("LibriSpeech", _layout_librispeech_seen_voices),
    "librilight": ("librilight", _layout_librilight),
    "commonvoice": ("CommonVoice", _layout_commonvoice),
    "slurp": ("SLURP", _layout_slurp),
    "slurp_seen_voices": ("SLURP", _layout_slurp_seen_voices),
    "iemocap": ("IEMOCAP_full_release", _layout_iemocap),
    "voxceleb1": ("VoxCeleb1", _layout_voxceleb1),
    "voxpopuli": ("VoxPopuli", _layout_voxpopuli),
    "speech_commands": ("speech_commands_v0.02", _layout_speech_commands),
}


def layout(dataset, folder):
    """Lays the pool out in ``dataset``'s real on-disk format inside ``folder`` (cached).

    Arguments
    ---------
    dataset : str
        One of ``FORMATS`` (e.g. ``"librispeech"``).
    folder : str
        Parent folder; the dataset root (e.g. ``LibriSpeech``) is created inside it.

    Returns
    -------
    str
        The dataset root, to pass as ``data_folder`` to the dataset's preparer.

    Example
    -------
    >>> shared = getfixture("tmp_path_factory").getbasetemp() / "mini"  # one layout per test session
    >>> root = layout("librispeech", shared)
    >>> sorted(os.listdir(root))
    ['.mini_layout.json', 'SPEAKERS.TXT', 'dev-clean', 'test-clean', 'train-clean-100']
    >>> layout("librispeech", shared) == root
    True
    """
    if dataset not in FORMATS:
        raise ValueError(f"unknown mini corpus format {dataset!r}; choose one of {sorted(FORMATS)}")
    root_name, build = FORMATS[dataset]
    root = os.path.join(os.path.abspath(folder), root_name)
    stamp = {"format": dataset, "layout_version": LAYOUT_VERSION, "pool": _pool_hash()}
    if layout_ids(root, stamp) is not None:
        return root
    _refuse_foreign(root)
    remove_abandoned_partials(root)
    partial = f"{root}.partial-{os.getpid()}"
    os.makedirs(partial)
    try:
        with ThreadPoolExecutor(4) as executor:
            builder = _Builder(partial, os.path.dirname(root), executor)
            ids = build(builder)
            builder.finish()
        with open(os.path.join(partial, MARKER), "w", encoding="utf-8") as handle:
            json.dump({**stamp, "ids": ids}, handle)
        if layout_ids(root, stamp) is None:  # else another process finished the same layout first
            _refuse_foreign(root)
            shutil.rmtree(root, ignore_errors=True)  # an older layout of ours (it has our marker)
            os.replace(partial, root)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return root


def _refuse_foreign(root):
    """Raises when ``root`` exists but is not a layout of ours: we never delete or write into what we did not make."""
    if os.path.lexists(root) and not os.path.isfile(os.path.join(root, MARKER)):
        raise FileExistsError(
            f"{root} exists and is not a mini corpus layout (it has no {MARKER}); it is left untouched. Lay the mini "
            "corpus out in another folder, or point data_folder at your corpus without laying the mini one out there"
        )


def remove_abandoned_partials(path):
    """Removes ``<path>.partial-<pid>`` files and folders left by processes that no longer run (killed while
    writing them); those of running processes are left alone.

    Arguments
    ---------
    path : str
        The final path whose partial versions to look for.
    """
    folder, name = os.path.split(path)
    if not os.path.isdir(folder):
        return
    for entry in os.listdir(folder):
        pid = entry[len(name) + len(".partial-") :] if entry.startswith(name + ".partial-") else ""
        if pid.isdigit() and not _running(int(pid)):
            abandoned = os.path.join(folder, entry)
            if os.path.isdir(abandoned):
                shutil.rmtree(abandoned, ignore_errors=True)
            else:
                os.remove(abandoned)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def layout_ids(root, stamp=None):
    """The ``{dataset utterance id: pool id}`` map of a laid-out ``root``; ``None`` if absent or stale.

    Arguments
    ---------
    root : str
        A folder returned by :func:`layout`.
    stamp : dict, optional
        When given, the marker must carry the same ``format``/``layout_version``/``pool`` values.

    Returns
    -------
    dict or None
    """
    marker = os.path.join(root, MARKER)
    if not os.path.isfile(marker):
        return None
    with open(marker, encoding="utf-8") as handle:
        saved = json.load(handle)
    if stamp is not None and any(saved.get(key) != value for key, value in stamp.items()):
        return None
    return saved["ids"]


def pool_by_id():
    """``{pool id: row}`` for the whole pool.

    Example
    -------
    >>> pool_by_id()["en01_000"]["speaker"]
    'en01'
    """
    return {row["id"]: row for row in load_pool()}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Lay the bundled mini corpus out in a real dataset's format.")
    parser.add_argument("dataset", choices=sorted(FORMATS))
    parser.add_argument("folder", help="parent folder of the dataset root")
    arguments = parser.parse_args()
    print(layout(arguments.dataset, arguments.folder))
