"""Decoding real-time factor of the paper-size streaming transducers: SummaryMixing vs RelPosMHAXL self-attention.

Both models are the paper configurations (``hparams/transducer/librispeech_summarymixing.yaml`` and
``librispeech_mhsa.yaml``: 12-layer Conformer, d_model 512, joint 640, 1000 tokens), built as a run folder's
``inference.yaml`` builds them and decoded by :class:`summarymixing.transducer.inference.StreamingTransducerASR`,
the class ``transcribe.py`` runs:

- **offline**: the front end, the encoder with full context and the search on the whole utterance (the WER table's
  full-context column);
- **streamed** at 320 / 640 / 1280 ms: ``transcribe_waveform_streaming``, audio chunk by chunk to text, unlimited
  left context;

each with greedy search, beam search (beam 10) and beam search with the published RNN LM (``hparams/lm/rnn_lm.yaml``,
2 x 2048 LSTM) fused at weight 0.5, loaded from an LM folder as ``--lm_folder`` does. The real-time factor is the
computation time of one utterance over its duration.

The weights are random, so the search is given a speech-like workload: the output layer is sharpened (one label takes
most of the probability, as in a confident trained model) and its blank row shifted until greedy search writes about
4 tokens per second of audio (LibriSpeech's rate for 1000 unigram pieces) on a 10 s input; the table gives the
tokens per second each search then wrote, for both models. Inputs are random audio. A random prediction network
barely changes after a token, so the tokens come in bursts (up to 6 in a frame, the searches' limit) rather than one
at a time: the search's share of the time is that of a model with bursts, the encoder's is exact.

Time is the best of ``--rounds`` runs (default 1) of this process's CPU time on one thread by default (robust to
other jobs), or wall time on CUDA once the device has finished.

Where the time goes: one more run of each point with every part's methods timed (:class:`TimeShares`): the front
end, the encoder (with the joint network's encoder projection), the prediction network, the joint network and
output layer, the LM, and the rest (the search's own Python, the streaming glue, detokenising). A part called from
inside another counts for itself only. On CUDA each timed call waits for the device, so the shares are of a slower
run than the real-time factors.

    python -m summarymixing.benchmarks.decoding                  # 10, 30, 60 s; every search and mode
    python -m summarymixing.benchmarks.decoding --quick          # 10 s; greedy and beam, offline and 640 ms
    python -m summarymixing.benchmarks.decoding --device cuda

Authors
 * SummaryMixing contributors 2026
"""

import argparse
import os
import tempfile

import sentencepiece
import torch
from hyperpyyaml import load_hyperpyyaml, resolve_references
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing import experiment
from summarymixing.benchmarks.steps import SAMPLE_RATE, TOKENS_PER_SECOND, change
from summarymixing.benchmarks.timing import Target, add_target_arguments, positive_float, positive_int
from summarymixing.run_folder import included_values, seal_export
from summarymixing.transducer.decoding import decode_masked
from summarymixing.transducer.inference import StreamingTransducerASR

HPARAMS_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hparams")
MODELS = {"SummaryMixing": "librispeech_summarymixing.yaml", "RelPosMHAXL": "librispeech_mhsa.yaml"}
SEARCHES = {"greedy": (1, False), "beam 10": (10, False), "beam 10 + RNN LM": (10, True)}
OFFLINE = "offline"
LM_WEIGHT = 0.5


def train_tokenizer(folder, vocabulary):
    """A SentencePiece model of ``vocabulary`` pieces (trained on generated words), for the streaming
    detokeniser: the search writes token ids, the interface turns them into text as it does for users."""
    generator = torch.Generator().manual_seed(0)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
    words = ["".join(letters[int(i)] for i in torch.randint(len(letters), (int(n),), generator=generator))
             for n in torch.randint(2, 9, (20000,), generator=generator)]  # fmt: skip
    text = os.path.join(folder, "words.txt")
    with open(text, "w", encoding="utf-8") as stream:
        stream.writelines(" ".join(words[i : i + 12]) + "\n" for i in range(0, len(words), 12))
    prefix = os.path.join(folder, "tokenizer")
    sentencepiece.SentencePieceTrainer.train(
        input=text, model_prefix=prefix, vocab_size=vocabulary, model_type="unigram", bos_id=-1, eos_id=-1,
        minloglevel=2,
    )  # fmt: skip
    return prefix + ".model"


