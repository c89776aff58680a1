"""Loading someone else's run folder, and feeding the loaders bad audio, as a user would: every loader refuses code
our recipes do not run, folders of another recipe or with swapped files, and audio it cannot transcribe, with an
error that names the file; the session's trained mini runs are the folders."""

import json
import math
import shutil

import pytest
import soundfile
import torch
from mini_runs import transcribe
from speechbrain.utils.dynamic_chunk_training import DynChunkTrainConfig

from summarymixing.asr.inference import load_asr
from summarymixing.kws.inference import load_classifier
from summarymixing.lm.folder import load_lm_folder
from summarymixing.run_folder import UnsafeYamlError
from summarymixing.transducer.inference import StreamingTransducerASR
from summarymixing.wav2vec2 import load_pretrained

pytestmark = pytest.mark.slow  # trains, or runs a recipe, benchmark or full-size model end to end


def copy_run(folder, destination):
    """A copy of a run folder's exported files (not its data, checkpoints or SpeechBrain's gathered links)."""
    shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("inference", "save", "mini_corpus", "*.csv"))
    return destination


def plant(yaml_path, marker):
    """Appends to a run folder's YAML a line that would create ``marker`` if the YAML ran it."""
    attack = f"pwned: !apply:torch.utils.collect_env.run ['touch {marker}']\n"
    yaml_path.write_text(yaml_path.read_text() + attack)


def load_transducer(folder, **kwargs):
    return StreamingTransducerASR.from_hparams(source=str(folder), savedir=str(folder / "inference"), **kwargs)


LOADERS = {
    "asr": lambda folder: load_asr(str(folder)),
    "kws": lambda folder: load_classifier(str(folder)),
    "transducer": load_transducer,
    "lm": lambda folder: load_lm_folder(str(folder)),
}


@pytest.fixture(scope="module")
def folders(asr_run, kws_run, slu_run, transducer_run, lm_run):
    return {"asr": asr_run[0], "kws": kws_run, "slu": slu_run, "transducer": transducer_run[0], "lm": lm_run}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_every_loader_refuses_a_yaml_that_runs_code(kind, folders, tmp_path):
    folder = copy_run(folders[kind], tmp_path / "run")
    marker = tmp_path / "pwned"
    plant(folder / ("lm.yaml" if kind == "lm" else "inference.yaml"), marker)
    with pytest.raises(UnsafeYamlError, match=r"!apply:torch\.utils\.collect_env\.run"):
        LOADERS[kind](folder)
    assert not marker.exists()


def test_transcribe_refuses_a_yaml_that_runs_code(folders, tmp_path):
    folder = copy_run(folders["transducer"], tmp_path / "run")
    marker = tmp_path / "pwned"
    plant(folder / "inference.yaml", marker)
    result = transcribe(folder, "x.wav")
    assert result.returncode != 0 and "collect_env.run" in result.stderr and "--allow-any-code" in result.stderr
    assert not marker.exists()


def test_a_wav2vec2_run_yaml_that_runs_code_inside_the_front_end_is_refused(tmp_path):
    from hyperpyyaml import load_hyperpyyaml
    from speechbrain.utils.checkpoints import Checkpointer

    marker = tmp_path / "pwned"
    yaml = (
        "frontend: !new:summarymixing.wav2vec2.MelCNNFrontEnd\n    channels: [8, 8]\n"
        "context_encoder: !new:summarymixing.wav2vec2.ContextEncoder\n    input_size: 8\n    d_model: 8\n"
        "    encoder: !new:summarymixing.ConformerEncoder\n        num_layers: 1\n        d_model: 8\n"
        "        d_ffn: 16\n        nhead: 2\n        kernel_size: 3\n        output_hidden_states: True\n"
    )
    Checkpointer(tmp_path / "save", recoverables=load_hyperpyyaml(yaml)).save_checkpoint()
    (tmp_path / "hyperparams.yaml").write_text(
        yaml.replace(
            "    channels: [8, 8]\n", f"    channels: [8, 8]\n    n_mels: !apply:os.system ['touch {marker}']\n"
        )
    )
    with pytest.raises(UnsafeYamlError, match=r"line 3: !apply:os\.system"):
        load_pretrained(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "kind, other, loader",
    [("asr", "kws", "load_classifier"), ("kws", "transducer", "StreamingTransducerASR"),
     ("transducer", "asr", "load_asr"), ("lm", "asr", "load_asr")],
)  # fmt: skip
def test_a_folder_of_another_recipe_names_its_loader(kind, other, loader, folders):
    with pytest.raises(ValueError, match=f"is a run folder of recipes/{other}/train.py.*load it with.*{loader}"):
        LOADERS[kind](folders[other])


