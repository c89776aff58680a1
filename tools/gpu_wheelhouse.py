#!/usr/bin/env python3
"""Prepares ``wheelhouse/``: the wheels that ``tools/gpu_check.sh`` installs on a GPU machine without internet.

The lent GPU machines have Python 3.12 with torch (a CUDA build), torchaudio, sentencepiece, numba, scipy,
matplotlib and tqdm preinstalled, but not speechbrain, hyperpyyaml, soundfile or pytest, and reach no package
registry. This command, run here (where pip reaches an index, inside the project's virtual environment), downloads
for that Python and platform exactly the versions installed here (proven to work with the project) of every
package the project and its tests need beyond what the GPU machine has: the dependency closure of speechbrain,
hyperpyyaml, soundfile and pytest, less the closure of the preinstalled packages. Never torch or torchaudio: the
GPU machine keeps its own compiled pair.

    python tools/gpu_wheelhouse.py                 # writes wheelhouse/ (ignored by git; about 10 MB)
    # then, on the GPU machine, with wheelhouse/ carried along:
    bash tools/gpu_check.sh gpu_report

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys

NEEDED = ["speechbrain", "hyperpyyaml", "soundfile", "pytest"]
"""What the project and its tests import that the GPU machine lacks (with their dependencies)."""

PREINSTALLED = ["torch", "torchaudio", "sentencepiece", "numba", "scipy", "matplotlib", "tqdm", "numpy"]
"""What the GPU machine has (with their dependencies)."""

PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64"]


def normalise(name):
    """PEP 503 name.

    Example
    -------
    >>> normalise("ruamel.yaml_clib")
    'ruamel-yaml-clib'
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots, python_version="3.12"):
    """The installed distributions that ``roots`` need, transitively (extras left out; environment markers
    evaluated for Linux x86_64 and ``python_version``), as ``{name: version}``."""
    environment = {
        "python_version": python_version, "sys_platform": "linux", "platform_system": "Linux",
        "platform_machine": "x86_64", "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "os_name": "posix", "extra": "",
    }  # fmt: skip
    from packaging.requirements import Requirement

    found, todo = {}, list(roots)
    while todo:
        name = normalise(todo.pop())
        if name in found:
            continue
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional dependency this environment does not have: the GPU machine needs it neither
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                todo.append(requirement.name)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default="wheelhouse", help="folder for the wheels (default wheelhouse)")
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    args = parser.parse_args(argv)
    preinstalled = closure(PREINSTALLED, args.python_version)
    missing = {
        name: version for name, version in closure(NEEDED, args.python_version).items() if name not in preinstalled
    }
    for name in ("torch", "torchaudio"):
        if name in missing:
            raise SystemExit(f"refusing to download {name}: the GPU machine keeps its own compiled pair")
    os.makedirs(args.dest, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", args.dest,
               "--python-version", args.python_version, "--implementation", "cp"]  # fmt: skip
    command += [option for platform in PLATFORMS for option in ("--platform", platform)]
    command += [f"{name}=={version}" for name, version in sorted(missing.items())]
    print("downloading:", " ".join(f"{name}=={version}" for name, version in sorted(missing.items())), flush=True)
    subprocess.run(command, check=True)
    wheels = sorted(os.listdir(args.dest))
    size = sum(os.path.getsize(os.path.join(args.dest, wheel)) for wheel in wheels)
    print(f"{len(wheels)} wheels, {size / 2**20:.1f} MiB in {args.dest}/")


if __name__ == "__main__":
    main()
