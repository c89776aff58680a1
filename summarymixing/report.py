"""Lays run folders out as the papers' tables, SummaryMixing and MHSA side by side.

    python -m summarymixing.report RUN_FOLDER [RUN_FOLDER ...] --out report.md

Each run is recognised from what its recipe saved, never from its name: ``hyperparams.yaml`` (the recipe, the
dataset from its preparation steps, the encoder, the token mixer and the model size), its results
(``wer_<set>.json`` of the transducer, ``wer.json`` / ``cer.json`` of the CTC + attention ASR, ``slu.json``,
``accuracy.json``, ``results.json`` of an MP3S probe) and ``training_cost.jsonl`` (device-hours and peak memory,
summed over the pieces of a resumed run). A folder that is not a run is searched for runs below it.

- **arXiv 2307.07421, Table 1** (``recipes/asr``): per dataset, one row per run with each test set's error rate,
  device-hours, peak memory and their change against the MHSA run of the same encoder and size. On LibriSpeech the
  published row is given beside each run, and the published rows that no run matches are listed as missing.
- **arXiv 2307.07421, SLU and keyword spotting** (``recipes/slu``, ``recipes/kws``): SLURP's scenario, action and
  intent accuracy and SLU-F1 (``slu.json``), Speech Commands test accuracy (``accuracy.json``), with the cost.
- **arXiv 2409.07165, streaming grid** (``recipes/transducer``): per dataset and model size, the WER of every
  setting (full context, chunk size x left context, streamed from audio) of each run on the headline test set, with
  the training cost; on LibriSpeech, SpeechBrain's published MHSA grid beside it. A plot per group.
- **arXiv 2407.13377** (``recipes/wav2vec2``, ``recipes/mp3s``): the pre-training cost of each encoder, and the
  MP3S table (every task and head, one row per pre-trained encoder) with the layer-weight plots.

Runs are only compared within one dataset, encoder and size: a mini run never sits in a row of a paper-size one.
Folders that hold no run, and results files that cannot be read, are listed at the end with the reason.

Authors
 * SummaryMixing contributors 2026
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass, field

import ruamel.yaml

from summarymixing.probes.results import read_results, results_table
from summarymixing.probes.weighted_sum import format_layer_weights, plot_layer_weights
from summarymixing.recipe_brain import read_training_cost
from summarymixing.run_folder import write_atomically
from summarymixing.transducer.wer_table import FULL_CONTEXT, setting_label

MHSA = "MHSA"

# 2307.07421's published LibriSpeech 960 h results (CTC + attention, Transformer LM) for the rows our YAMLs build,
# each with the numbers of the configuration that YAML builds: dev-clean, test-clean, test-other WER, GPU-hours and
# VRAM (GB; None where not published). The Branchformer rows are Table 1's (SpeechBrain 0.5); the Conformer rows
# are the SpeechBrain 1.0 re-run's, which our Conformer YAMLs build (Table 1's own Conformer rows, 2.8 / 2.1 / 5.1
# and 2.8 / 2.3 / 5.4, came from a 0.5 configuration that was not published).
TABLE_1 = {
    ("Conformer", MHSA): ((1.9, 2.0, 4.6, None, None), "librispeech_conformer_mhsa.yaml"),
    ("Conformer", "SummaryMixing"): ((1.9, 2.0, 4.6, None, None), "librispeech_conformer_summarymixing.yaml"),
    ("Branchformer", MHSA): ((2.9, 2.2, 5.1, 132, 45), "librispeech_branchformer_mhsa.yaml"),
    ("Branchformer", "SummaryMixing"): ((2.9, 2.2, 5.1, 105, 26), "librispeech_branchformer_summarymixing.yaml"),
    ("Branchformer", "SummaryMixing-lite"): (
        (3.0, 2.2, 5.2, 98, 23), "librispeech_branchformer_summarymixing_lite.yaml"),
    ("Branchformer", "SummaryMixing + summary decoder"): (
        (3.1, 2.3, 5.3, 104, 26), "librispeech_branchformer_summary_decoder.yaml"),
}  # fmt: skip
TABLE_1_SETS = ("dev-clean", "test-clean", "test-other")

# SpeechBrain's streaming Conformer-Transducer (MHSA), LibriSpeech test-clean WER, greedy: {setting: WER}
_SPEECHBRAIN_GRID = {  # left context (chunks): WER at chunks of 1280, 960, 640, 480, 320 ms
    32: (3.09, 3.07, 3.26, 3.31, 3.44),
    16: (3.10, 3.07, 3.27, 3.32, 3.50),
    8: (3.10, 3.11, 3.31, 3.39, 3.62),
    4: (3.12, 3.13, 3.37, 3.51, 3.80),
    2: (3.19, 3.24, 3.50, 3.79, 4.38),
}
SPEECHBRAIN_STREAMING = {FULL_CONTEXT: 2.72} | {
    f"chunk{chunk}ms_left{left}": wer
    for left, row in _SPEECHBRAIN_GRID.items()
    for chunk, wer in zip((1280, 960, 640, 480, 320), row)
}

PRETRAINING_CLAIM = "paper: -18% pre-training time, -23% peak VRAM (SummaryMixing vs MHSA, 4 A100s, Libri-Light medium)"
UNDERSTANDING_PUBLISHED = (
    "The paper's SLURP and Speech Commands numbers are in its text only (not in the published code or README), so "
    "no published column is given."
)
MP3S_PUBLISHED = (
    "paper (frozen, BiLSTM / linear heads as published): CommonVoice Welsh WER 48.3 (SummaryMixing) vs 50.8 (MHSA); "
    "SLURP intent accuracy 80.5 vs 78.1"
)


@dataclass
class Run:
    """One recognised run folder."""

    folder: str
    recipe: str
    dataset: str
    encoder: str
    mixer: str
    size: str
    results: dict = field(default_factory=dict)
    metric: str = "WER"
    cost: dict = None

    @property
    def name(self):
        return os.path.basename(os.path.normpath(self.folder))

    def group(self):
        """What must be equal for two runs to be compared: recipe, dataset, encoder and size."""
        return self.recipe, self.dataset, self.encoder, self.size


def read_hyperparams(folder):
    """A run folder's ``hyperparams.yaml`` as nested mappings (tags kept, nothing built), or None."""
    path = os.path.join(folder, "hyperparams.yaml")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as stream:
        return ruamel.yaml.YAML().load(stream)


