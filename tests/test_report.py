"""The report command on fabricated run folders with known values: every table, pairing by hyperparameters,
missing rows, resumed runs' cost, plots."""

import json
import os
import subprocess
import sys

from summarymixing.report import find_runs, report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 2**30
PREPARE = "    - !name:summarymixing.data.librispeech.prepare_librispeech\n        data_folder: /d\n"
LIBRISPEECH = "data_preparation:\n" + PREPARE
MINI = "data_preparation:\n    - !name:summarymixing.data.mini.layout\n        dataset: librispeech\n" + PREPARE


def write_run(folder, hyperparams, files=None, cost=None):
    """A run folder: ``hyperparams.yaml``, result files and ``training_cost.jsonl`` records
    ``(epoch, wall_s, device_hours, peak GiB)``."""
    os.makedirs(folder)
    with open(os.path.join(folder, "hyperparams.yaml"), "w") as stream:
        stream.write(hyperparams)
    for name, content in (files or {}).items():
        with open(os.path.join(folder, name), "w") as stream:
            json.dump(content, stream)
    with open(os.path.join(folder, "training_cost.jsonl"), "w") as stream:
        for epoch, wall, hours, peak in cost or []:
            record = {"epoch": epoch, "wall_s": wall, "devices": 4, "device_hours": hours,
                      "peak_memory_bytes": int(peak * GIB), "memory": "cuda_max_allocated", "steps": 100,
                      "audio_s": 1000.0, "resumed": False}  # fmt: skip
            stream.write(json.dumps(record) + "\n")
    return folder


def asr_yaml(encoder, attention, mode="SummaryMixing", decoder="regularMHA", d_model=512, data=LIBRISPEECH):
    return (
        f"asr:\n    encoder_module: {encoder}\n    attention_type: {attention}\n    summary_mixing_mode: {mode}\n"
        f"    decoder_attention_type: {decoder}\n    d_model: {d_model}\n    num_encoder_layers: 12\n{data}"
    )


def test_table_1_pairs_by_hyperparameters_and_flags_missing_rows(tmp_path):
    wers = {"dev-clean": 2.5, "test-clean": 2.25, "test-other": 5.0}
    write_run(tmp_path / "a", asr_yaml("conformer", "SummaryMixing"), {"wer.json": wers}, [(1, 10, 98.0, 21)])
    write_run(tmp_path / "b", asr_yaml("conformer", "RelPosMHAXL"), {"wer.json": wers}, [(1, 10, 137.0, 46)])
    # another size and the mini corpus: never paired with the runs above
    write_run(tmp_path / "c", asr_yaml("conformer", "SummaryMixing", d_model=144, data=MINI), {"wer.json": wers},
              [(1, 1, 0.1, 1)])  # fmt: skip
    write_run(tmp_path / "d", asr_yaml("branchformer", "SummaryMixing", "SummaryMixing-lite"), {"wer.json": wers})
    (tmp_path / "e").mkdir()  # not a run
    markdown = report([str(tmp_path / name) for name in "abcde"])
    table = markdown.split("### librispeech\n")[1].split("###")[0]
    row = next(line for line in table.splitlines() if line.startswith("| a |"))
    assert "| 2.50 | 2.25 | 5.00 | 98.000 | 21.00 CUDA | -28.5% | -54.3% | 1.9 / 2.0 / 4.6, -, - |" in row
    assert "| b | Conformer | d_model 512 x 12 layers | MHSA |" in table
    assert "3.0 / 2.2 / 5.2, 98, 23" in table  # the lite row's published values
    missing = "Missing rows of the paper's table: Branchformer MHSA (hparams/asr/librispeech_branchformer_mhsa.yaml)"
    assert missing in table
    assert "No MHSA run with the same encoder and size for: Branchformer, d_model 512 x 12 layers." in table
    mini = markdown.split("### librispeech (mini)\n")[1]
    assert "| c | Conformer | d_model 144 x 12 layers | SummaryMixing |" in mini and "-28.5%" not in mini
    assert f"Skipped (no run found): {tmp_path / 'e'} (no run folder in or below it)." in markdown


def transducer_yaml(attention):
    return f"transducer:\n    attention_type: {attention}\n    summary_mixing_mode: SummaryMixing-fast\n" \
        f"    d_model: 512\n    num_encoder_layers: 12\n{LIBRISPEECH}"  # fmt: skip


def test_streaming_grid_with_the_published_grid_and_a_resumed_runs_cost(tmp_path):
    grid = {"full_context": 2.5, "chunk320ms_left2_masked": 4.0, "chunk320ms_left2_streamed": 4.0,
            "chunk320ms_left2_streamed_rtf": 0.1, "chunk640ms_leftinf_streamed": 3.0}  # fmt: skip
    mhsa = {**grid, "full_context": 2.0, "chunk320ms_left2_streamed": 5.0}
    # the SummaryMixing run was killed and resumed inside epoch 2: its pieces add up
    write_run(tmp_path / "sm", transducer_yaml("SummaryMixing"), {"wer_test-clean.json": grid, "wer.json": grid},
              [(1, 10, 1.0, 10), (2, 4, 0.5, 12), (2, 6, 0.5, 11)])  # fmt: skip
    write_run(tmp_path / "mhsa", transducer_yaml("RelPosMHAXL"), {"wer_test-clean.json": mhsa}, [(1, 20, 4.0, 16)])
    markdown = report([str(tmp_path)], plot_folder=str(tmp_path / "plots"))
    header = "| setting | MHSA (mhsa) | SummaryMixing-fast (sm) | SummaryMixing-fast vs MHSA | SpeechBrain MHSA"
    assert header in markdown
    assert "| full context | 2.00 | 2.50 | +25.0% | 2.72 |" in markdown
    assert "| chunk 320 ms, left 2 | 5.00 | 4.00 | -20.0% | 4.38 |" in markdown
    assert "| chunk 640 ms, left inf | 3.00 | 3.00 | +0.0% | - |" in markdown
    assert "| sm | SummaryMixing-fast | 2.000 | 12.00 CUDA | -50.0% | -25.0% |" in markdown
    assert os.path.isfile(tmp_path / "plots" / "streaming_librispeech_d_model_512_x_12_layers.png")
    runs, _ = find_runs([str(tmp_path)])
    assert {run.cost["epochs"] for run in runs} == {1, 2}