def write_lm_folder(folder, vocabulary, tokenizer_file):
    """An LM run folder (``lm.yaml``, ``lm.ckpt``, ``tokenizer.ckpt``, ``export.json``) of the published RNN LM,
    random weights."""
    os.makedirs(folder, exist_ok=True)
    definition = os.path.join(HPARAMS_FOLDER, "lm", "rnn_lm.yaml")
    with open(definition, encoding="utf-8") as template:
        resolved = resolve_references(template, overrides={"output_neurons": vocabulary}).getvalue()
    with open(os.path.join(folder, "lm.yaml"), "w", encoding="utf-8") as stream:
        stream.write(resolved)
    torch.save(load_hyperpyyaml(resolved)["model"].state_dict(), os.path.join(folder, "lm.ckpt"))
    with open(tokenizer_file, "rb") as source, open(os.path.join(folder, "tokenizer.ckpt"), "wb") as target:
        target.write(source.read())
    seal_export(folder, "LM", "summarymixing.benchmarks.decoding (random weights)", ["lm.ckpt", "tokenizer.ckpt"])


def build_asr(hparams_name, target, folder):
    """The paper model as a run folder's ``inference.yaml`` builds it, in a ``StreamingTransducerASR`` (random
    weights), with its tokenizer file."""
    hparams = experiment.load(
        os.path.join(HPARAMS_FOLDER, "transducer", hparams_name),
        {"data_folder": "/nonexistent", "output_folder": os.path.join(folder, "run")},
    )
    model_yaml = os.path.join(HPARAMS_FOLDER, "transducer", "model.yaml")
    values = included_values(model_yaml, hparams["transducer"])
    with open(os.path.join(HPARAMS_FOLDER, "transducer", "inference.yaml"), encoding="utf-8") as template:
        resolved = resolve_references(template, overrides={"transducer": values}).getvalue()
    # inference.yaml includes model.yaml by a relative path: load it from the hparams folder
    inference = load_hyperpyyaml(resolved.replace("!include:model.yaml", f"!include:{model_yaml}"))
    tokenizer_file = os.path.join(folder, "tokenizer.model")
    if not os.path.isfile(tokenizer_file):
        os.replace(train_tokenizer(folder, values["output_neurons"]), tokenizer_file)
    inference["tokenizer"].load(tokenizer_file)
    asr = StreamingTransducerASR(modules=inference["modules"], hparams=inference, run_opts=target.run_options())
    # A run folder's normalize.ckpt holds the training features' statistics: take a random input's instead
    asr.mods.front_end.train()
    with torch.no_grad():
        asr.mods.front_end(random_audio(10.0, target.device), torch.ones(1, device=target.device), epoch=1)
    asr.mods.eval()
    return asr, tokenizer_file


def calibrate_blank(asr, target, seconds=10.0, sharpness=60.0):
    """Makes the random model decide like a trained one: the output layer is scaled by ``sharpness`` (one label
    takes most of the probability at every lattice node, so the beam's alternatives are pruned as with a confident
    model), then its blank row is shifted (bisection) until greedy search writes about TOKENS_PER_SECOND tokens per
    second of a random input; the rate jumps with the shift (tokens come in bursts), so the closest shift tried is
    kept. Returns the rate reached."""
    wav = random_audio(seconds, target.device)
    with torch.no_grad():
        frames, lengths = asr.mods.front_end(wav, torch.ones(1, device=target.device))
        encoded = asr.mods.proj_enc(asr.mods.enc(frames, lengths))
    asr.use_searcher(1)
    weight = asr.hparams.transducer["transducer_lin"].w.weight
    with torch.no_grad():
        weight.mul_(sharpness)
    blank_row = weight[asr.hparams.transducer["blank_index"]]
    original, low, high = blank_row.detach().clone(), -10.0, 10.0
    closest = (float("inf"), 0.0, 0.0)  # (distance to the target rate, shift, rate)
    for _ in range(40):
        shift = (low + high) / 2
        with torch.no_grad():
            blank_row.copy_(original + shift)
        rate = len(asr.searcher.decode(encoded)[0]) / seconds
        closest = min(closest, (abs(rate - TOKENS_PER_SECOND), shift, rate))
        if closest[0] < 0.5:
            break
        low, high = (shift, high) if rate > TOKENS_PER_SECOND else (low, shift)
    with torch.no_grad():
        blank_row.copy_(original + closest[1])
    return closest[2]