def tag_of(node):
    return getattr(getattr(node, "tag", None), "value", None) or ""


def dataset_of(hparams):
    """The dataset, from the modules of ``summarymixing.data`` that the preparation steps call (``librispeech``,
    ``voxpopuli``, ...); ``(mini)`` when the bundled mini corpus is laid out first.

    Example
    -------
    >>> steps = ruamel.yaml.YAML().load("- !name:summarymixing.data.mini.layout {}\\n"
    ...     "- !name:summarymixing.data.librispeech.prepare_librispeech {}")
    >>> dataset_of({"data_preparation": steps})
    'librispeech (mini)'
    """
    modules = []
    for step in hparams.get("data_preparation") or []:
        target = tag_of(step).removeprefix("!name:")
        if target.startswith("summarymixing.data."):
            modules.append(target.split(".")[2])
    names = [module for module in modules if module != "mini"]
    dataset = "+".join(dict.fromkeys(names)) or "unknown"
    return f"{dataset} (mini)" if "mini" in modules else dataset


def mixer_of(model):
    """``MHSA`` or the SummaryMixing mode of a model's settings, ``+ summary decoder`` when its decoder mixes too.

    Example
    -------
    >>> mixer_of({"attention_type": "SummaryMixing", "summary_mixing_mode": "SummaryMixing-lite"})
    'SummaryMixing-lite'
    >>> mixer_of({"attention_type": "RelPosMHAXL"})
    'MHSA'
    """
    if model.get("attention_type") == "SummaryMixing":
        mixer = model.get("summary_mixing_mode") or model.get("mode") or "SummaryMixing"
    else:
        mixer = MHSA
    if model.get("decoder_attention_type") == "SummaryMixing":
        mixer += " + summary decoder"
    return mixer


def size_of(model):
    layers = model.get("num_encoder_layers", model.get("num_layers", "?"))
    return f"d_model {model.get('d_model', '?')} x {layers} layers"


