#!/usr/bin/env python3
"""Runs every MP3S probe on one or more pre-trained encoders and writes one results table.

Each (encoder, task, head) probe runs its recipe in a subprocess with its own output folder
``OUT/<encoder>/<task>/<head>``; a probe whose ``results.json`` already exists is not run again, so
an interrupted benchmark resumes where it stopped (and an interrupted probe resumes from its own
checkpoint). At the end ``OUT/results.md`` and ``OUT/results.json`` hold the table in the layout of
the MP3S benchmark (one row per encoder, one column per task and head) and the learned layer
weights of every probe (also plotted to ``OUT/layer_weights_<encoder>.png`` when matplotlib is
installed).

Full scale, SummaryMixing and MHSA encoders side by side (4 GPUs per probe):
    python recipes/mp3s/run_all.py summarymixing=results/wav2vec2/sm mhsa=results/wav2vec2/mhsa \
        --output results/mp3s --launcher "torchrun --nproc_per_node=4" \
        --data librispeech_asr=/data/LibriSpeech --data commonvoice_cy=/data/cv-11.0/cy \
        --data commonvoice_eu=/data/cv-11.0/eu --data slurp_intent=/data/SLURP \
        --data iemocap_emotion=/data/IEMOCAP_full_release --data voxceleb_verification=/data/VoxCeleb1 \
        -- --device=cuda:0 --verification_file=/data/VoxCeleb1/veri_test2.txt

On the bundled mini corpus (one head per task, hparams/mp3s/<task>/mini.yaml):
    python recipes/mp3s/run_all.py results/wav2vec2/mini --output results/mp3s_mini --mini

A smoke test of the whole benchmark (a few utterances per split, two epochs per probe):
    python recipes/mp3s/run_all.py results/wav2vec2/mini --output /tmp/mp3s --mini --quick 8 \
        -- --number_of_epochs=2

Frozen and fine-tuned encoders side by side (arXiv 2407.13377's two regimes; a fine-tuned probe's folder ends in
``_finetuned`` and its column in ``fine-tuned``):
    python recipes/mp3s/run_all.py results/wav2vec2/mini --output results/mp3s_mini --mini --regimes frozen finetuned

Arguments after ``--`` go to every recipe (e.g. ``--number_of_epochs=2``).

Authors
 * SummaryMixing contributors 2026
"""

import argparse
import itertools
import json
import os
import shlex
import subprocess
import sys

from summarymixing.probes import format_layer_weights, plot_layer_weights, read_results, results_table
from summarymixing.run_folder import write_atomically

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (probe name, recipe folder, full-scale hparams files by head, extra recipe arguments, extra
# arguments of a --quick run), in the column order of the MP3S benchmark table.
REGIMES = {"frozen": "", "finetuned": "_finetuned"}
"""The encoder regimes and the suffix of their probes' output folders."""
PROBES = [
    ("librispeech_asr", "librispeech_asr", ["bilstm", "contextnet"], [], []),
    ("commonvoice_cy", "commonvoice_asr", ["bilstm", "linear"], ["--language=cy"], []),
    ("commonvoice_eu", "commonvoice_asr", ["bilstm_eu", "linear"], ["--language=eu"], []),
    ("voxceleb_verification", "voxceleb_verification", ["xvector", "ecapa"], [], ["--select_n_trials={quick}"]),
    ("iemocap_emotion", "iemocap_emotion", ["linear", "ecapa"], [], ["--test_speakers=[1]"]),
    ("slurp_intent", "slurp_intent", ["linear", "bilstm"], [], []),
]


RUNNER_SETS = {
    "--ssl_folder": "give the encoders' run folders as the first arguments",
    "--ssl_allow_any_code": "use --allow-any-code",
    "--output_folder": "use --output",
    "--finetune": "use --regimes frozen finetuned",
    "--mini_folder": "use --mini_folder before --",
    "--data_folder": "use --data PROBE=FOLDER",
    "--select_n": "use --quick N",
}
"""The recipe options that the runner sets itself, and what to use instead."""


def parse_args(argv):
    """Parses the runner's arguments; those after ``--`` are passed to every recipe."""
    extra = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("encoders", nargs="+", help="RUN_FOLDER or NAME=RUN_FOLDER of a wav2vec2 run")
    parser.add_argument("--output", required=True, help="folder for every probe and the table")
    parser.add_argument("--mini", action="store_true", help="run each task's mini.yaml")
    parser.add_argument("--tasks", help="comma-separated probe names (default: all)")
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="PROBE=FOLDER",
        help="data folder of a probe (full scale); repeat per probe",
    )
    parser.add_argument(
        "--launcher", default=sys.executable, help="command that runs a recipe, e.g. 'torchrun --nproc_per_node=4'"
    )
    parser.add_argument("--mini_folder", help="where the mini corpus is laid out (default OUTPUT/mini_data)")
    parser.add_argument(
        "--regimes", nargs="+", choices=REGIMES, default=["frozen"],
        help="frozen encoders (MP3S), fine-tuned ones (--finetune=True), or both side by side",
    )  # fmt: skip
    parser.add_argument(
        "--allow-any-code",
        action="store_true",
        help="load the encoders' run-folder YAML unchecked (only for run folders you trust)",
    )
    parser.add_argument(
        "--quick",
        type=int,
        metavar="N",
        help="smoke test: only the N shortest utterances of each split, the first N "
        "verification trials and the first IEMOCAP fold",
    )
    args = parser.parse_args(argv)
    for option in extra:
        name = option.split("=", 1)[0]
        if name in RUNNER_SETS:
            parser.error(f"{name} after -- is set by the runner for every probe: {RUNNER_SETS[name]}")
    args.extra = extra
    args.encoders = dict(_named_encoder(spec) for spec in args.encoders)
    args.data = dict(_key_value(spec, "--data") for spec in args.data)
    args.mini_folder = args.mini_folder or os.path.join(args.output, "mini_data")
    known = [name for name, *_ in PROBES]
    args.tasks = args.tasks.split(",") if args.tasks else known
    unknown = sorted(set(args.tasks) - set(known)) + sorted(set(args.data) - set(known))
    if unknown:
        parser.error(f"unknown probe(s) {unknown}; known: {known}")
    return args


