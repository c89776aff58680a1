"""The run-folder YAML check: an allow-list of our own YAMLs' callables, and nothing else runs."""

import glob
import os

import pytest

from summarymixing.run_folder import UnsafeYamlError, allowed_code, check_yaml_code, code_problems, derive_allowed_code

HPARAMS = os.path.join(os.path.dirname(__file__), "..", "hparams")

# Each of these ran a shell command (or could) through a run folder's YAML before the allow-list.
ATTACKS = {
    "collect_env": "pwn: !apply:torch.utils.collect_env.run ['touch {marker}']\n",
    "load_pickle": "pwn: !apply:speechbrain.dataio.dataio.load_pickle [evil.pkl]\n",
    "code_cache": (
        "pwn: !apply:torch._inductor.codecache.PyCodeCache.load ['import os; os.system(\"touch {marker}\")']\n"
    ),
    "torch_alias": "pwn: !apply:torch.serialization.load {{f: evil.pt, weights_only: False}}\n",
    "nested": (
        "frontend: !new:torch.nn.Linear\n    in_features: !apply:os.system ['touch {marker}']\n    out_features: 2\n"
    ),
    "python_tag": "pwn: !!python/object/apply:os.system ['touch {marker}']\n",
    "python_tag_key": "? !!python/object/apply:os.system ['touch {marker}']\n: 1\n",
    "tuple": "pwn: (!!python/object/apply:os.system ['touch {marker}'], 1)\n",
    "explicit_tuple": "pwn: !tuple \"(!!python/object/apply:os.system ['touch {marker}'], 1)\"\n",
    "tag_directive": "%TAG !e! tag:yaml.org,2002:python/object/apply:\n---\npwn: !e!os.system ['touch {marker}']\n",
    "assembled_tuple": "a: '!'\nb: python/object/apply:os.system ['touch {marker}']\npwn: !ref (<a><a><b>)\n",
    "applyref": "pwn: !applyref:os.system ['touch {marker}']\n",
    "module": "pwn: !module:os\n",
    "getattr_escape": "pwn: !apply:getattr [!new:torch.nn.Linear [1, 1], __class__]\n",
    "asks_for_trust": (
        "encoder: !apply:summarymixing.wav2vec2.load_pretrained\n    run_folder: x\n    allow_any_code: True\n"
    ),
    "url": "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n    paths:\n        model: https://x/m.ckpt\n",
    "include_outside": "model: !include:../outside.yaml\n",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_check_refuses_code_that_our_recipes_do_not_run(name, tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "run"
    folder.mkdir()
    (tmp_path / "outside.yaml").write_text("x: 1\n")
    path = folder / "inference.yaml"
    path.write_text(ATTACKS[name].format(marker=marker) + "sample_rate: 16000\n")
    with pytest.raises(UnsafeYamlError, match="--allow-any-code") as error:
        check_yaml_code(str(path))
    assert str(path) in str(error.value)
    assert not marker.exists()


def test_the_check_names_the_line_and_the_callable(tmp_path):
    path = tmp_path / "hyperparams.yaml"
    path.write_text("a: 1\nb: !new:torch.nn.Linear [1, 1]\nc: !apply:torch.utils.collect_env.run [ls]\n")
    with pytest.raises(UnsafeYamlError, match=r"line 3: !apply:torch\.utils\.collect_env\.run"):
        check_yaml_code(str(path))


def test_included_files_are_checked_and_named(tmp_path):
    (tmp_path / "model.yaml").write_text("x: 1\nbad: !apply:os.system [ls]\n")
    path = tmp_path / "inference.yaml"
    path.write_text("model: !include:model.yaml\n")
    with pytest.raises(UnsafeYamlError, match=r"model\.yaml line 2: !apply:os\.system"):
        check_yaml_code(str(path))


def test_a_yaml_bomb_is_refused_not_expanded(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UnsafeYamlError, match="more than"):
        check_yaml_code(str(path))


def test_allow_any_code_skips_the_check(tmp_path):
    path = tmp_path / "trusted.yaml"
    path.write_text("x: !apply:os.getcwd\n")
    check_yaml_code(str(path), allow_any_code=True)


def test_the_allow_list_is_what_our_yamls_use():
    derived = set(derive_allowed_code(HPARAMS))
    assert derived == set(allowed_code()), (
        "summarymixing/allowed_code.txt is out of date with hparams/: run python tools/update_allowed_code.py "
        f"(missing: {sorted(derived - allowed_code())}, extra: {sorted(allowed_code() - derived)})"
    )


def test_every_yaml_of_ours_passes_the_check_as_written():
    for path in glob.glob(os.path.join(HPARAMS, "**", "*.yaml"), recursive=True):
        assert code_problems(path, resolve=False, folder=HPARAMS) == [], path
