"""The software environment: the pinned compiled pair (torch, torchaudio), a load check, and a report for bug reports.

torch and torchaudio are compiled against each other: a torchaudio built for another torch fails when its library
loads (``undefined symbol`` or a missing ``libc10_cuda.so``), and then SpeechBrain, which imports torchaudio, and
everything built on it fail too. This module imports only the standard library and torch, so it works exactly
when that happens, and says so in one line that names both versions::

    python -m summarymixing          # the environment report below; exit status 1 if the pair does not load

The pins themselves live in one place, the package's requirements (``pyproject.toml``); they are read back from
the installed package's metadata here.

Authors
-------
* The summarymixing contributors (2026)
"""

import importlib
import importlib.metadata
import os
import platform
import re
import sys

COMPILED_PAIR = ("torch", "torchaudio")
"""The packages that must be installed as an exact, proven pair."""

REPORTED_PACKAGES = (
    "summarymixing",
    "torch",
    "torchaudio",
    "speechbrain",
    "hyperpyyaml",
    "numpy",
    "sentencepiece",
    "soundfile",
)


class CompiledPairError(ImportError):
    """torchaudio's compiled library does not load with the installed torch."""


def installed_version(package):
    """The installed version of ``package``, or None when it is not installed.

    Example
    -------
    >>> installed_version("surely-not-an-installed-package") is None
    True
    """
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned_versions():
    """The exact versions that summarymixing's requirements pin (``name==version``), from its metadata.

    Returns
    -------
    dict
        ``{package: version}``; empty when summarymixing is not installed (e.g. a copied ``cell.py``).
    """
    try:
        requirements = importlib.metadata.requires("summarymixing") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;,]+)\s*", requirement)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def check_compiled_pair():
    """Imports torchaudio and raises one clear error naming both versions when its library does not load.

    Returns
    -------
    module
        The imported torchaudio.

    Raises
    ------
    CompiledPairError
        torchaudio (with its version) does not load with the installed torch (with its version); the message
        gives the pinned pair and the command that installs it.
    """
    try:
        return importlib.import_module("torchaudio")
    except (ImportError, OSError) as error:
        raise CompiledPairError(compiled_pair_message(error)) from error


def compiled_pair_message(error):
    """The one-line explanation of a torchaudio load failure ``error``, naming both installed versions.

    Arguments
    ---------
    error : Exception
        What importing torchaudio raised.

    Returns
    -------
    str

    Example
    -------
    >>> message = compiled_pair_message(OSError("libtorchaudio.so: undefined symbol: xyz"))
    >>> message.startswith("torchaudio ") and " does not load with torch " in message
    True
    """
    installed = {name: installed_version(name) or "(not installed)" for name in COMPILED_PAIR}
    causes = [error]
    while causes[-1].__cause__ is not None or causes[-1].__context__ is not None:
        causes.append(causes[-1].__cause__ or causes[-1].__context__)
    reason = "; ".join(f"{type(cause).__name__}: {cause}" for cause in reversed(causes))
    pins = pinned_versions()
    wanted = " ".join(f"{name}=={pins[name]}" for name in COMPILED_PAIR if name in pins)
    advice = (
        f"summarymixing is tested with {wanted}: install that pair (pip install -e . does)"
        if wanted
        else "install a torchaudio built for this torch"
    )
    return f"torchaudio {installed['torchaudio']} does not load with torch {installed['torch']} ({reason}); {advice}"


def report():
    """A plain-text report of the environment to paste into a bug report.

    Python, platform, the versions of the packages summarymixing depends on (with the pinned ones and any
    mismatch), whether the compiled pair loads, torch's CUDA build and the devices it sees, and thread counts.

    Returns
    -------
    str

    Example
    -------
    >>> text = report()
    >>> "torch" in text and "python" in text
    True
    """
    pins = pinned_versions()
    lines = [
        f"python         {platform.python_version()} ({sys.executable})",
        f"platform       {platform.platform()} ({platform.machine()})",
    ]
    for package in REPORTED_PACKAGES:
        version = installed_version(package) or "not installed"
        pin = pins.get(package)
        note = "" if pin is None else (f"  (pinned {pin})" if version == pin else f"  (MISMATCH: pinned {pin})")
        lines.append(f"{package:<14} {version}{note}")
    try:
        check_compiled_pair()
        lines.append("compiled pair  torch and torchaudio load together")
    except CompiledPairError as error:
        lines.append(f"compiled pair  BROKEN: {error}")
    lines += _torch_lines()
    return "\n".join(lines)


def _torch_lines():
    """What torch says about its build and the devices it sees."""
    try:
        import torch
    except ImportError as error:
        return [f"torch          cannot be imported: {error}"]
    lines = [
        f"torch build    CUDA {torch.version.cuda or 'none'}, cuDNN "
        f"{torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else 'none'}",
        f"threads        torch {torch.get_num_threads()}, CPUs {os.cpu_count()}",
    ]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            properties = torch.cuda.get_device_properties(index)
            lines.append(
                f"device cuda:{index}  {properties.name}, {properties.total_memory / 2**30:.1f} GiB, "
                f"compute capability {properties.major}.{properties.minor}"
            )
    else:
        lines.append("device         cpu only (torch.cuda.is_available() is False)")
    return lines
