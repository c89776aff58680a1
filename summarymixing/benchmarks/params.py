"""Parameter counts of every paper configuration, against the published models.

    python -m summarymixing.benchmarks.params            # the table, Markdown
    python -m summarymixing.benchmarks.params --recipe transducer

For each paper YAML (full size, built on the CPU, no data needed) the table gives our model's trainable
parameters, the count computed from the published configuration, and the size the paper states where it states
one. The published count is computed independently of our cell: SpeechBrain's own layer with regular attention,
minus that attention, plus the published cell's parameters from its structure (``published_cell_parameters``;
the published code's block-diagonal layers hold ``in * out / nhead + out`` parameters, its dense ones
``in * out + out``). The published code also registers two LayerNorms whenever ``use_layernorm`` is set, in the
``-fast`` and ``-lite`` modes too, where they never receive a gradient nor touch an output: the count is of the
parameters the published model uses (``registered=True`` adds the unused ones; ``summarymixing.convert`` drops
them). The MHSA twins are SpeechBrain's models: their published count is SpeechBrain's, built from SpeechBrain's
classes. The summary decoder (Table 1's last row) has no published code: its decoder is counted as ours.

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import os
import sys

import torch
from speechbrain.lobes.models.transformer import Branchformer, Conformer

from summarymixing import experiment
from summarymixing.encoders.mixing import SUMMARY_MIXING

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HPARAMS = os.path.join(REPO, "hparams")

PAPER_YAMLS = {
    "asr": [
        ("librispeech_conformer_summarymixing.yaml", None),
        ("librispeech_conformer_mhsa.yaml", None),
        ("librispeech_branchformer_summarymixing.yaml", None),
        ("librispeech_branchformer_summarymixing_lite.yaml", None),
        ("librispeech_branchformer_summary_decoder.yaml", None),
        ("librispeech_branchformer_mhsa.yaml", None),
        ("commonvoice_branchformer_summarymixing_small.yaml", None),
        ("commonvoice_branchformer_mhsa_small.yaml", None),
        ("commonvoice_branchformer_summarymixing_large.yaml", None),
        ("commonvoice_branchformer_mhsa_large.yaml", None),
        ("aishell_branchformer_summarymixing_small.yaml", None),
        ("aishell_branchformer_mhsa_small.yaml", None),
        ("aishell_branchformer_summarymixing_large.yaml", None),
        ("aishell_branchformer_mhsa_large.yaml", None),
        ("tedlium2_branchformer_summarymixing.yaml", None),
        ("tedlium2_branchformer_mhsa.yaml", None),
    ],
    "transducer": [
        ("librispeech_summarymixing.yaml", None),
        ("librispeech_mhsa.yaml", None),
        ("voxpopuli_summarymixing.yaml", None),
        ("voxpopuli_mhsa.yaml", None),
    ],
    "wav2vec2": [
        ("conformer_summarymixing_librilight.yaml", 155e6),
        ("conformer_mhsa_librilight.yaml", 166e6),
    ],
}
"""Per recipe: (YAML, the size the paper states or None)."""

PLACEHOLDERS = {
    "asr": ["data_folder"],
    "transducer": ["data_folder"],
    "wav2vec2": ["data_folder", "librispeech_folder"],
}
"""Per recipe: the paper YAMLs' data keys without a default (given a path that is never read)."""