def read_json(path, problems):
    """A results file's content, or None when it is missing; an unreadable one is listed in ``problems``."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError) as error:
        problems.append(f"{path}: {type(error).__name__}: {error}")
        return None


def read_run(folder, problems=None):
    """The :class:`Run` of a folder, or None when it holds no ``hyperparams.yaml`` of a known recipe; results files
    that cannot be read are left out and listed in ``problems``."""
    problems = [] if problems is None else problems
    try:
        hparams = read_hyperparams(folder)
    except (OSError, ruamel.yaml.YAMLError) as error:
        problems.append(f"{os.path.join(folder, 'hyperparams.yaml')}: {type(error).__name__}: {error}")
        return None
    if hparams is None:
        return None
    cost = read_training_cost(folder)
    dataset = dataset_of(hparams)
    if "transducer" in hparams:
        model = hparams["transducer"]
        results = {}
        for name in sorted(os.listdir(folder)):
            if name.startswith("wer_") and name.endswith(".json"):
                wers = read_json(os.path.join(folder, name), problems)
                if wers is not None:
                    results[name[len("wer_") : -len(".json")]] = wers
        return Run(folder, "transducer", dataset, "Conformer", mixer_of(model), size_of(model), results, cost=cost)
    if "kws" in hparams:
        model = hparams["kws"]
        dataset = f"{dataset}, {model.get('n_classes', '?')} classes"
        accuracy = read_json(os.path.join(folder, "accuracy.json"), problems) or {}
        encoder = str(model.get("encoder_module", "conformer")).capitalize()
        return Run(folder, "kws", dataset, encoder, mixer_of(model), size_of(model), accuracy, "accuracy", cost)
    if "asr" in hparams:
        model = hparams["asr"]
        encoder = str(model.get("encoder_module", "conformer")).capitalize()
        if dataset.startswith("slurp"):  # the SLU recipe: the ASR model writing SLURP's semantics
            results = read_json(os.path.join(folder, "slu.json"), problems) or {}
            return Run(folder, "slu", dataset, encoder, mixer_of(model), size_of(model), results, "SLURP", cost)
        metric = str(hparams.get("metric", "WER"))
        results = read_json(os.path.join(folder, f"{metric.lower()}.json"), problems) or {}
        return Run(folder, "asr", dataset, encoder, mixer_of(model), size_of(model), results, metric, cost)
    if "ssl_folder" in hparams:
        ssl = read_run(str(hparams["ssl_folder"])) if os.path.isdir(str(hparams["ssl_folder"])) else None
        encoder = f"{ssl.mixer} ({ssl.name})" if ssl else f"unrecognised encoder ({hparams['ssl_folder']})"
        try:
            results = read_results(folder) or {}
        except (OSError, ValueError) as error:
            problems.append(f"{os.path.join(folder, 'results.json')}: {type(error).__name__}: {error}")
            results = {}
        return Run(folder, "mp3s", dataset, encoder, ssl.mixer if ssl else "?", ssl.size if ssl else "?", results,
                   cost=cost)  # fmt: skip
    if "quantiser" in hparams and "encoder" in hparams:
        model = hparams["encoder"]
        return Run(folder, "wav2vec2", dataset, "Conformer", mixer_of(model), size_of(model), cost=cost)
    return None


def find_runs(paths, problems=None):
    """The runs of ``paths`` (run folders, or folders above them), and the paths that hold none, each with why.

    Returns
    -------
    runs : list of Run
    skipped : list of (str, str)
        Folders given that hold no run, with the reason.
    """
    problems = [] if problems is None else problems
    runs, skipped = [], []
    for path in paths:
        run = read_run(path, problems)
        if run is not None:
            runs.append(run)
            continue
        found = []
        for root, folders, _ in os.walk(path):
            folders.sort()
            for name in list(folders):
                candidate = read_run(os.path.join(root, name), problems)
                if candidate is not None:
                    found.append(candidate)
                    folders.remove(name)  # a run's own subfolders (save/, inference/) hold no other run
        runs += found
        if not found:
            own = os.path.isfile(os.path.join(path, "hyperparams.yaml"))
            why = "its hyperparams.yaml is of no recipe the report knows" if own else "no run folder in or below it"
            skipped.append((path, why))
    return runs, skipped


def change(value, baseline):
    """``+12.3%``, or ``-`` without both values."""
    if value is None or baseline is None or baseline == 0:
        return "-"
    return f"{100 * (value / baseline - 1):+.1f}%"


def cost_cells(run, baseline):
    """Device-hours, peak memory (GB, and what was measured) and their changes against ``baseline``."""
    cost, base = run.cost or {}, (baseline.cost if baseline else None) or {}
    hours, memory = cost.get("device_hours"), cost.get("peak_memory_bytes")
    gigabytes = None if memory is None else memory / 2**30
    kind = {"cuda_max_allocated": "CUDA", "cpu_peak_rss": "CPU RSS"}.get(cost.get("memory"), "")
    return [
        "-" if hours is None else f"{hours:.3f}",
        "-" if gigabytes is None else f"{gigabytes:.2f} {kind}".strip(),
        change(hours, base.get("device_hours")) if baseline is not run else "",
        change(memory, base.get("peak_memory_bytes")) if baseline is not run else "",
    ]


def baselines(runs):
    """For each run, the MHSA run of its group (the first one), or None."""
    mhsa = {}
    for run in runs:
        if run.mixer == MHSA:
            mhsa.setdefault(run.group(), run)
    return {id(run): mhsa.get(run.group()) for run in runs}


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def asr_section(runs):
    """2307.07421 Table 1: one table per dataset."""
    sections = []
    base = baselines(runs)
    for dataset in dict.fromkeys(run.dataset for run in runs):
        group = sorted((run for run in runs if run.dataset == dataset), key=lambda r: (r.encoder, r.size, r.mixer))
        sets = [s for s in TABLE_1_SETS if any(s in run.results for run in group)]
        sets += sorted({s for run in group for s in run.results} - set(sets))
        published = dataset == "librispeech"
        header = ["run", "encoder", "size", "mixer"] + [f"{group[0].metric} {s}" for s in sets]
        header += ["device-hours", "peak memory (GB)", "time vs MHSA", "memory vs MHSA"]
        header += ["published: dev / test-clean / test-other, GPU-h, VRAM GB"] if published else []
        rows = []
        for run in group:
            row = [run.name, run.encoder, run.size, run.mixer]
            row += [f"{run.results[s]:.2f}" if s in run.results else "-" for s in sets]
            row += cost_cells(run, base[id(run)])
            if published:
                paper = TABLE_1.get((run.encoder, run.mixer))
                row.append(published_cell(paper[0]) if paper else "-")
            rows.append(row)
        lines = [f"### {dataset}\n", markdown_table(header, rows)]
        lines += unpaired(group, base)
        if published:
            have = {(run.encoder, run.mixer) for run in group}
            missing = [f"{encoder} {mixer} (hparams/asr/{yaml})" for (encoder, mixer), (_, yaml) in TABLE_1.items()
                       if (encoder, mixer) not in have]  # fmt: skip
            if missing:
                lines.append("\nMissing rows of the paper's table: " + "; ".join(missing) + ".")
        sections.append("\n".join(lines))
    return "## arXiv 2307.07421, Table 1: CTC + attention ASR\n\n" + "\n\n".join(sections)


def published_cell(numbers):
    """``2.9 / 2.2 / 5.1, 105, 26``: the three WERs, GPU-hours and VRAM (``-`` where not published).

    Example
    -------
    >>> published_cell((1.9, 2.0, 4.6, None, None))
    '1.9 / 2.0 / 4.6, -, -'
    """
    return " / ".join(map(str, numbers[:3])) + ", " + ", ".join("-" if n is None else str(n) for n in numbers[3:])


def unpaired(group, base):
    """A note for the runs that have no MHSA run of the same encoder and size to be compared with."""
    alone = sorted({f"{run.encoder}, {run.size}" for run in group if base[id(run)] is None})
    return [f"\nNo MHSA run with the same encoder and size for: {'; '.join(alone)}."] if alone else []


def setting_order(key):
    """Sort key of a WER-table setting: full context first, then by chunk size and left context."""
    if key == FULL_CONTEXT:
        return (0, 0, 0)
    chunk, left = key.split("_")[:2]
    left = left[len("left") :]
    return (1, int(chunk[len("chunk") : -len("ms")]), 10**9 if left == "inf" else int(left))


def headline_set(run):
    return "test-clean" if "test-clean" in run.results else next(iter(run.results), None)


def transducer_section(runs, plot_folder):
    """2409.07165: one streaming grid per dataset and size, with the training cost."""
    sections = []
    base = baselines(runs)
    groups = dict.fromkeys((run.dataset, run.size) for run in runs)
    for dataset, size in groups:
        group = sorted((r for r in runs if (r.dataset, r.size) == (dataset, size)), key=lambda r: r.mixer != MHSA)
        test_set = headline_set(group[0])
        settings = sorted({key.removesuffix("_streamed") for run in group for key in run.results.get(test_set, {})
                           if key == FULL_CONTEXT or key.endswith("_streamed")}, key=setting_order)  # fmt: skip
        published = dataset == "librispeech" and test_set == "test-clean"
        mhsa = base[id(group[0])]
        header = ["setting"] + [f"{run.mixer} ({run.name})" for run in group]
        header += [f"{run.mixer} vs MHSA" for run in group if mhsa is not None and run is not mhsa]
        header += ["SpeechBrain MHSA (published, greedy)"] if published else []
        rows = []
        for setting in settings:
            key = setting if setting == FULL_CONTEXT else f"{setting}_streamed"
            values = [run.results.get(test_set, {}).get(key) for run in group]
            row = [setting_label(setting)] + ["-" if v is None else f"{v:.2f}" for v in values]
            if mhsa is not None:
                reference = mhsa.results.get(test_set, {}).get(key)
                row += [change(v, reference) for run, v in zip(group, values) if run is not mhsa]
            if published:
                reference = SPEECHBRAIN_STREAMING.get(setting)
                row.append("-" if reference is None else f"{reference:.2f}")
            rows.append(row)
        cost_rows = [[run.name, run.mixer] + cost_cells(run, mhsa) for run in group]
        lines = [f"### {dataset}, {size}: WER (%) on {test_set}, streamed from audio\n", markdown_table(header, rows),
                 "\nTraining cost:\n", markdown_table(["run", "mixer", "device-hours", "peak memory (GB)",
                                                       "time vs MHSA", "memory vs MHSA"], cost_rows)]  # fmt: skip
        lines += unpaired(group, base)
        plot = plot_streaming(group, test_set, plot_folder, f"streaming_{slug(dataset)}_{slug(size)}.png")
        if plot:
            lines.append(f"\n![streaming WER]({plot})")
        sections.append("\n".join(lines))
    return "## arXiv 2409.07165: the streaming transducer\n\n" + "\n\n".join(sections)


def slug(text):
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def plot_streaming(group, test_set, folder, name):
    """WER against chunk size per run and left context (full context dashed); the file name, or None."""
    if folder is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for index, run in enumerate(group):
        wers = run.results.get(test_set, {})
        color = f"C{index}"
        lefts = sorted({k.split("_")[1] for k in wers if k.endswith("_streamed")}, key=lambda s: setting_order(
            f"chunk0ms_{s}"))  # fmt: skip
        for style, left in zip(["-", "--", ":", "-.", (0, (1, 3)), (0, (5, 1))] * 2, lefts):
            points = sorted((setting_order(k)[1], v) for k, v in wers.items() if k.endswith(f"_{left}_streamed"))
            axis.plot(*zip(*points), color=color, linestyle=style, marker="o",
                      label=f"{run.mixer}, {left.replace('left', 'left ')}")  # fmt: skip
        if FULL_CONTEXT in wers:
            axis.axhline(wers[FULL_CONTEXT], color=color, linewidth=0.8, label=f"{run.mixer}, full context")
    axis.set_xlabel("chunk size (ms)")
    axis.set_ylabel(f"WER (%) on {test_set}")
    axis.legend(fontsize="x-small")
    figure.tight_layout()
    os.makedirs(folder, exist_ok=True)
    figure.savefig(os.path.join(folder, name))
    plt.close(figure)
    return name


def ssl_section(pretraining, probes, plot_folder):
    """2407.13377: pre-training cost, and the MP3S table with layer weights."""
    lines = ["## arXiv 2407.13377: wav2vec 2.0 with a SummaryMixing context encoder\n"]
    if pretraining:
        base = baselines(pretraining)
        rows = [[run.name, run.dataset, run.size, run.mixer, (run.cost or {}).get("steps", "-")]
                + cost_cells(run, base[id(run)]) for run in pretraining]  # fmt: skip
        header = ["run", "data", "size", "mixer", "steps", "device-hours", "peak memory (GB)", "time vs MHSA",
                  "memory vs MHSA"]  # fmt: skip
        lines += ["### Pre-training cost\n", markdown_table(header, rows), f"\n{PRETRAINING_CLAIM}."]
        lines += unpaired(pretraining, base)
    if probes:
        by_encoder = {}
        for run in probes:
            if run.results:
                by_encoder.setdefault(run.encoder, []).append(run.results)
        heads = [result["head"] for results in by_encoder.values() for result in results]
        tuned = sum(head.endswith(" fine-tuned") for head in heads)
        regime = "fine-tuned" if tuned == len(heads) else "frozen" if tuned == 0 else "frozen and fine-tuned"
        lines += [f"\n### MP3S probes ({regime} encoders)\n", results_table(by_encoder), f"\n{MP3S_PUBLISHED}."]
        unfinished = [run.name for run in probes if not run.results]
        if unfinished:
            lines.append(f"\nProbes without results.json (not finished): {', '.join(unfinished)}.")
        for encoder, results in by_encoder.items():
            weights = {f"{r['task']} {r['head']}": r["layer_weights"] for r in results}
            lines += [f"\nLayer weights, {encoder}:\n", format_layer_weights(weights)]
            if plot_folder is not None:
                name = f"layer_weights_{slug(encoder)}.png"
                os.makedirs(plot_folder, exist_ok=True)
                plot_layer_weights(weights, os.path.join(plot_folder, name), encoder)
                lines.append(f"\n![layer weights]({name})")
    return "\n".join(lines)


def understanding_section(slu, kws):
    """2307.07421's speech understanding (SLURP) and keyword spotting (Speech Commands) runs, SummaryMixing beside
    MHSA of the same encoder and size."""
    lines = ["## arXiv 2307.07421: spoken language understanding and keyword spotting\n"]
    for runs, title, metrics in (
        (slu, "SLURP, direct SLU (%)", ("scenario", "action", "intent", "SLU-F1")),
        (kws, "Speech Commands, keyword spotting: test accuracy (%)", ("test",)),
    ):
        if not runs:
            continue
        base = baselines(runs)
        rows = []
        for run in sorted(runs, key=lambda r: (r.dataset, r.encoder, r.size, r.mixer)):
            values = run.results.get("test", {}) if run.recipe == "slu" else run.results
            cells = [f"{values[key]:.2f}" if isinstance(values.get(key), (int, float)) else "-" for key in metrics]
            described = [run.name, run.dataset, run.encoder, run.size, run.mixer]
            rows.append([*described, *cells, *cost_cells(run, base[id(run)])])
        header = ["run", "data", "encoder", "size", "mixer", *metrics, "device-hours", "peak memory (GB)",
                  "time vs MHSA", "memory vs MHSA"]  # fmt: skip
        lines += [f"### {title}\n", markdown_table(header, rows), *unpaired(runs, base), ""]
    lines.append(UNDERSTANDING_PUBLISHED)
    return "\n".join(lines)


def report(paths, plot_folder=None):
    """The Markdown report of the runs under ``paths``; plots go to ``plot_folder`` (none if None)."""
    problems = []
    runs, skipped = find_runs(paths, problems)
    by_recipe = {recipe: [run for run in runs if run.recipe == recipe] for recipe in
                 ("asr", "transducer", "slu", "kws", "wav2vec2", "mp3s")}  # fmt: skip
    sections = [f"# Runs laid out as the papers' tables\n\n{len(runs)} run(s) from: {', '.join(paths)}"]
    if by_recipe["asr"]:
        sections.append(asr_section(by_recipe["asr"]))
    if by_recipe["slu"] or by_recipe["kws"]:
        sections.append(understanding_section(by_recipe["slu"], by_recipe["kws"]))
    if by_recipe["transducer"]:
        sections.append(transducer_section(by_recipe["transducer"], plot_folder))
    if by_recipe["wav2vec2"] or by_recipe["mp3s"]:
        sections.append(ssl_section(by_recipe["wav2vec2"], by_recipe["mp3s"], plot_folder))
    missing = [name for name, present in (("Table 1 (recipes/asr)", by_recipe["asr"]),
               ("SLU (recipes/slu)", by_recipe["slu"]), ("keyword spotting (recipes/kws)", by_recipe["kws"]),
               ("the streaming grid (recipes/transducer)", by_recipe["transducer"]),
               ("the MP3S table (recipes/mp3s)", by_recipe["mp3s"])) if not present]  # fmt: skip
    if missing:
        sections.append("No runs for: " + "; ".join(missing) + ".")
    if skipped:
        sections.append("Skipped (no run found): " + "; ".join(f"{path} ({why})" for path, why in skipped) + ".")
    if problems:
        sections.append("Unreadable files, left out of the tables:\n\n" + "\n".join(f"- {p}" for p in problems))
    return "\n\n".join(sections) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="run folders, or folders above them")
    parser.add_argument("--out", default="report.md", help="the Markdown report (plots are written beside it)")
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not os.path.isdir(folder):
            parser.error(f"{folder} is not a folder")
    if os.path.isdir(args.out):
        parser.error(f"--out {args.out} is a folder: give the report's file name (e.g. {args.out}/report.md)")
    out_folder = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_folder, exist_ok=True)
    markdown = report(args.folders, plot_folder=out_folder)
    write_atomically(args.out, markdown)
    print(markdown)
    return markdown


if __name__ == "__main__":
    main(sys.argv[1:])
