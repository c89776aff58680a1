"""Parameter counts of every paper configuration, against the published models' counts.

    python -m summarymixing.benchmarks.params            # the table, Markdown
    python -m summarymixing.benchmarks.params --recipe transducer

For each paper YAML (full size, built on the CPU, no data needed) the table gives our model's trainable
parameters beside the count of the model it names, written down once (:data:`PUBLISHED`) with where it comes
from, and the size the paper states where it states one:

- the published SummaryMixing configurations: counted with the published code built from the published YAMLs
  (the audit of issue 26, 2026-12). The small CommonVoice and AISHELL-1 models have a 2048-unit decoder
  feed-forward: their YAMLs set ``decoder_linear_units: 1024`` but never pass it on;
- the self-attention baselines: SpeechBrain's model of that size and recipe, built from
  SpeechBrain's own classes;
- configurations that were never published (the summary decoder, TED-LIUM 2 with SummaryMixing, the small
  self-attention twins, the "mixer only" twins): our count, marked so, which the test keeps from drifting.

The counts are of the parameters a model trains; the published cell also registers two LayerNorms in the
``-fast`` and ``-lite`` modes that never receive a gradient nor touch an output, which are left out
(``summarymixing.convert`` drops them).

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import os
import sys

import torch

from summarymixing import experiment

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HPARAMS = os.path.join(REPO, "hparams")

PUBLISHED_CODE = "the published code"
SPEECHBRAIN = "SpeechBrain's model"
NOT_PUBLISHED = "not published (ours)"

PUBLISHED = {
    "asr": [
        ("librispeech_conformer_summarymixing.yaml", 101_308_592, PUBLISHED_CODE, None),
        ("librispeech_conformer_mhsa.yaml", 109_136_048, SPEECHBRAIN, None),
        ("librispeech_conformer_mhsa_mixer_only.yaml", 109_136_048, NOT_PUBLISHED, None),
        ("librispeech_branchformer_summarymixing.yaml", 119_347_376, PUBLISHED_CODE, None),
        ("librispeech_branchformer_summarymixing_lite.yaml", 100_408_496, PUBLISHED_CODE, None),
        ("librispeech_branchformer_summary_decoder.yaml", 122_508_464, NOT_PUBLISHED, None),
        ("librispeech_branchformer_mhsa.yaml", 109_845_680, SPEECHBRAIN, None),
        ("commonvoice_branchformer_summarymixing_small.yaml", 24_569_456, PUBLISHED_CODE, None),
        ("commonvoice_branchformer_mhsa_small.yaml", 20_217_968, NOT_PUBLISHED, None),
        ("commonvoice_branchformer_summarymixing_large.yaml", 113_195_376, PUBLISHED_CODE, None),
        ("commonvoice_branchformer_mhsa_large.yaml", 103_693_680, SPEECHBRAIN, None),
        ("aishell_branchformer_summarymixing_small.yaml", 27_649_456, PUBLISHED_CODE, None),
        ("aishell_branchformer_mhsa_small.yaml", 23_297_968, NOT_PUBLISHED, None),
        ("aishell_branchformer_summarymixing_large.yaml", 119_347_376, PUBLISHED_CODE, None),
        ("aishell_branchformer_mhsa_large.yaml", 109_845_680, SPEECHBRAIN, None),
        ("tedlium2_branchformer_summarymixing.yaml", 112_426_376, NOT_PUBLISHED, None),
        ("tedlium2_branchformer_mhsa.yaml", 102_924_680, SPEECHBRAIN, None),
    ],
    "transducer": [
        ("librispeech_summarymixing.yaml", 78_110_088, PUBLISHED_CODE, None),
        ("librispeech_mhsa.yaml", 81_255_816, SPEECHBRAIN, None),
        ("librispeech_mhsa_mixer_only.yaml", 81_255_816, NOT_PUBLISHED, None),
        ("voxpopuli_summarymixing.yaml", 71_812_488, PUBLISHED_CODE, None),
        ("voxpopuli_mhsa.yaml", 79_369_120, SPEECHBRAIN, None),
        ("voxpopuli_mhsa_mixer_only.yaml", 81_255_816, NOT_PUBLISHED, None),
    ],
    "wav2vec2": [
        ("conformer_summarymixing_librilight.yaml", 154_764_416, PUBLISHED_CODE, 155e6),
        ("conformer_mhsa_librilight.yaml", 165_335_168, PUBLISHED_CODE, 166e6),
    ],
}
"""Per recipe: (YAML, the trainable parameters of the model it names, where that count comes from, the size the
paper states or None)."""

PLACEHOLDERS = {
    "asr": ["data_folder"],
    "transducer": ["data_folder"],
    "wav2vec2": ["data_folder", "librispeech_folder"],
}
"""Per recipe: the paper YAMLs' data keys without a default (given a path that is never read)."""


def count(module):
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def paper_model(recipe, name):
    """The model that one paper YAML builds (full size, on the CPU)."""
    overrides = {key: "/nonexistent" for key in [*PLACEHOLDERS[recipe], "output_folder"]}
    hparams = experiment.load(os.path.join(HPARAMS, recipe, name), overrides)
    return hparams[recipe]["model"] if recipe in ("asr", "transducer") else hparams["wav2vec2"]


def rows(recipes):
    """One table row per paper YAML: (recipe, YAML, ours, published, source, stated)."""
    table = []
    for recipe in recipes:
        for name, published, source, stated in PUBLISHED[recipe]:
            table.append((recipe, name, count(paper_model(recipe, name)), published, source, stated))
    return table


def format_table(table):
    """The rows as Markdown."""
    header = "| recipe | YAML | ours | published model | ours - published | count of | paper states |"
    lines = [header, "|" + "---|" * 7]
    for recipe, name, ours, published, source, stated in table:
        stated_text = "-" if stated is None else f"{stated / 1e6:.0f}M ({(ours - stated) / stated:+.1%})"
        lines.append(
            f"| {recipe} | {name} | {ours:,} | {published:,} | {ours - published:+,} | {source} | {stated_text} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=sorted(PUBLISHED), action="append", help="default: all")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(format_table(rows(args.recipe or sorted(PUBLISHED))))


if __name__ == "__main__":
    main(sys.argv[1:])
