"""Generator of the bundled mini corpus (synthesised speech, committed as package data).

The pool is built once by a person with a speech synthesiser and committed, so users and CI need none:

    apt-get update && apt-get install -y espeak-ng flite sox
    python tools/generate_mini.py            # rewrites summarymixing/data/mini_pool/

What it synthesises (the sentences are fixed by the seed; espeak-ng and flite are deterministic and sox runs
with ``-R``, so a re-run with the same tool versions repeats the samples; the committed pool predates ``-R``, so
its samples differ from a re-run by sox's dither, not its sentences, voices or lengths):

- English: 26 voices (espeak-ng accents x voice variants x base pitch, plus four flite voices) saying
  SLURP-style spoken commands from a small grammar (about 170 words) that carries scenario / action / intent
  labels and bracketed entities. Every utterance is spoken in one of four styles (neutral, happy, sad, angry:
  speaking rate, pitch, pitch range and loudness), cycled per speaker so that style and speaker are independent.
  Speakers 1-20 are training speakers (the four flite voices among them), 21-23 dev and 24-26 test (all
  espeak-ng; disjoint, as in LibriSpeech); every word of a dev or test sentence also occurs in training, and
  no dev or test sentence is a training sentence.
- Welsh (``cy``) and Basque (``eu``): 8 espeak-ng voices each, short sentences from a tiny grammar with
  CommonVoice-style casing and punctuation; speakers 1-6 train, 7 dev, 8 test.
- Keywords (language ``keywords``, speakers ``kw01``-``kw26``: the English voices and splits): each of Speech
  Commands' 35 words once in the neutral style, and the ten command words once more in the happy style.
  ``python tools/generate_mini.py --keywords`` (re)makes only these reels and their ``pool.csv`` rows, leaving
  the rest of the pool as it is.

Audio is 16 kHz mono, silence-trimmed with 0.1 s padding, then packed per speaker into one Ogg/Opus "reel"
(one file per speaker, no per-file codec headers, about 2.5 kB per second of speech). ``pool.csv`` lists
every utterance with its reel and sample offsets; :mod:`summarymixing.data.mini` cuts the reels into the real
datasets' layouts.
"""

import argparse
import csv
import os
import random
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf

from summarymixing.data.mini import PAD_SECONDS, POOL_FOLDER, SAMPLE_RATE
from summarymixing.data.speech_commands import COMMANDS, WORDS

OPUS_COMPRESSION_LEVEL = 0.95
POOL_COLUMNS = [
    "id",
    "language",
    "speaker",
    "gender",
    "voice",
    "style",
    "split",
    "text",
    "annotation",
    "scenario",
    "action",
    "intent",
    "reel",
    "start",
    "stop",
    "duration",
]

# Speaking styles: espeak-ng SSML prosody, flite duration stretch, sox pitch shift (cents) and peak level.
STYLES = {
    "neutral": dict(rate="100%", pitch="+0%", range="100%", stretch=1.0, cents=0, peak=0.5),
    "happy": dict(rate="120%", pitch="+25%", range="180%", stretch=0.85, cents=250, peak=0.7),
    "sad": dict(rate="75%", pitch="-20%", range="30%", stretch=1.35, cents=-250, peak=0.25),
    "angry": dict(rate="115%", pitch="+5%", range="140%", stretch=0.9, cents=80, peak=0.95),
}
STYLE_NAMES = list(STYLES)

