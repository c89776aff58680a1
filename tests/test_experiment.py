"""The experiment set-up every recipe calls: YAML composition (extends), checked overrides, early clear errors."""

import os
import subprocess
import sys

import pytest

from summarymixing.experiment import HparamsError, check_overrides, compose, load

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(path, text):
    path.write_text(text)
    return str(path)


def test_extends_chains_merge_mappings_and_apply_command_line_last(tmp_path):
    write(tmp_path / "base.yaml", "lr: 0.1\nepochs: 10\nmodel:\n    size: 4\n    heads: 2\nlist: [1, 2]\n")
    write(tmp_path / "mid.yaml", "extends: base.yaml\nmodel:\n    heads: 1\nlist: [3]\n")
    twin = write(tmp_path / "twin.yaml", "extends: mid.yaml\nepochs: 5\n")
    base, merged = compose(twin, "lr: 0.2\nmodel: {size: 8}")
    assert base == str(tmp_path / "base.yaml")
    assert merged == {"model": {"heads": 1, "size": 8}, "list": [3], "epochs": 5, "lr": 0.2}


def test_extends_errors_name_the_file(tmp_path):
    loop = write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(HparamsError, match="makes a cycle"):
        compose(loop)
    missing = write(tmp_path / "c.yaml", "extends: nowhere.yaml\n")
    with pytest.raises(HparamsError, match="hyperparameter file not found: .*nowhere.yaml"):
        compose(missing)
    write(tmp_path / "base.yaml", "lr: 0.1\n")
    typo = write(tmp_path / "d.yaml", "extends: base.yaml\nrl: 0.2\n")
    with pytest.raises(HparamsError, match="--rl: base.yaml has no key 'rl'"):
        compose(typo)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"lr": "abc"}, r"--lr=abc: expected a number \(h.yaml has lr: 0.001\)"),
        ({"epochs": "abc"}, "--epochs=abc: expected a whole number"),
        ({"epochs": 2.5}, "--epochs=2.5: expected a whole number"),
        ({"test_csv": "b.csv"}, r"--test_csv=b.csv: expected a list, e.g. --test_csv=\[b.csv\]"),
        ({"augment": 1}, "--augment=1: expected True or False"),
        ({"loader": "x"}, "--loader=x: expected a mapping"),
        ({"loader": {"batch_size": "big"}}, "--loader.batch_size=big: expected a whole number"),
        ({"model": {"d_modle": 3}}, "--model.d_modle: model.yaml has no key 'd_modle'"),
        ({"model": {"d_model": "wide"}}, r"--model.d_model=wide: expected a whole number \(model.yaml has d_model: 8"),
    ],
)
def test_overrides_are_checked_against_the_yaml(tmp_path, overrides, message):
    write(tmp_path / "model.yaml", "d_model: 8\nlayer: !new:torch.nn.Linear [2, 2]\n")
    hparams = write(
        tmp_path / "h.yaml",
        "lr: 0.001\nepochs: 10\ntest_csv: [a.csv]\naugment: True\n"
        "loader:\n    batch_size: 8\nmodel: !include:model.yaml\n    d_model: 4\nout: !ref <lr>\n",
    )
    check_overrides(hparams, {"lr": 1, "epochs": 3, "test_csv": ["b.csv"], "augment": False, "out": "x"})
    with pytest.raises(HparamsError, match=message):
        check_overrides(hparams, overrides)


