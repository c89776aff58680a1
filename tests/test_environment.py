"""The compiled pair check and the environment report (issue: a torchaudio release that does not load with the
installed torch must read as one clear line, not hundreds of collection errors)."""

import importlib
import subprocess
import sys

import pytest

from summarymixing import environment


def test_installed_pair_loads_and_matches_the_pins():
    environment.check_compiled_pair()
    pins = environment.pinned_versions()
    for package in ("torch", "torchaudio", "speechbrain"):
        assert pins[package] == environment.installed_version(package), (
            f"{package} {environment.installed_version(package)} is installed but summarymixing pins {pins[package]}"
        )


def test_a_torchaudio_that_does_not_load_is_named_with_both_versions(monkeypatch):
    real_import = importlib.import_module

    def failing_import(name, *args, **kwargs):
        if name == "torchaudio":
            raise OSError("libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", failing_import)
    with pytest.raises(environment.CompiledPairError) as raised:
        environment.check_compiled_pair()
    message = str(raised.value)
    torch_version, torchaudio_version = (environment.installed_version(name) for name in ("torch", "torchaudio"))
    assert f"torchaudio {torchaudio_version} does not load with torch {torch_version}" in message
    assert "undefined symbol" in message
    pins = environment.pinned_versions()
    assert f"torch=={pins['torch']} torchaudio=={pins['torchaudio']}" in message
    assert "BROKEN: torchaudio" in environment.report()


def test_report_command_prints_versions_and_devices():
    result = subprocess.run([sys.executable, "-m", "summarymixing"], capture_output=True, text=True, check=True)
    for line_start in (
        "python ",
        "torch ",
        "torchaudio ",
        "speechbrain ",
        "compiled pair  torch and torchaudio load",
        "torch build    CUDA",
        "device ",
    ):
        assert any(line.startswith(line_start) for line in result.stdout.splitlines()), result.stdout


def test_import_summarymixing_does_not_import_speechbrain():
    code = "import sys, summarymixing; summarymixing.SummaryMixing; print('speechbrain' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
