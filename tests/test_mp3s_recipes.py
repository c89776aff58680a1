"""End-to-end tests of the MP3S probing recipes and the benchmark runner on the bundled mini corpus.

One tiny pre-trained encoder run folder is written once for the module; the runner then runs every
task's mini recipe (real dataset layout and preparation, two epochs, a few utterances per split) in a
subprocess, exactly as a user would, and the tests check each probe's metric, layer weights and
checkpoints, the combined table, and that a second runner call resumes instead of re-running.
"""

import glob
import importlib.util
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.encoder import CTCTextEncoder
from speechbrain.utils.checkpoints import Checkpointer

from summarymixing.data.mini import layout as mini_layout
from summarymixing.experiment import compose, load
from summarymixing.probes import ClassificationProbeBrain

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(REPO, "recipes", "mp3s", "run_all.py")
NUM_HIDDEN = 3  # the tiny encoder's input + 2 layers

TINY_RUN_YAML = """
frontend: !new:summarymixing.wav2vec2.MelCNNFrontEnd
    channels: [16, 16]
context_encoder: !new:summarymixing.wav2vec2.ContextEncoder
    input_size: 16
    d_model: 16
    encoder: !new:summarymixing.ConformerEncoder
        num_layers: 2
        d_model: 16
        d_ffn: 32
        nhead: 2
        kernel_size: 7
        output_hidden_states: True
"""

# probe -> (metric reported in the table, lowest possible value, highest possible value); Basque
# (commonvoice_eu) runs the same recipe and data layout as Welsh, so the tests run Welsh only.
MINI_METRICS = {
    "librispeech_asr": ("WER test-clean", 0.0, None),
    "commonvoice_cy": ("WER", 0.0, None),
    "voxceleb_verification": ("EER", 0.0, 100.0),
    "iemocap_emotion": ("accuracy", 0.0, 100.0),
    "slurp_intent": ("accuracy", 0.0, 100.0),
}
# probe -> the head of its mini.yaml
MINI_HEADS = {
    "librispeech_asr": "bilstm",
    "commonvoice_cy": "bilstm",
    "voxceleb_verification": "ecapa",
    "iemocap_emotion": "ecapa",
    "slurp_intent": "bilstm",
}


@pytest.fixture(scope="module")
def tiny_ssl_run(tmp_path_factory):
    """A wav2vec 2.0 run folder (``hyperparams.yaml`` + ``save/CKPT+*``, the layout ``load_pretrained`` reads) of a
    tiny randomly initialised model with a SummaryMixing Conformer context encoder."""
    folder = tmp_path_factory.mktemp("tiny_w2v2")
    (folder / "hyperparams.yaml").write_text(TINY_RUN_YAML)
    modules = load_hyperpyyaml(TINY_RUN_YAML)
    Checkpointer(folder / "save", recoverables=modules).save_checkpoint()
    return folder


def _run_benchmark(ssl_folder, output, mini_folder):
    command = [
        sys.executable,
        RUNNER,
        f"tiny={ssl_folder}",
        "--output",
        str(output),
        "--mini",
        "--tasks",
        ",".join(MINI_METRICS),
        "--quick",
        "8",
        "--mini_folder",
        str(mini_folder),
        "--",
        "--number_of_epochs=2",
        "--noprogressbar",
    ]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def mini_benchmark(tiny_ssl_run, tmp_path_factory):
    """Runs every mini probe once through the runner; returns the output folder and the runner's stdout."""
    ckpt_before = {path: path.read_bytes() for path in tiny_ssl_run.rglob("*.ckpt")}
    output = tmp_path_factory.mktemp("mp3s")
    mini_folder = tmp_path_factory.getbasetemp() / "mini"  # shared with the data tests' layouts
    completed = _run_benchmark(tiny_ssl_run, output, mini_folder)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    assert {path: path.read_bytes() for path in tiny_ssl_run.rglob("*.ckpt")} == ckpt_before
    return output, completed.stdout


@pytest.mark.parametrize("probe", sorted(MINI_METRICS))
def test_mini_probe_trains_and_reports_its_metric(mini_benchmark, probe):
    output, _ = mini_benchmark
    folder = output / "tiny" / probe / "mini"
    results = json.loads((folder / "results.json").read_text())
    metric, low, high = MINI_METRICS[probe]
    assert results["task"] == probe and results["reported"] == [metric]
    value = results["metrics"][metric]
    assert value >= low and (high is None or value <= high), results
    weights = results["layer_weights"]
    assert len(weights) == NUM_HIDDEN and sum(weights) == pytest.approx(1.0, abs=1e-5)
    logs = sorted(folder.rglob("train_log.txt"))
    assert logs and all("epoch: 2," in log.read_text() for log in logs)
    checkpoints = sorted(folder.rglob("CKPT+*"))
    assert checkpoints, "no checkpoint saved"
    for checkpoint in checkpoints:
        saved = torch.load(checkpoint / "weighted_sum.ckpt")
        assert saved["weights"].shape == (NUM_HIDDEN,)
        assert not (checkpoint / "ssl_encoder.ckpt").exists()  # the frozen encoder is not re-saved