def test_a_wrong_override_fails_before_any_preparation(tmp_path):
    """--lr=abc once failed inside torch.optim, after the data preparation and tokenizer training."""
    for option, message in (
        ("--lr=abc", "--lr=abc: expected a number"),
        ("--number_of_epochs=abc", "--number_of_epochs=abc: expected a whole number"),
        ("--test_csv=file.csv", "--test_csv=file.csv: expected a list"),
    ):
        result = subprocess.run(
            [sys.executable, os.path.join(REPO, "recipes", "transducer", "train.py"),
             os.path.join(REPO, "hparams", "transducer", "mini.yaml"), f"--output_folder={tmp_path}", option],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and not os.path.exists(tmp_path / "mini_corpus")


def test_import_paths_of_earlier_yamls_still_load(tmp_path):
    """YAMLs written before the layered layout name these classes at the package root or in checkpoints."""
    from hyperpyyaml import load_hyperpyyaml

    from summarymixing.encoders import ConformerEncoder, TransformerASR
    from summarymixing.experiment.checkpoints import AtomicCheckpointer

    hparams = load_hyperpyyaml(
        f"""
cell: !new:summarymixing.SummaryMixing [8, 2, [8], 8, [8], 8]
encoder: !new:summarymixing.ConformerEncoder
    num_layers: 1
    d_model: 8
    d_ffn: 16
    nhead: 2
    kernel_size: 3
asr: !new:summarymixing.TransformerASR
    input_size: 8
    tgt_vocab: 5
    d_model: 8
    nhead: 2
    num_encoder_layers: 1
    num_decoder_layers: 0
    d_ffn: 16
    encoder_module: conformer
    normalize_before: True
checkpointer: !new:summarymixing.checkpoints.AtomicCheckpointer
    checkpoints_dir: {tmp_path}
"""
    )
    assert isinstance(hparams["encoder"], ConformerEncoder) and isinstance(hparams["asr"], TransformerASR)
    assert isinstance(hparams["checkpointer"], AtomicCheckpointer)


def test_new_keys_are_added_and_settable_and_misuse_fails(tmp_path):
    write(tmp_path / "base.yaml", "lr: 0.1\nname: !ref run_<lr>\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nnew_keys: [language]\nlanguage: fr\n")
    write(tmp_path / "grandchild.yaml", "extends: child.yaml\nlanguage: it\n")
    assert load(child, {"language": "cy"})["language"] == "cy"
    assert load(str(tmp_path / "grandchild.yaml"))["language"] == "it"
    with pytest.raises(HparamsError, match="--langauge: base.yaml has no key 'langauge'"):
        load(child, {"langauge": "cy"})
    twice = write(tmp_path / "twice.yaml", "extends: base.yaml\nnew_keys: [lr]\nlr: 0.2\n")
    with pytest.raises(HparamsError, match="new_keys lists 'lr', which base.yaml has already"):
        compose(twice)
    unset = write(tmp_path / "unset.yaml", "extends: base.yaml\nnew_keys: [language]\n")
    with pytest.raises(HparamsError, match="new_keys lists 'language', which the file does not set"):
        compose(unset)


def test_a_commented_list_of_preparation_steps_loads_as_steps(tmp_path):
    """ruamel.yaml writes a commented key's list of tagged mappings so that it reads back as plain mappings: the
    composed document must still build ``!name:`` steps (the paper MP3S YAMLs' data_preparation)."""
    path = tmp_path / "steps.yaml"
    path.write_text(
        "folder: /data\nsteps:  # run in this order\n    - !name:os.path.join\n        a: !ref <folder>\n"
        "        p: x\n    - !name:os.path.basename\n        p: y\n"
    )
    steps = load(str(path), {"folder": "/other"})["steps"]
    assert [step.func.__name__ for step in steps] == ["join", "basename"]
    assert steps[0].keywords == {"a": "/other", "p": "x"}


def test_the_model_keys_users_change_most_can_be_given_at_the_top_level():
    hparams = load(os.path.join(REPO, "hparams", "kws", "mini.yaml"),
                              {"attention_type": "RelPosMHAXL", "output_folder": "/nonexistent"})  # fmt: skip
    assert hparams["kws"]["attention_type"] == "RelPosMHAXL"
    layer = hparams["kws"]["embedding_model"].transformer.encoder.layers[0]
    assert type(layer.mha_layer).__name__ == "RelPosMHAXL"
    with pytest.raises(HparamsError, match="has no key .attention_typo."):
        compose(os.path.join(REPO, "hparams", "kws", "mini.yaml"), {"attention_typo": "RelPosMHAXL"})
