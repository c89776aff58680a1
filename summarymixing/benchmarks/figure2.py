"""Figure 2 of arXiv 2307.07421: training time, decoding real-time factor and peak memory against utterance length
for the Branchformer CTC + attention model with each token mixer, and ContextNet.

The models are the recipe's (``recipes/asr``) Table 1 Branchformer at paper size (18 layers, d_model 512, CSGU
3072, 6-layer decoder, 5000 tokens; ``hparams/asr/librispeech_branchformer_*.yaml``), built as the recipe builds
them, with its token mixer:

- ``MHSA``: ``librispeech_branchformer_mhsa.yaml`` (RelPosMHAXL);
- ``SummaryMixing`` and ``SummaryMixing-lite``: the published SummaryMixing Branchformers;
- ``FastFormer``: the MHSA model with every layer's attention replaced by :class:`FastFormerAttention` (additive
  attention, Wu et al. 2021, written from the paper: no installed library has it);
- ``HyperMixer``: the MHSA model with SpeechBrain's ``HyperMixing`` in every layer (as SpeechBrain's Branchformer
  builds it for ``attention_type: hypermixing``);
- ``ContextNet``: the MHSA model with SpeechBrain's ``ContextNet`` (21 blocks of squeeze-and-excitation
  convolutions, 256 then 512 channels) as its encoder, at the front end's 40 ms frame rate (strides 1), out to
  d_model.

Measured per point, each in its own process (a point that runs out of memory is shown as such and the others still
print): the **training time** of one utterance, the recipe's own step (``CTCAttentionBrain.fit_batch``: front end,
SpecAugment, encoder, decoder, CTC + attention losses, backward, AdamW) on random audio with 4 tokens per second,
at 5-100 s; its **peak memory**; and the **decoding real-time factor** at 10-60 s: fbank, normalisation, CNN and
encoder in inference mode, per second of audio (the mixers differ in the encoder only; the attention decoder's
beam search is the same for every model and, with random weights, runs to its length limit, so it is left out).

    python -m summarymixing.benchmarks.figure2 --device cuda             # the paper's protocol on a GPU
    python -m summarymixing.benchmarks.figure2 --quick                   # 5 s training, 10 s decoding (CPU)
    python -m summarymixing.benchmarks.figure2 --models MHSA SummaryMixing --train-lengths 5 20 40

It prints the three tables and draws the three panels (``--plot``, default ``figure2.png``) on the paper's axes.

Authors
 * SummaryMixing contributors 2026
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import torch
from speechbrain.lobes.models.ContextNet import ContextNet
from speechbrain.nnet.hypermixing import HyperMixing

from summarymixing import experiment
from summarymixing.asr.brain import CTCAttentionBrain
from summarymixing.benchmarks.steps import ready_brain, speech_batch
from summarymixing.benchmarks.timing import Target, add_target_arguments, positive_float, positive_int

HPARAMS_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hparams", "asr")
MODELS = {
    "MHSA": ("librispeech_branchformer_mhsa.yaml", None),
    "SummaryMixing": ("librispeech_branchformer_summarymixing.yaml", None),
    "SummaryMixing-lite": ("librispeech_branchformer_summarymixing_lite.yaml", None),
    "FastFormer": ("librispeech_branchformer_mhsa.yaml", "fastformer"),
    "HyperMixer": ("librispeech_branchformer_mhsa.yaml", "hypermixer"),
    "ContextNet": ("librispeech_branchformer_mhsa.yaml", "contextnet"),
}
TRAIN_LENGTHS = [5, 10, 20, 40, 60, 80, 100]
DECODE_LENGTHS = [10, 20, 40, 60]


class FastFormerAttention(torch.nn.Module):
    """Fastformer's additive attention (Wu et al., 2021, "Fastformer: Additive Attention Can Be All You Need"), with
    SpeechBrain's attention interface, in O(T).

    Per head: the queries are pooled into one global query by a learned softmax over time; each key is multiplied
    element-wise by it and pooled the same way into a global key; each value is multiplied element-wise by the global
    key, projected, and added to its query. Padding frames (``key_padding_mask`` True) take no part in the pooling.

    Arguments
    ---------
    d_model : int
        Input and output size.
    nhead : int
        Heads (``d_model`` must be divisible by it).

    Example
    -------
    >>> attention = FastFormerAttention(8, 2)
    >>> x, padding = torch.randn(2, 5, 8), torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    >>> out, _ = attention(x, x, x, key_padding_mask=padding)
    >>> out.shape
    torch.Size([2, 5, 8])
    >>> bool(torch.allclose(attention(x[1:, :3], x[1:, :3], x[1:, :3])[0], out[1:, :3], atol=1e-6))
    True
    """

    def __init__(self, d_model, nhead):
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"FastFormerAttention: d_model {d_model} is not divisible by {nhead} heads")
        self.nhead, self.head_dim = nhead, d_model // nhead
        self.query, self.key, self.value = (torch.nn.Linear(d_model, d_model) for _ in range(3))
        self.query_score = torch.nn.Linear(self.head_dim, 1, bias=False)
        self.key_score = torch.nn.Linear(self.head_dim, 1, bias=False)
        self.output = torch.nn.Linear(d_model, d_model)

    def forward(self, query, key, value, attn_mask=None, key_padding_mask=None, pos_embs=None):
        """Mixes ``query`` (the layer input; ``key`` and ``value`` are the same tensor in self-attention).

        Returns
        -------
        tuple
            The output ``[batch, time, d_model]`` and None (no attention weights).
        """
        batch, time, d_model = query.shape
        heads = (batch, time, self.nhead, self.head_dim)
        q, k, v = self.query(query).view(heads), self.key(key).view(heads), self.value(value).view(heads)
        global_query = self._pool(q, self.query_score, key_padding_mask)
        p = k * global_query
        global_key = self._pool(p, self.key_score, key_padding_mask)
        mixed = self.output((v * global_key).reshape(batch, time, d_model))
        return mixed + q.reshape(batch, time, d_model), None

    def _pool(self, x, score, key_padding_mask):
        """Softmax-weighted sum over time, per head: ``[batch, 1, heads, head_dim]``."""
        logits = score(x).squeeze(-1) / math.sqrt(self.head_dim)  # [batch, time, heads]
        if key_padding_mask is not None:
            logits = logits.masked_fill(key_padding_mask[:, :, None], float("-inf"))
        weights = torch.softmax(logits, dim=1)
        return (weights.unsqueeze(-1) * x).sum(dim=1, keepdim=True)


class ContextNetEncoder(torch.nn.Module):
    """SpeechBrain's ``ContextNet`` in the place of ``TransformerASR``'s encoder (``[batch, time, d_model]`` in and
    out; strides 1, as the recipe's CNN front end already gives 40 ms frames)."""

    def __init__(self, d_model, num_blocks=21):
        super().__init__()
        self.net = ContextNet(input_shape=(None, None, d_model), out_channels=d_model, strides=[1] * num_blocks,
                              num_blocks=num_blocks)  # fmt: skip

    def forward(self, src, src_mask=None, src_key_padding_mask=None, pos_embs=None, dynchunktrain_config=None):
        return self.net(src), []


def build(model, target, output_folder):
    """The recipe's ``CTCAttentionBrain`` of ``model`` (a key of :data:`MODELS`), ready to fit batches."""
    hparams_name, mixer = MODELS[model]
    hparams = experiment.load(
        os.path.join(HPARAMS_FOLDER, hparams_name), {"data_folder": "/nonexistent", "output_folder": output_folder}
    )
    transformer = hparams["asr"]["Transformer"]
    d_model, nhead = hparams["asr"]["d_model"], hparams["asr"]["nhead"]
    if mixer == "contextnet":
        transformer.encoder = ContextNetEncoder(d_model)
    elif mixer is not None:
        for layer in transformer.encoder.layers:
            layer.mha_layer = (
                FastFormerAttention(d_model, nhead) if mixer == "fastformer"
                else HyperMixing(input_output_dim=d_model, hypernet_size=4 * d_model, num_heads=nhead)
            )  # fmt: skip
    return ready_brain(CTCAttentionBrain, hparams, target)


def measure_point(model, kind, seconds, rounds, target):
    """``{"seconds": s, "peak_bytes": b}`` of one training step or one encoding of ``seconds`` of audio."""
    with tempfile.TemporaryDirectory() as folder:
        brain = build(model, target, folder)
        asr = brain.hparams.asr
        batch = speech_batch(1, seconds, asr["output_neurons"], asr["bos_index"], asr["eos_index"])
        if kind == "train":

            def step():
                torch.manual_seed(0)
                brain.fit_batch(batch)

        else:
            batch = batch.to(brain.device)
            with torch.no_grad():  # a fresh normaliser has no statistics: take the input's, as in training
                brain.modules.normalize(asr["compute_features"](batch.sig[0]), batch.sig[1], epoch=1)
            brain.modules.eval()

            def step():
                with torch.no_grad(), target.autocast():
                    wavs, wav_lens = batch.sig
                    features = brain.modules.normalize(asr["compute_features"](wavs), wav_lens)
                    brain.modules.Transformer.encode(brain.modules.CNN(features), wav_lens)

        step()  # warm-up
        clock, best = target.clock(), float("inf")
        for _ in range(rounds):
            begin = clock()
            step()
            best = min(best, clock() - begin)
        return {"seconds": best, "peak_bytes": target.peak_memory(step)}


def run_point(model, kind, seconds, args):
    """:func:`measure_point` in a fresh process; ``{"error": ...}`` when it fails (out of memory, ...)."""
    command = [sys.executable, "-m", "summarymixing.benchmarks.figure2", "--point", model, kind, str(seconds),
               "--rounds", str(args.rounds), "--threads", str(args.threads), "--device", args.device,
               "--precision", args.precision]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        last = (result.stderr.strip().splitlines() or ["killed"])[-1]
        return {"error": "out of memory" if "memory" in last.lower() or result.returncode < 0 else last[:80]}
    return json.loads(lines[-1])


def cell(point, value):
    return point.get("error", "-") if "error" in point else value


def print_tables(results, models, train_lengths, decode_lengths, target):
    print(f"\nFigure 2 of arXiv 2307.07421, paper-size Branchformer CTC + attention models, {target.describe()}")
    for title, kind, lengths, key, fmt in (
        ("Training time per utterance (s)", "train", train_lengths, "seconds", "{:.2f}"),
        ("Peak memory of a training step (GB)", "train", train_lengths, "peak_bytes", "{:.2f}"),
        ("Decoding real-time factor (encoder, x 1e-3)", "decode", decode_lengths, "seconds", "{:.2f}"),
    ):
        print(f"\n{title}\n| model | " + " | ".join(f"{s:g} s" for s in lengths) + " |")
        print("|---|" + "---|" * len(lengths))
        for model in models:
            cells = []
            for seconds in lengths:
                point = results[model, kind, seconds]
                value = point.get(key)
                if value is not None:
                    value = value / 2**30 if key == "peak_bytes" else value
                    value = value / seconds * 1000 if kind == "decode" else value
                cells.append(cell(point, fmt.format(value) if value is not None else "-"))
            print(f"| {model} | " + " | ".join(cells) + " |")


def plot(results, models, train_lengths, decode_lengths, path):
    """The paper's three panels: training time, decoding RTF, peak memory against length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = (
        (axes[0], "train", train_lengths, lambda p, s: p["seconds"], "training time per utterance (s)"),
        (axes[1], "decode", decode_lengths, lambda p, s: p["seconds"] / s, "real-time factor (encoder)"),
        (axes[2], "train", train_lengths, lambda p, s: p["peak_bytes"] / 2**30, "peak memory (GB)"),
    )
    for axis, kind, lengths, value, label in panels:
        for model in models:
            points = [(s, value(results[model, kind, s], s)) for s in lengths if "error" not in results[model, kind, s]]
            if points:
                axis.plot(*zip(*points), marker="o", label=model)
        axis.set_xlabel("utterance length (s)")
        axis.set_ylabel(label)
    axes[0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s training and 10 s decoding only, one round")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--train-lengths", type=positive_float, nargs="+", default=TRAIN_LENGTHS, help="seconds")
    parser.add_argument("--decode-lengths", type=positive_float, nargs="+", default=DECODE_LENGTHS, help="seconds")
    parser.add_argument("--rounds", type=positive_int, default=2, help="timed runs per point (best kept)")
    parser.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--plot", default="figure2.png", help="where to draw the three panels")
    parser.add_argument("--point", nargs=3, metavar=("MODEL", "KIND", "SECONDS"), help=argparse.SUPPRESS)
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    target = Target.from_arguments(args)
    if args.point:
        model, kind, seconds = args.point
        print(json.dumps(measure_point(model, kind, float(seconds), args.rounds, target)))
        return None
    if args.quick:
        args.train_lengths, args.decode_lengths, args.rounds = [5], [10], 1
    results = {}
    for model in args.models:
        for kind, lengths in (("train", args.train_lengths), ("decode", args.decode_lengths)):
            for seconds in lengths:
                results[model, kind, seconds] = run_point(model, kind, seconds, args)
                print(f"  {model}, {kind}, {seconds:g} s: {results[model, kind, seconds]}", flush=True)
    print_tables(results, args.models, args.train_lengths, args.decode_lengths, target)
    plot(results, args.models, args.train_lengths, args.decode_lengths, args.plot)
    print(f"\nThe three panels: {args.plot}")
    return results


if __name__ == "__main__":
    main()