def random_audio(seconds, device):
    generator = torch.Generator().manual_seed(int(seconds))
    return (0.1 * torch.randn(1, int(seconds * SAMPLE_RATE), generator=generator)).to(device)


def make_decode(asr, mode, wav, written):
    """A closure decoding ``wav`` offline or streamed (chunk ms) as users run it; counts the tokens written."""
    if mode == OFFLINE:

        def decode():
            with torch.no_grad():
                frames, lengths = asr.mods.front_end(wav, torch.ones(1, device=wav.device))
                tokens = decode_masked(asr.mods.enc, asr.mods.proj_enc, asr.searcher, frames, lengths, None)[0]
            written[0] = len(tokens)
            return asr.hparams.tokenizer.decode_ids(tokens)

        return decode
    frame_ms = 1000 * asr.mods.front_end.frame_samples / SAMPLE_RATE
    config = DynChunkTrainConfig(int(mode // frame_ms), None)

    def decode():
        text = "".join(asr.transcribe_waveform_streaming(wav[0].cpu(), config))
        written[0] = len(asr.hparams.tokenizer.encode(text))
        return text

    return decode


def measure(lengths, searches, modes, rounds, target, models=tuple(MODELS)):
    """``{(model, search, mode, seconds): (real-time factor, tokens per second)}`` and ``{(model, search, mode,
    seconds): {part: share of the time}}``."""
    results, shares = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for model in models:
            asr, tokenizer_file = build_asr(MODELS[model], target, folder)
            rate = calibrate_blank(asr, target)
            print(f"{model}: blank calibrated, greedy writes {rate:.1f} tokens/s on 10 s", flush=True)
            lm_folder = os.path.join(folder, "lm")
            if not os.path.isdir(lm_folder):
                write_lm_folder(lm_folder, asr.hparams.transducer["output_neurons"], tokenizer_file)
            for search in searches:
                beam_size, with_lm = SEARCHES[search]
                asr.use_searcher(beam_size, lm_folder if with_lm else None, LM_WEIGHT, tokenizer_file)
                for mode in modes:
                    for seconds in lengths:
                        written = [0]
                        decode = make_decode(asr, mode, random_audio(seconds, target.device), written)
                        best = best_time(decode, target.clock(), rounds)
                        results[model, search, mode, seconds] = (best / seconds, written[0] / seconds)
                        clock = target.clock()
                        with TimeShares(asr, clock) as timed:
                            begin = clock()
                            decode()
                            shares[model, search, mode, seconds] = timed.shares(clock() - begin)
                        print(f"  {model}, {search}, {mode_name(mode)}, {seconds:g} s: RTF {best / seconds:.3f}",
                              flush=True)  # fmt: skip
            del asr
    return results, shares


PARTS = ("front end", "encoder", "prediction network", "joint network", "LM")
REST = "search and the rest"


class TimeShares:
    """Times the parts of a :class:`StreamingTransducerASR` decoding while the ``with`` block runs: each part's
    methods on this ``asr`` are wrapped, and their time is summed exclusively (a part called from inside another
    pauses the other's clock).

    Arguments
    ---------
    asr : StreamingTransducerASR
        The interface, with the searcher it will decode with.
    clock : callable
        Returns seconds (e.g. :meth:`Target.clock`).

    Example
    -------
    >>> import time
    >>> class Part:
    ...     def forward(self):
    ...         time.sleep(0.01)
    >>> shares = TimeShares(None, time.perf_counter, methods=[("encoder", Part(), "forward")])
    >>> with shares:
    ...     shares.methods[0][1].forward()
    >>> round(shares.seconds["encoder"], 2), shares.seconds["LM"]
    (0.01, 0.0)
    """

    def __init__(self, asr, clock, methods=None):
        if methods is None:
            front_end, searcher = asr.mods.front_end, asr.searcher
            methods = [
                ("front end", front_end, "forward"), ("front end", front_end, "forward_streaming"),
                ("encoder", asr.mods.enc, "forward"), ("encoder", asr.mods.enc, "forward_streaming"),
                ("encoder", asr.mods.proj_enc, "forward"), ("prediction network", searcher, "_forward_PN"),
                ("joint network", searcher, "_joint_forward_step"), ("LM", searcher, "_lm_forward_step"),
            ]  # fmt: skip
        self.methods, self.clock = methods, clock
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.running = []  # [part, the time its clock last started], innermost last

    def timed(self, part, method):
        """``method`` with its time added to ``part``'s."""

        def call(*args, **kwargs):
            now = self.clock()
            if self.running:
                outer, started = self.running[-1]
                self.seconds[outer] += now - started
            self.running.append([part, now])
            try:
                return method(*args, **kwargs)
            finally:
                now = self.clock()
                _, started = self.running.pop()
                self.seconds[part] += now - started
                if self.running:
                    self.running[-1][1] = now

        return call

    def __enter__(self):
        for part, owner, name in self.methods:
            setattr(owner, name, self.timed(part, getattr(owner, name)))
        return self

    def __exit__(self, *exception):
        for _, owner, name in self.methods:
            del owner.__dict__[name]  # the class's method again

    def shares(self, total):
        """``{part: share of total}``, the rest included."""
        shares = {part: seconds / total for part, seconds in self.seconds.items()}
        return {**shares, REST: 1.0 - sum(shares.values())}


def best_time(decode, clock, rounds):
    """The least time of ``rounds`` runs of ``decode`` (a decoding is seconds long: no warm-up beyond the first
    point's, whose model was already run by the calibration)."""
    best = float("inf")
    for _ in range(rounds):
        begin = clock()
        decode()
        best = min(best, clock() - begin)
    return best


def mode_name(mode):
    return mode if mode == OFFLINE else f"streamed {mode} ms"


def print_table(results, lengths, searches, modes, target, models=tuple(MODELS)):
    """One row per search and mode; per length, each model's real-time factor and tokens/s, and with both models
    the change from RelPosMHAXL to SummaryMixing."""
    print(f"\nDecoding real-time factor (computation s per audio s), paper-size transducers, {target.describe()}")
    header = ["search", "mode"]
    for seconds in lengths:
        header += [f"{seconds:g} s {model}" for model in models]
        header += [f"{seconds:g} s change"] if len(models) == 2 else []
        header += [f"tokens/s {' / '.join(models)}"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for search in searches:
        for mode in modes:
            cells = [search, mode_name(mode)]
            for seconds in lengths:
                points = [results[model, search, mode, seconds] for model in models]
                cells += [f"{rtf:.3f}" for rtf, _ in points]
                cells += [f"{change(points[0][0], points[1][0]):+.1f}%"] if len(models) == 2 else []
                cells += [" / ".join(f"{rate:.1f}" for _, rate in points)]
            print("| " + " | ".join(cells) + " |")


def print_shares(shares, target):
    """One row per point: the share of each part in its decoding time."""
    print(f"\nWhere the decoding time goes (share of one run's time), {target.describe()}")
    header = ["model", "search", "mode", "length", *PARTS, REST]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for (model, search, mode, seconds), point in shares.items():
        cells = [model, search, mode_name(mode), f"{seconds:g} s"] + [
            f"{100 * point[part]:.0f}%" for part in header[4:]
        ]
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s; greedy and beam 10; offline and 640 ms")
    parser.add_argument("--lengths", type=positive_float, nargs="+", default=[10, 30, 60], help="utterance seconds")
    parser.add_argument(
        "--chunks-ms", type=positive_int, nargs="+", default=[320, 640, 1280], help="streamed chunk sizes"
    )
    parser.add_argument("--searches", nargs="+", choices=list(SEARCHES), default=list(SEARCHES), help="default: all")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="default: both")
    parser.add_argument("--rounds", type=positive_int, default=1, help="timed rounds per point (best kept)")
    parser.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    add_target_arguments(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    target = Target.from_arguments(args)
    if args.quick:
        lengths, searches, modes = [10], ["greedy", "beam 10"], [OFFLINE, 640]
    else:
        lengths, searches, modes = args.lengths, args.searches, [OFFLINE, *args.chunks_ms]
    results, shares = measure(lengths, searches, modes, args.rounds, target, args.models)
    print_table(results, lengths, searches, modes, target, args.models)
    print_shares(shares, target)
    return results, shares


if __name__ == "__main__":
    main()