# (synthesiser, voice, base pitch 0-99 for espeak-ng, gender)
ENGLISH_VOICES = [  # the flite voices sound unlike espeak-ng: they are all training voices
    ("espeak", "en-us+m1", 45, "m"),
    ("espeak", "en-gb+f2", 55, "f"),
    ("espeak", "en-gb-scotland+m3", 40, "m"),
    ("espeak", "en-029+f3", 60, "f"),
    ("flite", "awb", 0, "m"),
    ("flite", "kal16", 0, "m"),
    ("espeak", "en-gb-x-gbclan+m5", 35, "m"),
    ("espeak", "en-us+f5", 65, "f"),
    ("espeak", "en-gb+m6", 55, "m"),
    ("espeak", "en-gb-x-gbcwmd+f1", 45, "f"),
    ("espeak", "en-us+croak", 50, "m"),
    ("espeak", "en-gb+klatt", 50, "m"),
    ("espeak", "en-us+m7", 60, "m"),
    ("espeak", "en-gb-scotland+f2", 45, "f"),
    ("espeak", "en-029+m2", 50, "m"),
    ("espeak", "en-us+klatt3", 55, "f"),
    ("flite", "slt", 0, "f"),
    ("flite", "rms", 0, "m"),
    ("espeak", "en-gb-x-rp+f4", 60, "f"),
    ("espeak", "en-us-nyc+m3", 40, "m"),
    ("espeak", "en-gb+m2", 60, "m"),
    ("espeak", "en-gb-x-rp+m4", 50, "m"),
    ("espeak", "en-us+f1", 50, "f"),
    ("espeak", "en-gb-x-gbclan+f3", 55, "f"),
    ("espeak", "en-us-nyc+f4", 50, "f"),
    ("espeak", "en-029+m6", 45, "m"),
]
ENGLISH_SPLITS = ["train"] * 20 + ["dev"] * 3 + ["test"] * 3
ENGLISH_UTTERANCES = {"train": 52, "dev": 40, "test": 40}

OTHER_VOICE_VARIANTS = [
    ("m1", 45, "m"),
    ("f2", 55, "f"),
    ("m3", 40, "m"),
    ("f3", 60, "f"),
    ("m4", 50, "m"),
    ("f4", 50, "f"),
    ("m6", 55, "m"),
    ("f5", 65, "f"),
]
OTHER_SPLITS = ["train"] * 6 + ["dev", "test"]
OTHER_UTTERANCES_PER_SPEAKER = 15

SLOTS = {
    "time": ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"],
    "minute": ["", "fifteen", "thirty", "forty five"],
    "meridiem": ["am", "pm"],
    "date": [
        "today",
        "tomorrow",
        "tonight",
        "this weekend",
        "on monday",
        "on tuesday",
        "on wednesday",
        "on thursday",
        "on friday",
        "on saturday",
        "on sunday",
        "next week",
    ],
    "house_place": ["kitchen", "bedroom", "living room", "bathroom", "hallway", "office", "garage", "garden"],
    "place_name": ["london", "paris", "berlin", "madrid", "rome", "dublin", "boston", "tokyo"],
    "music_genre": ["jazz", "rock", "pop", "classical", "blues", "country"],
    "radio_name": ["radio one", "jazz radio", "the news station", "classic radio"],
    "person": ["anna", "john", "maria", "peter", "sarah", "david", "emma", "tom"],
    "food_type": ["pizza", "sushi", "noodles", "burgers", "curry", "salad"],
    "transport_type": ["train", "bus", "taxi", "plane"],
    "list_name": ["shopping", "grocery", "holiday", "work"],
}

# scenario -> action -> templates; {slot} is an entity, [text] is one of the |-separated options.
GRAMMAR = {
    "alarm": {
        "set": ["wake me up at {time} {date}", "set an alarm for {time}", "set an alarm for {time} {date}"],
        "query": ["what alarms do i have {date}", "which alarms are set {date}"],
        "remove": ["remove the alarm for {time}", "cancel my alarm {date}", "delete the {time} alarm"],
    },
    "iot": {
        "hue_lightson": ["turn on the lights in the {house_place}", "switch on the {house_place} lights"],
        "hue_lightoff": ["turn off the lights in the {house_place}", "switch off the {house_place} lights"],
        "hue_lightdim": ["dim the lights in the {house_place}", "make the {house_place} lights darker"],
        "hue_lightup": ["make the {house_place} lights brighter", "[please|] brighten the lights in the {house_place}"],
        "cleaning": ["start the vacuum cleaner in the {house_place}", "clean the {house_place} {date}"],
        "coffee": ["make me a [cup of coffee|coffee]", "[please|] brew some coffee"],
    },
    "weather": {
        "query": [
            "what is the weather like in {place_name} {date}",
            "will it rain in {place_name} {date}",
            "is it cold in {place_name} {date}",
            "[please|] tell me the weather {date}",
        ],
    },
    "play": {
        "music": [
            "play some {music_genre} music",
            "play {music_genre} in the {house_place}",
            "[please|] put on some {music_genre}",
        ],
        "radio": ["play {radio_name}", "turn on {radio_name} in the {house_place}"],
        "podcasts": ["play the next episode of my podcast", "[please|] resume my podcast"],
    },
    "audio": {
        "volume_up": ["turn the volume up", "make it louder [please|]"],
        "volume_down": ["turn the volume down", "make it quieter [please|]"],
        "volume_mute": ["mute the speakers", "[please|] be quiet"],
    },
    "calendar": {
        "set": ["remind me to call {person} at {time}", "add a meeting with {person} {date}"],
        "query": ["what is on my calendar {date}", "do i have a meeting with {person} {date}"],
        "remove": ["cancel the meeting with {person} {date}", "remove my meeting {date}"],
    },
    "datetime": {
        "query": ["what time is it in {place_name}", "what day is it [today|]"],
    },
    "takeaway": {
        "order": ["order some {food_type} for {time}", "[please|] order {food_type} for dinner {date}"],
    },
    "transport": {
        "ticket": ["book a {transport_type} ticket to {place_name} {date}", "buy a ticket to {place_name}"],
        "query": ["when is the next {transport_type} to {place_name}", "how long does the {transport_type} take"],
        "taxi": ["call a taxi to the station at {time}", "book a taxi for {time} {date}"],
    },
    "lists": {
        "createoradd": ["add {food_type} to my {list_name} list", "create a new {list_name} list"],
        "query": ["what is on my {list_name} list", "read my {list_name} list [please|]"],
    },
    "email": {
        "sendemail": ["send an email to {person}", "write an email to {person} {date}"],
        "query": ["do i have new emails from {person}", "check my emails [please|]"],
    },
    "news": {
        "query": ["what is the latest news from {place_name}", "tell me the news {date}"],
    },
}