def test_pretraining_cost_and_mp3s_table_with_layer_weights(tmp_path):
    encoders = {}
    for attention, hours in (("SummaryMixing", 82.0), ("RelPosMHAXL", 100.0)):
        yaml = (f"encoder:\n    attention_type: {attention}\n    d_model: 768\n    num_layers: 12\nquantiser: {{}}\n"
                "data_preparation:\n    - !name:summarymixing.data.librilight.prepare_librilight {}\n")  # fmt: skip
        encoders[attention] = write_run(tmp_path / "ssl" / attention, yaml, cost=[(1, 10, hours, 40)])
        probe = {"task": "slurp_intent", "head": "bilstm", "metrics": {"accuracy": 80.0}, "reported": ["accuracy"],
                 "layer_weights": [0.2, 0.8]}  # fmt: skip
        write_run(tmp_path / "probes" / attention, f"ssl_folder: {encoders[attention]}\n", {"results.json": probe})
    out = tmp_path / "out" / "report.md"
    out.parent.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "summarymixing.report", str(tmp_path / "ssl"), str(tmp_path / "probes"), "--out",
         str(out)], cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    markdown = out.read_text()
    row = (
        "| SummaryMixing | librilight | d_model 768 x 12 layers | SummaryMixing | 100 | 82.000 | 40.00 CUDA | -18.0% |"
    )
    assert row in markdown
    assert "| SummaryMixing (SummaryMixing) | 80.00 |" in markdown and "| MHSA (RelPosMHAXL) | 80.00 |" in markdown
    assert os.path.isfile(out.parent / "layer_weights_SummaryMixing__SummaryMixing.png")
    assert "### MP3S probes (frozen encoders)" in markdown
    assert (
        "No runs for: Table 1 (recipes/asr); SLU (recipes/slu); keyword spotting (recipes/kws); the streaming"
        in markdown
    )


SLURP = "data_preparation:\n    - !name:summarymixing.data.slurp.prepare_slurp\n        data_folder: /d\n"
SPEECH_COMMANDS = "data_preparation:\n    - !name:summarymixing.data.speech_commands.prepare_speech_commands {}\n"


def test_slu_and_keyword_spotting_runs_have_their_tables(tmp_path):
    slu = {"test": {"scenario": 90.0, "action": 85.0, "intent": 80.0, "SLU-F1": 70.0}}
    for attention, hours in (("SummaryMixing", 1.0), ("RelPosMHAXL", 2.0)):
        write_run(tmp_path / f"slu_{attention}", asr_yaml("conformer", attention, data=SLURP), {"slu.json": slu},
                  [(1, 10, hours, 4)])  # fmt: skip
        kws = f"kws:\n    n_classes: 35\n    attention_type: {attention}\n    d_model: 144\n    num_encoder_layers: 6\n"
        write_run(tmp_path / f"kws_{attention}", kws + SPEECH_COMMANDS, {"accuracy.json": {"test": 95.5}})
    markdown = report([str(tmp_path)])
    row = "| slu_SummaryMixing | slurp | Conformer | d_model 512 x 12 layers | SummaryMixing | 90.00 | 85.00 | 80.00 |"
    assert row + " 70.00 | 1.000 | 4.00 CUDA | -50.0% | +0.0% |" in markdown
    assert (
        "| kws_RelPosMHAXL | speech_commands, 35 classes | Conformer | d_model 144 x 6 layers | MHSA | 95.50 |"
        in markdown
    )
    assert "No runs for" in markdown and "SLU (recipes/slu)" not in markdown.split("No runs for")[1]


def test_an_unreadable_results_file_is_listed_and_the_rest_reported(tmp_path):
    wers = {"test-clean": 2.0}
    write_run(tmp_path / "good", asr_yaml("conformer", "SummaryMixing"), {"wer.json": wers})
    write_run(tmp_path / "bad", asr_yaml("conformer", "RelPosMHAXL"))
    (tmp_path / "bad" / "wer.json").write_text('{"test-clean": 2.')  # cut short by a kill
    markdown = report([str(tmp_path)])
    assert "| good | Conformer | d_model 512 x 12 layers | SummaryMixing | 2.00 |" in markdown
    assert "Unreadable files, left out of the tables:" in markdown and str(tmp_path / "bad" / "wer.json") in markdown


def test_a_fine_tuned_mp3s_table_is_titled_so(tmp_path):
    probe = {"task": "slurp_intent", "head": "linear fine-tuned", "metrics": {"accuracy": 80.0},
             "reported": ["accuracy"], "layer_weights": [1.0]}  # fmt: skip
    write_run(tmp_path / "probe", "ssl_folder: /nowhere\n", {"results.json": probe})
    assert "### MP3S probes (fine-tuned encoders)" in report([str(tmp_path)])


def test_the_command_refuses_a_folder_as_output_before_any_work(tmp_path):
    result = subprocess.run([sys.executable, "-m", "summarymixing.report", str(tmp_path), "--out", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and "is a folder" in result.stderr and not list(tmp_path.iterdir())
