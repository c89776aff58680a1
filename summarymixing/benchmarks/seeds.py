"""Accuracy over seeds: runs recipes several times with different seeds and prints each run's test result, the
mean and the spread, YAMLs side by side (e.g. a SummaryMixing mini run and its MHSA twin).

    python -m summarymixing.benchmarks.seeds hparams/kws/mini.yaml hparams/kws/mini_mhsa.yaml --seeds 1 2 3
    python -m summarymixing.benchmarks.seeds hparams/asr/mini.yaml hparams/asr/mini_mhsa.yaml --seeds 1 2 3 \
        -- --number_of_epochs=10

Each run is ``python recipes/<recipe>/train.py YAML --seed=S --output_folder=OUT/<recipe>/<yaml>/<S>`` (one at a
time, one thread each, so that they do not slow each other down); a run whose results file exists is not run again.
Options after ``--`` go to every run. The result read is the recipe's headline: test accuracy (keyword spotting),
WER on the first test set (CTC + attention ASR, transducer: full context), intent accuracy (SLU).

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from summarymixing.benchmarks.timing import positive_int

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADLINES = {
    "kws": ("accuracy.json", lambda results: results["test"], "test accuracy (%)"),
    "asr": ("wer.json", lambda results: next(iter(results.values())), "test WER (%)"),
    "transducer": ("wer.json", lambda results: results["full_context"], "test WER (%), full context"),
    "slu": ("slu.json", lambda results: next(iter(results.values()))["intent"], "intent accuracy (%)"),
}
"""Per recipe: the results file, how to read the headline number from it, and its name."""


def recipe_of(yaml):
    """The recipe of a YAML under ``hparams/<recipe>/``."""
    recipe = os.path.basename(os.path.dirname(os.path.abspath(yaml)))
    if recipe not in HEADLINES:
        raise SystemExit(f"seeds: {yaml} is not a YAML of {', '.join(sorted(HEADLINES))} (hparams/<recipe>/)")
    return recipe


def run_seed(yaml, seed, output, extra):
    """Runs one seed (unless its results exist); returns its headline number."""
    recipe = recipe_of(yaml)
    folder = os.path.join(output, recipe, os.path.splitext(os.path.basename(yaml))[0], str(seed))
    results_file, headline, _ = HEADLINES[recipe]
    path = os.path.join(folder, results_file)
    if not os.path.isfile(path):
        command = [sys.executable, os.path.join(REPO, "recipes", recipe, "train.py"), os.path.abspath(yaml),
                   f"--seed={seed}", f"--output_folder={folder}", "--noprogressbar", *extra]  # fmt: skip
        print(f"[seeds] {' '.join(command)}", flush=True)
        environment = {**os.environ, "OMP_NUM_THREADS": "1"}
        result = subprocess.run(command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if result.returncode != 0:
            raise SystemExit(f"seeds: {yaml} seed {seed} failed:\n{result.stderr.decode()[-3000:]}")
    with open(path, encoding="utf-8") as stream:
        return float(headline(json.load(stream)))


def table(results, seeds, name):
    """Markdown: one row per YAML, each seed's number, the mean and the sample standard deviation."""
    header = ["YAML", *[f"seed {seed}" for seed in seeds], f"mean {name}", "std"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for yaml, values in results.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        cells = [os.path.basename(yaml), *[f"{value:.2f}" for value in values], f"{statistics.mean(values):.2f}"]
        lines.append("| " + " | ".join([*cells, f"{spread:.2f}"]) + " |")
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("yamls", nargs="+", help="recipe YAMLs of one recipe (hparams/<recipe>/...)")
    parser.add_argument("--seeds", type=positive_int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--output", default="results/seeds", help="where the runs go (default results/seeds)")
    args = parser.parse_args(argv)
    recipes = {recipe_of(yaml) for yaml in args.yamls}
    if len(recipes) != 1:
        parser.error(f"the YAMLs are of several recipes ({', '.join(sorted(recipes))}): give one recipe's")
    results = {yaml: [run_seed(yaml, seed, args.output, extra) for seed in args.seeds] for yaml in args.yamls}
    markdown = table(results, args.seeds, HEADLINES[recipes.pop()][2])
    print(markdown)
    return results


if __name__ == "__main__":
    main()