WELSH = {
    "nouns": ["ci", "tŷ", "car", "llyfr", "afal", "bwrdd", "drws", "tywydd", "bara", "trên"],
    "adjectives": ["fawr", "fach", "goch", "las", "newydd", "hen", "dda", "braf", "oer", "boeth"],
    "templates": [
        "Mae'r {noun} yn {adjective}.",
        "Ble mae'r {noun}?",
        "Dw i'n hoffi'r {noun}.",
        "Mae'r {noun} yn {adjective} iawn.",
    ],
}
BASQUE = {
    "nouns": ["etxe", "txakur", "auto", "liburu", "sagar", "mahai", "ate", "leiho", "ogi", "tren"],
    "definite": ["etxea", "txakurra", "autoa", "liburua", "sagarra", "mahaia", "atea", "leihoa", "ogia", "trena"],
    "adjectives": ["handia", "txikia", "gorria", "urdina", "berria", "zaharra", "ona", "hotza", "beroa", "zuria"],
    "templates": [
        "{Noun} {adjective} da.",
        "Non dago {definite}?",
        "{Definite} gustatzen zait.",
        "{Noun} oso {adjective} da.",
    ],
}


def _choose_options(template, rng):
    return re.sub(r"\[([^\]]*)\]", lambda m: rng.choice(m.group(1).split("|")), template)


def _fill_slot(slot, rng):
    if slot == "time":
        minute = rng.choice(SLOTS["minute"])
        return " ".join(w for w in (rng.choice(SLOTS["time"]), minute, rng.choice(SLOTS["meridiem"])) if w)
    return rng.choice(SLOTS[slot])


def sample_command(rng):
    """Draws one spoken command from the grammar.

    Arguments
    ---------
    rng : random.Random
        The random generator.

    Returns
    -------
    dict
        ``text`` (lower case, no punctuation), ``annotation`` (SLURP ``[type : words]`` entities),
        ``scenario``, ``action`` and ``intent`` (``scenario_action``).

    Example
    -------
    >>> command = sample_command(random.Random(0))
    >>> command["intent"] == command["scenario"] + "_" + command["action"]
    True
    """
    scenario = rng.choice(sorted(GRAMMAR))
    action = rng.choice(sorted(GRAMMAR[scenario]))
    template = _choose_options(rng.choice(GRAMMAR[scenario][action]), rng)
    words, annotated = [], []
    for token in template.split():
        slot = re.fullmatch(r"\{(\w+)\}", token)
        if slot:
            value = _fill_slot(slot.group(1), rng)
            words.append(value)
            annotated.append(f"[{slot.group(1)} : {value}]")
        else:
            words.append(token)
            annotated.append(token)
    return {
        "text": " ".join(" ".join(words).split()),
        "annotation": " ".join(" ".join(annotated).split()),
        "scenario": scenario,
        "action": action,
        "intent": f"{scenario}_{action}",
    }