def _named_encoder(spec):
    """``NAME=FOLDER`` -> (NAME, FOLDER); ``FOLDER`` -> (basename, FOLDER)."""
    name, folder = spec.split("=", 1) if "=" in spec else (None, spec)
    if not os.path.isdir(folder):
        raise SystemExit(f"encoder run folder {folder} does not exist")
    return name or os.path.basename(os.path.normpath(folder)), os.path.abspath(folder)


def _key_value(spec, option):
    """``KEY=VALUE`` -> (KEY, VALUE) with a clear error otherwise."""
    if "=" not in spec:
        raise SystemExit(f"{option} expects KEY=VALUE, got {spec!r}")
    return tuple(spec.split("=", 1))


def probe_runs(args):
    """Lists the (probe, head, command, output folder) runs for every encoder, in table order."""
    runs = []
    for encoder, ssl_folder in args.encoders.items():
        for probe, recipe, heads, recipe_args, quick_args in PROBES:
            if probe not in args.tasks:
                continue
            for head, regime in itertools.product(["mini"] if args.mini else heads, args.regimes):
                output_folder = os.path.join(args.output, encoder, probe, head + REGIMES[regime])
                command = shlex.split(args.launcher) + [
                    os.path.join(REPO, "recipes", "mp3s", recipe, "train.py"),
                    os.path.join(REPO, "hparams", "mp3s", recipe, f"{head}.yaml"),
                    f"--ssl_folder={ssl_folder}",
                    f"--ssl_allow_any_code={args.allow_any_code}",
                    f"--output_folder={output_folder}",
                    f"--finetune={regime == 'finetuned'}",
                    *recipe_args,
                ]
                if args.quick:
                    command += [f"--select_n={args.quick}"] + [arg.format(quick=args.quick) for arg in quick_args]
                if args.mini:  # every probe and encoder shares one layout of the mini corpus
                    command.append(f"--mini_folder={args.mini_folder}")
                elif probe in args.data:
                    command.append(f"--data_folder={args.data[probe]}")
                else:
                    raise SystemExit(f"no data folder for {probe}: add --data {probe}=FOLDER")
                runs.append((encoder, probe, head, command + args.extra, output_folder))
    return runs


def main(argv):
    """Runs the missing probes, then writes and prints the combined table."""
    args = parse_args(argv)
    results = {encoder: [] for encoder in args.encoders}
    for encoder, probe, head, command, output_folder in probe_runs(args):
        if read_results(output_folder) is None:
            print(f"[mp3s] {encoder} / {probe} / {head}: {shlex.join(command)}", flush=True)
            os.makedirs(output_folder, exist_ok=True)
            if subprocess.run(command, cwd=REPO).returncode != 0:
                logs = [path for name in ("log.txt", "train_log.txt")
                        if os.path.isfile(path := os.path.join(output_folder, name))]  # fmt: skip
                raise SystemExit(
                    f"probe {probe} ({head}) failed for encoder {encoder}: see its error above"
                    + (f" and {' and '.join(logs)}" if logs else " (it stopped before writing a log)")
                )
        result = read_results(output_folder)
        if result is None:
            raise SystemExit(f"probe {probe} ({head}) ended without writing {output_folder}/results.json")
        results[encoder].append(result)
    write_tables(args.output, results)


def write_tables(output, results):
    """Writes ``results.md`` / ``results.json`` (and layer-weight plots) and prints the table."""
    sections = ["# MP3S results\n", results_table(results)]
    for encoder, encoder_results in results.items():
        weights = {f"{r['task']} {r['head']}": r["layer_weights"] for r in encoder_results}
        sections += [f"\n## Layer weights: {encoder}\n", format_layer_weights(weights)]
        try:
            plot_layer_weights(weights, os.path.join(output, f"layer_weights_{encoder}.png"), encoder)
        except ImportError as error:
            print(f"[mp3s] no layer-weight plot: {error}")
    markdown = "\n".join(sections) + "\n"
    os.makedirs(output, exist_ok=True)
    write_atomically(os.path.join(output, "results.md"), markdown)
    write_atomically(os.path.join(output, "results.json"), json.dumps(results, indent=2))
    print(markdown)


if __name__ == "__main__":
    main(sys.argv[1:])
