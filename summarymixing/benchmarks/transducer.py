"""Training-step time and peak memory of the paper-size transducers: SummaryMixing vs RelPosMHAXL self-attention.

Both models are built from the recipe's own configurations (``hparams/transducer/librispeech_summarymixing.yaml`` and
``librispeech_mhsa.yaml``: 12-layer Conformer, d_model 512, joint 640, 1000 tokens; only ``attention_type``
differs). One training step is: fbank -> normalisation -> CNN front end -> encoder (full context) -> LSTM
prediction network -> joint -> transducer loss + 0.3 CTC -> backward -> AdamW step, on random audio of each length
with 4 tokens per second (about LibriSpeech's rate for a 1000-token unigram vocabulary), equal batch for both.

Time is the best of a few rounds of CPU time of this process (``time.process_time``, one thread by default, which
equals the wall time on an idle machine and is robust to other jobs); peak memory is the most bytes allocated at
once during a step, above what was alive before it (``torch.profiler`` events); on a GPU, CUDA events and
``torch.cuda.max_memory_allocated``.

    python -m summarymixing.benchmarks.transducer            # 5, 10, 20, 40 s
    python -m summarymixing.benchmarks.transducer --quick    # 5 s only, under a minute

The paper (arXiv 2409.07165) reports -15.5% training time and -16% peak VRAM for SummaryMixing.

Authors
 * SummaryMixing contributors 2026
"""

import argparse
import os
import time

import torch
from hyperpyyaml import load_hyperpyyaml

from summarymixing.benchmarks.cell import best_times, peak_memory
from summarymixing.transducer import transducer_loss

HPARAMS_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hparams", "transducer")
MODELS = {"SummaryMixing": "librispeech_summarymixing.yaml", "RelPosMHAXL": "librispeech_mhsa.yaml"}
TOKENS_PER_SECOND = 4
SAMPLE_RATE = 16000


def build(hparams_file, device):
    """The recipe's modules and an AdamW optimiser over them."""
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, {"data_folder": "unused"})
    hparams["model"].to(device).train()
    hparams["normalize"].to(device)
    optimizer = hparams["opt_class"](hparams["model"].parameters())
    return hparams, optimizer


def make_training_step(hparams, optimizer, batch, seconds, device):
    """A closure running one full training step on random audio of ``seconds`` and random targets."""
    generator = torch.Generator().manual_seed(0)
    wavs = (0.1 * torch.randn(batch, int(seconds * SAMPLE_RATE), generator=generator)).to(device)
    wav_lens = torch.ones(batch, device=device)
    num_tokens = max(1, int(seconds * TOKENS_PER_SECOND))
    tokens = torch.randint(1, hparams["output_neurons"], (batch, num_tokens), generator=generator).to(device)
    tokens_bos = torch.nn.functional.pad(tokens, (1, 0), value=hparams["bos_index"])
    token_lens = torch.ones(batch, device=device)

    def step():
        feats = hparams["normalize"](hparams["compute_features"](wavs), wav_lens, epoch=1)
        encoded = hparams["proj_enc"](hparams["enc"](hparams["CNN"](feats), wav_lens))
        predicted, _ = hparams["dec"](hparams["emb"](tokens_bos))
        joint = hparams["Tjoint"](encoded.unsqueeze(2), hparams["proj_dec"](predicted).unsqueeze(1))
        loss = transducer_loss(hparams["transducer_lin"](joint), tokens, wav_lens, token_lens, hparams["blank_index"])
        ctc_log_probs = hparams["log_softmax"](hparams["enc_lin"](encoded))
        loss = 0.7 * loss + 0.3 * hparams["ctc_cost"](ctc_log_probs, tokens, wav_lens, token_lens)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def cuda_best_time(step, rounds):
    """Best of ``rounds`` CUDA-event timings of ``step`` (after a warm-up) and the peak allocated bytes."""
    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    best = float("inf")
    for _ in range(rounds):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1000)
    return best, torch.cuda.max_memory_allocated() - base


def measure(lengths, batch, rounds, device):
    """``{model: {seconds: (step seconds, peak bytes)}}`` for both models."""
    results = {}
    for name, hparams_name in MODELS.items():
        torch.manual_seed(0)
        hparams, optimizer = build(os.path.join(HPARAMS_FOLDER, hparams_name), device)
        results[name] = {}
        for seconds in lengths:
            step = make_training_step(hparams, optimizer, batch, seconds, device)
            if device.type == "cuda":
                results[name][seconds] = cuda_best_time(step, rounds)
            else:
                clock = time.process_time if torch.get_num_threads() == 1 else time.perf_counter
                best = best_times({name: step}, clock, rounds, budget_s=0.0)[name]
                results[name][seconds] = (best, peak_memory(step))
            print(f"  {name:13s} {seconds:5.0f} s: {results[name][seconds][0]:7.2f} s/step", flush=True)
        del hparams, optimizer
    return results


def print_table(results, lengths, batch, device):
    """Side-by-side table with the relative change of SummaryMixing vs RelPosMHAXL."""
    sm, mhsa = results["SummaryMixing"], results["RelPosMHAXL"]
    print(f"\nTransducer training step, paper size, batch {batch}, {device} ({torch.get_num_threads()} thread(s))")
    print("| length (s) | SM time (s) | MHSA time (s) | time change | SM peak (MiB) | MHSA peak (MiB) | peak change |")
    print("|---|---|---|---|---|---|---|")
    for seconds in lengths:
        (sm_time, sm_peak), (mhsa_time, mhsa_peak) = sm[seconds], mhsa[seconds]
        print(
            f"| {seconds:g} | {sm_time:.2f} | {mhsa_time:.2f} | {100 * (sm_time / mhsa_time - 1):+.1f}% | "
            f"{sm_peak / 2**20:.0f} | {mhsa_peak / 2**20:.0f} | {100 * (sm_peak / mhsa_peak - 1):+.1f}% |"
        )
    total = {name: sum(times[s][0] for s in lengths) for name, times in results.items()}
    print(
        f"\nSummed over the lengths: time {100 * (total['SummaryMixing'] / total['RelPosMHAXL'] - 1):+.1f}% "
        "(paper: -15.5% time, -16% peak VRAM)"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s only, one round (under a minute on a CPU)")
    parser.add_argument("--lengths", type=float, nargs="+", default=[5, 10, 20, 40], help="utterance seconds")
    parser.add_argument("--batch", type=int, default=1, help="utterances per step (equal for both models)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per point (best kept)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    lengths, rounds = ([5], 1) if args.quick else (args.lengths, args.rounds)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results = measure(lengths, args.batch, rounds, device)
    print_table(results, lengths, args.batch, device)
    return results


if __name__ == "__main__":
    main()