def sample_sentence(language, rng):
    """Draws one CommonVoice-style sentence (cased, punctuated) in Welsh (``cy``) or Basque (``eu``).

    Example
    -------
    >>> sample_sentence("cy", random.Random(1))[-1] in ".?"
    True
    """
    lexicon = {"cy": WELSH, "eu": BASQUE}[language]
    index = rng.randrange(len(lexicon["nouns"]))
    fields = {"noun": lexicon["nouns"][index], "adjective": rng.choice(lexicon["adjectives"])}
    if "definite" in lexicon:
        fields["definite"] = lexicon["definite"][index]
    fields.update({k.capitalize(): v.capitalize() for k, v in fields.items()})
    return rng.choice(lexicon["templates"]).format(**fields)


def _english_sentences(rng):
    """Assigns commands to splits: dev/test sentences unseen in train, their words all seen in train."""
    counts = {split: ENGLISH_SPLITS.count(split) * ENGLISH_UTTERANCES[split] for split in ENGLISH_UTTERANCES}
    train, seen = [], set()
    while len(train) < counts["train"]:
        command = sample_command(rng)
        train.append(command)
        seen.add(command["text"])
    vocabulary = {word for command in train for word in command["text"].split()}
    held_out = {"dev": [], "test": []}
    for split in held_out:
        while len(held_out[split]) < counts[split]:
            command = sample_command(rng)
            if command["text"] not in seen and set(command["text"].split()) <= vocabulary:
                held_out[split].append(command)
                seen.add(command["text"])
    return {"train": train, **held_out}


def _synthesise(engine, voice, pitch, language, style, text, workdir):
    """Runs the synthesiser and sox; returns 16 kHz mono float32 samples, trimmed and padded."""
    settings = STYLES[style]
    raw = os.path.join(workdir, "raw.wav")
    out = os.path.join(workdir, "out.wav")
    if engine == "espeak":
        ssml = (
            f'<speak><prosody rate="{settings["rate"]}" pitch="{settings["pitch"]}" '
            f'range="{settings["range"]}">{text}</prosody></speak>'
        )
        command = ["espeak-ng", "-m", "-v", voice, "-p", str(pitch), "-w", raw, ssml]
        effects = []
    else:
        command = ["flite", "-voice", voice, "--setf", f"duration_stretch={settings['stretch']}", "-t", text, "-o", raw]
        effects = ["pitch", str(settings["cents"])] if settings["cents"] else []
    subprocess.run(command, check=True, capture_output=True)
    trim = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
    subprocess.run(
        [
            "sox",
            "-R",
            raw,
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-b",
            "16",
            out,
            *effects,
            *trim,
            "pad",
            str(PAD_SECONDS),
            str(PAD_SECONDS),
        ],
        check=True,
        capture_output=True,
    )
    samples, _ = sf.read(out, dtype="float32")
    return samples * (settings["peak"] / max(np.abs(samples).max(), 1e-4))


def _speaker_plan(seed):
    """Lists (speaker, engine, voice, pitch, gender, language, split, sentences) for the whole pool."""
    rng = random.Random(seed)
    english = _english_sentences(rng)
    plan = []
    for number, ((engine, voice, pitch, gender), split) in enumerate(zip(ENGLISH_VOICES, ENGLISH_SPLITS), 1):
        count = ENGLISH_UTTERANCES[split]
        sentences, english[split] = english[split][:count], english[split][count:]
        plan.append((f"en{number:02d}", engine, voice, pitch, gender, "en", split, sentences))
    for language in ("cy", "eu"):
        for number, ((variant, pitch, gender), split) in enumerate(zip(OTHER_VOICE_VARIANTS, OTHER_SPLITS), 1):
            sentences = [{"text": sample_sentence(language, rng)} for _ in range(OTHER_UTTERANCES_PER_SPEAKER)]
            plan.append(
                (
                    f"{language}{number:02d}",
                    "espeak",
                    f"{language}+{variant}",
                    pitch,
                    gender,
                    language,
                    split,
                    sentences,
                )
            )
    return plan