def test_another_runs_tokenizer_is_refused_by_its_fingerprint(folders, tmp_path):
    folder = copy_run(folders["transducer"], tmp_path / "run")
    shutil.copyfile(folders["asr"] / "tokenizer.ckpt", folder / "tokenizer.ckpt")
    with pytest.raises(ValueError, match=r"tokenizer\.ckpt is not the file this run exported"):
        load_transducer(folder)


def test_a_truncated_checkpoint_is_named(folders, tmp_path):
    folder = copy_run(folders["asr"], tmp_path / "run")
    weights = (folder / "asr.ckpt").read_bytes()
    (folder / "asr.ckpt").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ValueError, match=r"asr\.ckpt is not the file this run exported"):
        load_asr(str(folder))


def test_a_kws_folder_without_its_labels_is_named(folders, tmp_path):
    folder = copy_run(folders["kws"], tmp_path / "run")
    (folder / "label_encoder.ckpt").unlink()
    with pytest.raises(FileNotFoundError, match=r"label_encoder\.ckpt not found"):
        load_classifier(str(folder))


@pytest.fixture(scope="module")
def bad_audio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_audio")
    for name, samples in (("empty", []), ("one", [0.1]), ("nan", [0.0] * 8000 + [math.nan] * 8000)):
        soundfile.write(folder / f"{name}.wav", samples, 16000, subtype="FLOAT")
    return folder


@pytest.mark.parametrize("kind", ["asr", "slu", "kws"])
@pytest.mark.parametrize("name, message", [("empty", "fewer than"), ("one", "fewer than"), ("nan", "NaN")])
def test_the_loaders_refuse_audio_they_cannot_take(kind, name, message, folders, bad_audio):
    model = load_classifier(str(folders[kind])) if kind == "kws" else load_asr(str(folders[kind]))
    path = str(bad_audio / f"{name}.wav")
    with pytest.raises(ValueError, match=message) as error:
        model.classify_file(path) if kind == "kws" else model.transcribe_file(path)
    assert path in str(error.value)


def test_the_shortest_audio_a_loader_accepts_is_transcribed(folders):
    asr = load_asr(str(folders["asr"]))
    shortest = asr.shortest_audio()
    assert 0 < shortest < 1600
    asr.transcribe_batch(torch.randn(1, shortest) * 0.01, torch.ones(1))
    with pytest.raises(ValueError, match=f"fewer than the {shortest}"):
        asr.transcribe_batch(torch.randn(1, shortest - 1), torch.ones(1))
    with pytest.raises(ValueError, match="got -0.5 at index 1"):
        asr.transcribe_batch(torch.randn(2, 16000), torch.tensor([1.0, -0.5]))


def test_the_streaming_transducer_refuses_a_nan_chunk(folders):
    asr = load_transducer(folders["transducer"])
    context = asr.make_streaming_context(DynChunkTrainConfig(16, None))
    with pytest.raises(ValueError, match="NaN or inf"):
        asr.transcribe_chunk(context, torch.full((1, 10240), math.nan))


@pytest.mark.parametrize("weight", ["nan", "-1", "inf"])
def test_transcribe_refuses_an_lm_weight_that_is_not_a_finite_number_above_zero(weight, folders, rnn_lm_run):
    result = transcribe(
        folders["transducer"], "x.wav", "--beam-size", "2", "--lm-folder", rnn_lm_run, "--lm-weight", weight
    )
    assert result.returncode != 0 and "lm_weight must be a finite number >= 0" in result.stderr


def test_transcribe_checks_its_output_first_and_goes_on_past_a_bad_file(folders, bad_audio, tmp_path):
    folder = folders["transducer"]
    good = sorted((folder / "mini_corpus" / "LibriSpeech" / "test-clean").rglob("*.flac"))[:2]
    result = transcribe(folder, good[0], "--json", tmp_path)
    assert result.returncode == 2 and "--json" in result.stderr and not list(tmp_path.iterdir())
    out = tmp_path / "out.json"
    result = transcribe(folder, good[0], bad_audio / "nan.wav", good[1], "--quiet", "--json", out)
    assert result.returncode == 1 and f"{bad_audio / 'nan.wav'}: NaN or infinite samples at 0.50 s" in result.stderr
    assert "1 of 3 files not transcribed" in result.stderr
    assert sorted(json.loads(out.read_text())) == sorted(map(str, good))