def test_runner_writes_the_combined_table_and_resumes(mini_benchmark, tiny_ssl_run, tmp_path_factory):
    output, stdout = mini_benchmark
    table = (output / "results.md").read_text()
    header = table.splitlines()[2]
    for probe in MINI_METRICS:
        assert f"| {probe} {MINI_HEADS[probe]}: " in header
    row = next(line for line in table.splitlines() if line.startswith("| tiny |"))
    assert len(row.split("|")) == len(header.split("|")) and " - " not in row
    assert "## Layer weights: tiny" in table and (output / "layer_weights_tiny.png").is_file()
    assert set(json.loads((output / "results.json").read_text())["tiny"][0]) >= {"task", "metrics"}
    assert stdout.count("[mp3s] tiny / ") == len(MINI_METRICS)
    again = _run_benchmark(tiny_ssl_run, output, tmp_path_factory.getbasetemp() / "mini")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[mp3s] tiny / " not in again.stdout  # every probe had finished: nothing re-runs
    assert (output / "results.md").read_text() == table


def test_runner_rejects_unknown_probes_and_missing_data(tiny_ssl_run, tmp_path):
    unknown = subprocess.run(
        [sys.executable, RUNNER, str(tiny_ssl_run), "--output", str(tmp_path), "--tasks", "timit"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert unknown.returncode != 0 and "unknown probe(s) ['timit']" in unknown.stderr
    no_data = subprocess.run(
        [sys.executable, RUNNER, str(tiny_ssl_run), "--output", str(tmp_path), "--tasks", "slurp_intent"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert no_data.returncode != 0 and "--data slurp_intent=FOLDER" in no_data.stderr
    runner_sets = subprocess.run(
        [sys.executable, RUNNER, str(tiny_ssl_run), "--output", str(tmp_path), "--mini", "--", "--finetune=abc"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert runner_sets.returncode == 2 and "--finetune after -- is set by the runner" in runner_sets.stderr


def test_a_probe_that_fails_before_its_log_is_reported_without_pointing_at_missing_logs(tiny_ssl_run, tmp_path):
    failed = subprocess.run(
        [sys.executable, RUNNER, str(tiny_ssl_run), "--output", str(tmp_path), "--mini", "--tasks", "slurp_intent",
         "--", "--number_of_epochs=abc"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert failed.returncode != 0 and "--number_of_epochs=abc: expected a whole number" in failed.stderr
    assert "(it stopped before writing a log)" in failed.stderr and "log.txt" not in failed.stderr


# The full-size ContextNet (21 blocks, 32M parameters) takes seconds to build even on one thread; its
# hparams file differs from bilstm.yaml only in the head, and a small ContextNet is tested in test_mp3s.py.
HPARAMS_FILES = sorted(
    os.path.relpath(path, REPO)
    for path in glob.glob(os.path.join(REPO, "hparams", "mp3s", "*", "*.yaml"))
    if not path.endswith("contextnet.yaml")
)


@pytest.mark.parametrize("hparams_file", HPARAMS_FILES)
def test_every_hparams_file_builds_its_probe(hparams_file, tiny_ssl_run, tmp_path, one_thread):
    overrides = {"ssl_folder": str(tiny_ssl_run), "output_folder": str(tmp_path)}
    path = os.path.join(REPO, hparams_file)
    base_file, _ = compose(path)
    if "data_folder: !PLACEHOLDER" in open(base_file, encoding="utf-8").read():
        overrides["data_folder"] = str(tmp_path)
    hparams = load(path, overrides)
    assert set(hparams["modules"]) == {"ssl_encoder", "weighted_sum", "head", "output_layer"}
    assert hparams["weighted_sum"].num_layers == NUM_HIDDEN
    assert {"weighted_sum", "head", "output_layer", "counter"} <= set(hparams["checkpointer"].recoverables)
    assert "ssl_encoder" not in hparams["checkpointer"].recoverables


SLURP_TRAIN = os.path.join(REPO, "recipes", "mp3s", "slurp_intent", "train.py")
SLURP_MINI = os.path.join(REPO, "hparams", "mp3s", "slurp_intent", "mini.yaml")


def encoder_state(hparams):
    return {name: value.clone() for name, value in hparams["ssl_encoder"].encoder.state_dict().items()}


@pytest.mark.parametrize("finetune", [False, True])
def test_a_finetuned_encoder_trains_with_its_own_optimiser_and_a_frozen_one_never_changes(
    finetune, tiny_ssl_run, tmp_path, one_thread
):
    overrides = {"ssl_folder": str(tiny_ssl_run), "output_folder": str(tmp_path), "finetune": finetune,
                 "encoder_freeze_steps": 1}  # fmt: skip
    hparams = load(SLURP_MINI, overrides)
    brain = ClassificationProbeBrain(modules=hparams["modules"], hparams=hparams, run_opts={"device": "cpu"})
    brain.on_fit_start()
    brain.modules.train()
    torch.manual_seed(0)
    batch = PaddedBatch([{"id": f"u{i}", "sig": torch.randn(16000 - 2000 * i), "label_encoded": torch.tensor([i])}
                         for i in range(2)])  # fmt: skip
    before = encoder_state(hparams)
    brain.fit_batch(batch)  # the first step: a fine-tuned encoder is still held (encoder_freeze_steps: 1)
    held = encoder_state(hparams)
    brain.fit_batch(batch)
    after = encoder_state(hparams)
    assert all(torch.equal(before[name], held[name]) for name in before)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    if not finetune:
        assert not changed and brain.encoder_optimizer is None
        assert set(brain.optimizers_dict) == {"model_optimizer", "weights_optimizer"}
        return
    assert changed and all(name.startswith("context_encoder.") for name in changed)  # the front end stays frozen
    assert not hparams["ssl_encoder"].encoder.frontend.training
    assert isinstance(brain.encoder_optimizer, torch.optim.Adam)
    assert brain.encoder_optimizer.param_groups[0]["lr"] == hparams["lr_encoder"] == 0.0001
    assert brain.model_optimizer.param_groups[0]["lr"] == hparams["lr"]
    encoder_ids = {id(p) for p in hparams["ssl_encoder"].parameters()}
    assert all(id(p) in encoder_ids for group in brain.encoder_optimizer.param_groups for p in group["params"])
    assert not any(id(p) in encoder_ids for group in brain.model_optimizer.param_groups for p in group["params"])


def slurp_command(ssl_folder, output_folder, mini_folder, *options, launcher=(sys.executable,)):
    return [*launcher, SLURP_TRAIN, SLURP_MINI, f"--ssl_folder={ssl_folder}", f"--output_folder={output_folder}",
            f"--mini_folder={mini_folder}", "--select_n=8", "--noprogressbar", *options]  # fmt: skip


def test_runner_lays_frozen_and_finetuned_side_by_side_and_a_finetuned_probe_resumes_both_optimisers(
    tiny_ssl_run, tmp_path, tmp_path_factory
):
    mini_folder = tmp_path_factory.getbasetemp() / "mini"
    command = [sys.executable, RUNNER, f"tiny={tiny_ssl_run}", "--output", str(tmp_path), "--mini", "--tasks",
               "slurp_intent", "--quick", "8", "--mini_folder", str(mini_folder), "--regimes", "frozen",
               "finetuned", "--", "--number_of_epochs=1", "--noprogressbar"]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    header = (tmp_path / "results.md").read_text().splitlines()[2]
    assert "| slurp_intent bilstm: accuracy | slurp_intent bilstm fine-tuned: accuracy |" in header
    folder = tmp_path / "tiny" / "slurp_intent" / "mini_finetuned"
    (checkpoint,) = folder.glob("save/CKPT+*")
    for name in ("ssl_encoder", "encoder_optimizer", "lr_annealing_encoder", "model_optimizer"):
        assert (checkpoint / f"{name}.ckpt").is_file(), name
    steps = max(state["step"] for state in torch.load(checkpoint / "encoder_optimizer.ckpt")["state"].values())
    assert "lr_encoder: 1.00e-04" in (folder / "train_log.txt").read_text()

    # a second epoch resumes from the checkpoint: both optimisers carry on from their saved state
    again = subprocess.run(slurp_command(tiny_ssl_run, folder, mini_folder, "--finetune=True", "--number_of_epochs=2"),
                           cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    newest = max(folder.glob("save/CKPT+*"), key=lambda path: path.stat().st_mtime)
    for name, expected in (("encoder_optimizer", 2 * steps), ("model_optimizer", 2 * steps)):
        state = torch.load(newest / f"{name}.ckpt")["state"]
        assert max(value["step"] for value in state.values()) == expected, name


def test_ddp_fine_tuning_with_two_processes(tiny_ssl_run, tmp_path, tmp_path_factory):
    launcher = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    command = slurp_command(tiny_ssl_run, tmp_path / "ddp", tmp_path_factory.getbasetemp() / "mini",
                            "--finetune=True", "--number_of_epochs=1", "--distributed_backend=gloo", "--device=cpu",
                            launcher=launcher)  # fmt: skip
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads((tmp_path / "ddp" / "results.json").read_text())["head"] == "bilstm fine-tuned"


# (runner task, dataset layout, the dataset folder inside it): the full-scale heads, which the mini runs do not use
# The heads of every task but Welsh CommonVoice (the same two heads as Basque's: linear here, BiLSTM in mini.yaml)
PAPER_HEAD_DATA = {
    "commonvoice_eu": ("commonvoice", "CommonVoice/eu"),
    "iemocap_emotion": ("iemocap", "IEMOCAP_full_release"),
    "slurp_intent": ("slurp", "SLURP"),
    "voxceleb_verification": ("voxceleb1", "VoxCeleb1"),
}


def test_every_paper_head_runs_end_to_end_on_the_mini_layouts(tiny_ssl_run, tmp_path, tmp_path_factory):
    """The paper YAMLs' heads (linear, BiLSTM, ContextNet, ECAPA, x-vector; Basque's own YAML) train and test on
    the mini corpus laid out in each dataset's real format, a few utterances and one epoch each: through the
    runner, and LibriSpeech's directly (the mini layout has no test-other)."""
    mini_folder = tmp_path_factory.getbasetemp() / "mini"
    data = []
    for task, (dataset, folder) in PAPER_HEAD_DATA.items():
        mini_layout(dataset, str(mini_folder))
        data += ["--data", f"{task}={mini_folder / folder}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        RUNNER,
        f"tiny={tiny_ssl_run}",
        "--output",
        str(tmp_path),
        "--tasks",
        ",".join(PAPER_HEAD_DATA),
        "--quick",
        "8",
        *data,
        "--",
        "--number_of_epochs=1",
        "--noprogressbar",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = (tmp_path / "results.md").read_text()
    for column in (
        "commonvoice_eu bilstm",  # bilstm_eu.yaml: the BiLSTM head on Basque
        "commonvoice_eu linear",
        "iemocap_emotion linear",
        "iemocap_emotion ecapa",
        "slurp_intent linear",
        "voxceleb_verification xvector",
    ):
        assert f"| {column}: " in table.splitlines()[2], column
    assert " - " not in next(line for line in table.splitlines() if line.startswith("| tiny |"))

    mini_layout("librispeech", str(mini_folder))
    for head in ("contextnet",):  # bilstm: mini.yaml's head, trained by the tests above
        output = tmp_path / "librispeech" / head
        command = [sys.executable, os.path.join(REPO, "recipes", "mp3s", "librispeech_asr", "train.py"),
                   os.path.join(REPO, "hparams", "mp3s", "librispeech_asr", f"{head}.yaml"),
                   f"--ssl_folder={tiny_ssl_run}", f"--output_folder={output}",
                   f"--data_folder={mini_folder / 'LibriSpeech'}", "--select_n=8", "--number_of_epochs=1",
                   "--test_splits=[test-clean]", f"--test_csv=[{output / 'save' / 'test-clean.csv'}]",
                   "--noprogressbar"]  # fmt: skip
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert json.loads((output / "results.json").read_text())["head"] == head
        assert "'<unk>' => 1" in (output / "save" / "label_encoder.txt").read_text()  # unk_index, as the YAML says


def test_a_ctc_output_beyond_the_alphabet_decodes_as_unknown():
    """The character CTC layer may be larger than the training transcripts' alphabet (a few utterances, or a
    corpus without some letters): an untrained probe emitting such an output must score it, not crash."""
    spec = importlib.util.spec_from_file_location(
        "librispeech_probe", os.path.join(REPO, "recipes", "mp3s", "librispeech_asr", "train.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    encoder = CTCTextEncoder()
    encoder.update_from_iterable(list("AB "))
    encoder.insert_blank(index=0)
    encoder.add_unk()
    probe = SimpleNamespace(hparams=SimpleNamespace(label_encoder=encoder, unk_index=encoder.lab2ind["<unk>"]))
    assert module.LibriSpeechProbe.decode_tokens(probe, [encoder.lab2ind["A"], 28, encoder.lab2ind["B"]]) \
        == "A<unk>B"  # fmt: skip