def _build_speaker(entry):
    speaker, engine, voice, pitch, gender, language, split, sentences = entry
    rows, pieces, position = [], [], 0
    with tempfile.TemporaryDirectory() as workdir:
        for index, sentence in enumerate(sentences):
            style = sentence.get("style") or STYLE_NAMES[index % len(STYLE_NAMES)]
            samples = _synthesise(engine, voice, pitch, language, style, sentence["text"], workdir)
            pieces.append(samples)
            rows.append(
                {
                    "id": f"{speaker}_{index:03d}",
                    "language": language,
                    "speaker": speaker,
                    "gender": gender,
                    "voice": f"{engine}:{voice}:{pitch}",
                    "style": style,
                    "split": split,
                    "text": sentence["text"],
                    "annotation": sentence.get("annotation", ""),
                    "scenario": sentence.get("scenario", ""),
                    "action": sentence.get("action", ""),
                    "intent": sentence.get("intent", ""),
                    "reel": f"{speaker}.ogg",
                    "start": position,
                    "stop": position + len(samples),
                    "duration": f"{len(samples) / SAMPLE_RATE:.4f}",
                }
            )
            position += len(samples)
    return rows, np.concatenate(pieces)


def _keyword_plan():
    """Lists the keyword speakers as :func:`_speaker_plan` does: the English voices and splits, each saying every
    Speech Commands word (neutral) and the ten command words again (happy)."""
    words = [{"text": word, "style": "neutral"} for word in WORDS]
    words += [{"text": word, "style": "happy"} for word in COMMANDS]
    return [
        (f"kw{number:02d}", engine, voice, pitch, gender, "keywords", split, words)
        for number, ((engine, voice, pitch, gender), split) in enumerate(zip(ENGLISH_VOICES, ENGLISH_SPLITS), 1)
    ]


def _write_pool(pool_folder, plan, kept_rows, workers):
    """Synthesises ``plan`` into a temporary folder, then moves its reels and ``pool.csv`` (``kept_rows`` followed
    by the new rows) into ``pool_folder``, ``pool.csv`` last, so that a layout built meanwhile never mixes old
    metadata with new audio."""
    os.makedirs(pool_folder, exist_ok=True)
    rows = list(kept_rows)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(pool_folder))) as staging:
        with ThreadPoolExecutor(workers) as pool:
            for speaker_rows, reel in pool.map(_build_speaker, plan):
                sf.write(
                    os.path.join(staging, speaker_rows[0]["reel"]),
                    reel,
                    SAMPLE_RATE,
                    format="OGG",
                    subtype="OPUS",
                    compression_level=OPUS_COMPRESSION_LEVEL,
                )
                rows.extend(speaker_rows)
        with open(os.path.join(staging, "pool.csv"), "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=POOL_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        for name in sorted(os.listdir(staging), key=lambda name: name == "pool.csv"):
            os.replace(os.path.join(staging, name), os.path.join(pool_folder, name))
    return rows


def generate_keywords(pool_folder=POOL_FOLDER, workers=2):
    """(Re)synthesises only the keyword reels; the other rows of ``pool.csv`` are kept as they are.

    Returns
    -------
    list of dict
        The rows written to ``pool.csv``.
    """
    with open(os.path.join(pool_folder, "pool.csv"), newline="", encoding="utf-8") as handle:
        kept = [row for row in csv.DictReader(handle) if row["language"] != "keywords"]
    return _write_pool(pool_folder, _keyword_plan(), kept, workers)


def generate(pool_folder=POOL_FOLDER, seed=1234, workers=2):
    """Synthesises the whole pool into ``pool_folder`` (reels + ``pool.csv``).

    Everything is written to a temporary folder first and moved in at the end (``pool.csv`` last), so that a
    layout built meanwhile never mixes old metadata with new audio.

    Arguments
    ---------
    pool_folder : str
        Output folder; existing reels there are replaced.
    seed : int
        Seed of the sentence sampler.
    workers : int
        Parallel synthesiser processes.

    Returns
    -------
    list of dict
        The rows written to ``pool.csv``.
    """
    return _write_pool(pool_folder, _speaker_plan(seed) + _keyword_plan(), [], workers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool_folder", default=POOL_FOLDER)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keywords", action="store_true", help="remake only the keyword reels")
    arguments = parser.parse_args()
    if arguments.keywords:
        written = generate_keywords(arguments.pool_folder, arguments.workers)
    else:
        written = generate(arguments.pool_folder, arguments.seed, arguments.workers)
    print(f"{len(written)} utterances, {sum(float(r['duration']) for r in written):.0f} s -> {arguments.pool_folder}")