def published_cell_parameters(
    d_model, nhead, mode, local_hid, local_out, summary_hid, summary_out, use_layernorm, registered=False
):
    """Parameters of the published cell, from its structure: those it uses, or with ``registered`` all it
    registers (the unused LayerNorms of ``-fast`` and ``-lite`` too).

    Example
    -------
    >>> published_cell_parameters(512, 4, "SummaryMixing", [512], 512, [512], 512, True)
    791040
    >>> published_cell_parameters(512, 4, "SummaryMixing-fast", [512], 512, [512], 512, False)
    1050112
    >>> published_cell_parameters(512, 4, "SummaryMixing-lite", [512], 512, [512], 512, True)
    132096
    >>> published_cell_parameters(512, 4, "SummaryMixing-lite", [512], 512, [512], 512, True, registered=True)
    134144
    """

    def block_diagonal(sizes):
        return sum(a * b // nhead + b for a, b in zip(sizes[:-1], sizes[1:]))

    used = mode in ("SummaryMixing", "SummaryMixing-expdecay")
    norms = 2 * (local_out + summary_out) if use_layernorm and (used or registered) else 0
    if mode == "SummaryMixing-fast":
        return d_model * 2 * local_out + 2 * local_out + 2 * local_out * d_model + d_model + norms
    summary = block_diagonal([d_model, *summary_hid, summary_out])
    if mode == "SummaryMixing-lite":
        return summary + norms
    local = block_diagonal([d_model, *local_hid, local_out])
    return local + summary + (local_out + summary_out) * d_model + d_model + norms


def count(module):
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def published_encoder_parameters(encoder):
    """The parameters the published code gives an encoder of ``encoder``'s configuration (see the module's
    documentation): for SummaryMixing layers, SpeechBrain's layer with regular attention minus that attention
    plus the published cell (and, in a Branchformer, the published merge instead of SpeechBrain's)."""
    total = count(encoder) - sum(count(layer) for layer in encoder.layers)
    for layer in encoder.layers:
        cell = getattr(layer, "mha_layer", None)
        if cell is None or type(cell).__name__ != SUMMARY_MIXING:
            total += count(layer)  # SpeechBrain's layer, the published baseline itself
            continue
        total += published_summary_mixing_layer(layer, cell)
    return total


def published_summary_mixing_layer(layer, cell):
    """One published SummaryMixing layer's parameters (SpeechBrain's layer without attention, plus the cell)."""
    d_model = cell.enc_dim
    sizes = cell_sizes(cell)
    if isinstance(layer, Conformer.ConformerEncoderLayer):
        reference = Conformer.ConformerEncoderLayer(
            d_model, layer.ffn_module1[1].ffn[0].out_features, cell.nhead, layer.convolution_module.conv.kernel_size[0],
            attention_type="regularMHA",
        )  # fmt: skip
        return count(reference) - count(reference.mha_layer) + published_cell_parameters(d_model, cell.nhead, **sizes)
    reference = Branchformer.BranchformerEncoderLayer(
        d_model, cell.nhead, layer.convolution_branch.csgu.conv.kernel_size,
        csgu_linear_units=layer.convolution_branch.pre_channel_proj.out_features, attention_type="regularMHA",
    )  # fmt: skip
    merge = [2 * d_model, *sizes["summary_hid"], d_model]  # the published merge: a VanillaNN, biases included
    merge_parameters = sum(a * b + b for a, b in zip(merge[:-1], merge[1:]))
    return (
        count(reference) - count(reference.mha_layer) - count(reference.merge_proj) + merge_parameters
        + published_cell_parameters(d_model, cell.nhead, **sizes)
    )  # fmt: skip


def cell_sizes(cell):
    """The published configuration's sizes of one of our cells."""
    fast, lite = cell.mode == "SummaryMixing-fast", cell.mode == "SummaryMixing-lite"
    if fast:
        local_hid, summary_hid, summary_out = [], [], cell.enc_dim
    else:
        summary_hid = [layer.weight.shape[0] * layer.weight.shape[2] for layer in cell.summary_layers[:-1]]
        summary_out = cell.summary_dim
        local_hid = [] if lite else [layer.weight.shape[0] * layer.weight.shape[2] for layer in cell.local_layers[:-1]]
    local_out = cell.local_proj_out_dim
    return dict(
        mode=cell.mode, local_hid=local_hid, local_out=local_out, summary_hid=summary_hid, summary_out=summary_out,
        use_layernorm=cell.use_layernorm,
    )  # fmt: skip


def paper_models(recipe, name):
    """The loaded hyperparameters of one paper YAML and the parts whose parameters the table counts."""
    overrides = {key: "/nonexistent" for key in [*PLACEHOLDERS[recipe], "output_folder"]}
    hparams = experiment.load(os.path.join(HPARAMS, recipe, name), overrides)
    if recipe in ("asr", "transducer"):
        model = hparams[recipe]
        return model["model"], model["Transformer"].encoder
    pretrainer = hparams["wav2vec2"]
    return pretrainer, pretrainer.context_encoder.latent_encoder


def rows(recipes):
    """One table row per paper YAML: (recipe, YAML, ours, published, stated)."""
    table = []
    for recipe in recipes:
        for name, stated in PAPER_YAMLS[recipe]:
            model, encoder = paper_models(recipe, name)
            ours = count(model)
            published = ours - count(encoder) + published_encoder_parameters(encoder)
            table.append((recipe, name, ours, published, stated))
    return table


def format_table(table):
    """The rows as Markdown."""
    lines = ["| recipe | YAML | ours | published configuration | ours - published | paper states |", "|" + "---|" * 6]
    for recipe, name, ours, published, stated in table:
        stated_text = "-" if stated is None else f"{stated / 1e6:.0f}M ({(ours - stated) / stated:+.1%})"
        lines.append(f"| {recipe} | {name} | {ours:,} | {published:,} | {ours - published:+,} | {stated_text} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=sorted(PAPER_YAMLS), action="append", help="default: all")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(format_table(rows(args.recipe or sorted(PAPER_YAMLS))))


if __name__ == "__main__":
    main(sys.argv[1:])
