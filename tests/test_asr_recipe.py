"""The CTC + attention ASR recipe and the LM recipe end to end on a slice of the mini corpus with tiny models.

A tiny LM run and a tiny ASR run that uses it (the session's ``lm_run`` and ``asr_run``) are checked for falling
losses, the WER file, the averaged checkpoints, the training cost and the exported folder, which SpeechBrain's
``EncoderDecoderASR`` loads and transcribes a file with; a 2-process DDP run trains a few steps.
"""

import json
import os

import pytest
import torch
from mini_runs import ASR, TINY_ASR, TINY_LM, run

from summarymixing.lm.folder import load_lm_folder
from summarymixing.recipe_brain import read_training_cost

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end


def losses(output_folder, key="train loss"):
    """(epoch, train loss) per line of train_log.txt."""
    values = []
    with open(os.path.join(output_folder, "train_log.txt")) as log:
        for line in log:
            if line.startswith("epoch:"):
                fields = dict(part.split(": ") for part in line.replace(" - ", ", ").strip().split(", "))
                values.append((int(fields["epoch"]), float(fields[key])))
    return values


def test_the_lm_recipe_trains_and_exports_what_asr_runs_load(lm_run):
    assert [epoch for epoch, _ in losses(lm_run)] == [1, 2, 3, 4]
    assert losses(lm_run)[-1][1] < losses(lm_run)[0][1]
    for name in ("lm.ckpt", "tokenizer.ckpt", "training_cost.jsonl"):
        assert os.path.isfile(lm_run / name), name
    lm = load_lm_folder(str(lm_run))  # the folder describes its model: lm.yaml with the run's values
    assert type(lm).__name__ == "TransformerLM" and lm.num_encoder_layers == TINY_LM["lm"]["num_layers"]


def test_asr_training_decoding_averaging_and_cost(asr_run):
    output_folder, log = asr_run
    train = losses(output_folder)
    assert [epoch for epoch, _ in train] == [1, 2, 3] and train[-1][1] < 0.8 * train[0][1], train
    with open(output_folder / "wer.json") as wer_file:
        assert set(json.load(wer_file)) == {"test-clean"}
    assert "Averaged 2 checkpoint(s)" in open(output_folder / "log.txt").read()
    assert "Transformer LM" in log  # decoded with the LM run's model and tokenizer
    assert read_training_cost(output_folder)["epochs"] == 3
    for name in ("inference.yaml", "asr.ckpt", "normalizer.ckpt", "tokenizer.ckpt", "lm.ckpt"):
        assert os.path.isfile(output_folder / name), name


def test_the_exported_folder_loads_in_encoder_decoder_asr_and_transcribes_a_file(asr_run):
    from speechbrain.inference.ASR import EncoderDecoderASR

    from summarymixing.asr.inference import load_asr

    output_folder, _ = asr_run
    asr = load_asr(str(output_folder))
    assert isinstance(asr, EncoderDecoderASR)
    with open(output_folder / "hypotheses_test-clean.json") as hypotheses_file:
        hypotheses = json.load(hypotheses_file)
    # SpeechBrain's inference class, from the folder alone, decodes as the recipe did (the same beam search
    # with the LM, each file unpadded; the recipe's hypotheses are whitespace-normalised)
    for audio in sorted((output_folder / "mini_corpus" / "LibriSpeech" / "test-clean").rglob("*.flac"))[:3]:
        assert " ".join(asr.transcribe_file(str(audio)).split()) == hypotheses[audio.name.removesuffix(".flac")]


def test_lm_fusion_changes_a_hypothesis_built_to_need_it():
    """A decoder that prefers token 3 slightly over token 4, and an LM that strongly prefers 4: with the LM
    weight the search follows the LM."""
    from speechbrain.decoders import S2STransformerBeamSearcher
    from speechbrain.decoders.scorer import ScorerBuilder, TransformerLMScorer
    from speechbrain.nnet.linear import Linear

    class Decoder(torch.nn.Module):
        def decode(self, tokens, encoded, lengths):
            ended = torch.zeros(tokens.shape[0], tokens.shape[1], 6)
            ended[..., 0] = float(tokens.shape[1] > 2)  # after two tokens, the end of sentence wins
            return ended, None

    output = Linear(input_size=6, n_neurons=6)
    with torch.no_grad():
        output.w.weight.zero_()
        output.w.weight[2, 0] = 11.0
        output.w.bias.copy_(torch.tensor([-10.0, -10.0, -10.0, 2.0, 1.5, -10.0]))

    class LanguageModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))  # SpeechBrain's scorer reads the LM's device

        def forward(self, tokens):
            logits = torch.full((*tokens.shape, 6), -10.0)
            logits[..., 4], logits[..., 2] = 5.0, 5.0
            return logits

    def search(lm_weight):
        scorer = ScorerBuilder(
            full_scorers=[TransformerLMScorer(LanguageModel())], weights={"transformerlm": lm_weight}
        )
        searcher = S2STransformerBeamSearcher(
            modules=[Decoder(), output], bos_index=1, eos_index=2, min_decode_ratio=0.0, max_decode_ratio=1.0,
            beam_size=2, scorer=scorer, using_eos_threshold=False, length_normalization=True,
        )  # fmt: skip
        hypotheses, *_ = searcher(torch.zeros(1, 4, 6), torch.ones(1))
        return hypotheses[0]

    assert search(0.0)[0] == 3 and search(1.0)[0] == 4


def test_ddp_two_processes_train_a_few_steps(tmp_path):
    output_folder = tmp_path / "ddp"
    options = {**TINY_ASR, "select_n_sentences": [32, 8, 8], "number_of_epochs": 1}
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    run(ASR, output_folder, {**options, "distributed_backend": "gloo", "device": "cpu"}, launcher=launcher)
    assert [epoch for epoch, _ in losses(output_folder)] == [1]
    cost = read_training_cost(output_folder)
    assert cost["devices"] == 2 and cost["steps"] == 2  # 32 utterances, batches of 8, two processes


def test_two_stage_training_resumes_in_either_stage_and_scores_characters(tmp_path):
    """SpeechBrain's AISHELL-1 two stages (AdamW, then SGD) on the mini recipe, with the CER metric: a run resumed at
    the switch starts SGD afresh, one resumed after it continues SGD from its saved state."""
    twin = tmp_path / "two_stage.yaml"
    twin.write_text(
        f"extends: {ASR[1]}\nmetric: CER\nstage_one_epochs: 1\n"
        "stage_two_optimizer: !name:torch.optim.SGD\n    lr: 0.001\n    momentum: 0.9\n    nesterov: True\n"
    )
    output_folder = tmp_path / "run"
    options = {**TINY_ASR, "select_n_sentences": [32, 8, 8]}

    def latest_optimizer_state():
        checkpoints = sorted((output_folder / "save").glob("CKPT+*"), key=os.path.getmtime)
        return torch.load(checkpoints[-1] / "optimizer.ckpt")["state"][0]

    logs = []
    for epochs in (1, 2, 3):
        logs.append(run([ASR[0], str(twin)], output_folder, {**options, "number_of_epochs": epochs}))
        assert ("momentum_buffer" in latest_optimizer_state()) == (epochs > 1), epochs
    assert "Stage two" not in logs[0] and "Stage two" in logs[1] and "Stage two" in logs[2]
    results = json.loads((output_folder / "cer.json").read_text())
    assert list(results) == ["test-clean"] and 0 <= results["test-clean"] <= 200
    assert not (output_folder / "wer.json").exists() and (output_folder / "cer_test-clean.txt").exists()
