"""Run folders: writing their files so that an interruption never leaves half a file, and reading their YAML
without running code it should not run.

A HyperPyYAML file is a program: ``!apply:os.system [...]`` runs a shell command while the file loads. That is
fine for one's own runs and dangerous for a run folder downloaded from someone else. So everything in this
package that loads a run folder's YAML (``StreamingTransducerASR.from_hparams``, ``transcribe.py``,
``summarymixing.wav2vec2.load_pretrained``, the MP3S runner's ``--ssl_folder``) first checks every ``!new:``,
``!name:``, ``!apply:``, ``!applyref:`` and ``!module:`` tag, in the file and the files it includes (``!include:``), and
refuses anything outside torch, SpeechBrain, sentencepiece and summarymixing, and the parts of those that run
commands or fetch code (:data:`REFUSED`). ``allow_any_code=True`` (``--allow-any-code`` on the command lines)
turns the check off, for folders you trust.

The check reads the YAML's tags as the YAML parser resolves them (``%TAG`` shorthands included), not as text.
It is a guard against the obvious, not a sandbox: loading a checkpoint still unpickles what ``torch.load``
accepts (tensors only, by default, in the pinned torch).

Authors
-------
* The summarymixing contributors (2026)
"""

import os

import ruamel.yaml
import ruamel.yaml.comments

ALLOWED = ("torch", "speechbrain", "sentencepiece", "summarymixing")
"""Top-level packages whose classes and functions a run folder's YAML may name."""

REFUSED = (
    "speechbrain.utils.superpowers",
    "speechbrain.utils.fetching",
    "speechbrain.utils.data_utils.download_file",
    "speechbrain.inference",
    "torch.hub",
    "torch.utils.cpp_extension",
    "torch.load",
    "torch.jit.load",
)
"""Parts of the allowed packages that run shell commands, download or load code."""

CODE_TAGS = ("!new:", "!name:", "!apply:", "!applyref:", "!module:")


class UnsafeYamlError(ValueError):
    """A run folder's YAML names code outside :data:`ALLOWED`, or in :data:`REFUSED`."""


def check_yaml_code(path, allow_any_code=False):
    """Raises :class:`UnsafeYamlError` listing every tag of ``path`` (and its includes) that names refused code.

    Arguments
    ---------
    path : str
        A HyperPyYAML file.
    allow_any_code : bool
        Skip the check (the folder is trusted).

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> _ = (tmp / "ok.yaml").write_text("act: !name:torch.nn.GELU\\nx: !new:speechbrain.nnet.linear.Linear\\n")
    >>> check_yaml_code(str(tmp / "ok.yaml"))
    >>> _ = (tmp / "bad.yaml").write_text("x: !apply:os.system [echo hi]\\n")
    >>> check_yaml_code(str(tmp / "bad.yaml"))
    Traceback (most recent call last):
    ...
    summarymixing.run_folder.UnsafeYamlError: .../bad.yaml runs code outside torch, ...: line 1: !apply:os.system; ...
    """
    if allow_any_code:
        return
    problems = []
    _collect(os.path.abspath(path), os.path.abspath(path), problems, set())
    if problems:
        raise UnsafeYamlError(
            f"{path} runs code outside {', '.join(ALLOWED[:-1])} and {ALLOWED[-1]}: {'; '.join(problems)}; pass "
            "allow_any_code=True (--allow-any-code) only if you trust this folder"
        )


def load_inference(interface, folder, recipe, savedir=None, allow_any_code=False, run_opts=None):
    """A run folder's ``inference.yaml`` loaded as a SpeechBrain inference ``interface`` (e.g.
    ``EncoderDecoderASR``), after :func:`check_yaml_code`; the files gather in ``savedir`` (default
    ``<folder>/inference``).

    Arguments
    ---------
    interface : type
        A ``speechbrain.inference`` class.
    folder : str
        The run folder.
    recipe : str
        The recipe that writes such folders, named in the error when ``inference.yaml`` is missing.
    savedir : str, optional
        Where SpeechBrain gathers the files.
    allow_any_code : bool
        Load a YAML that builds objects outside torch, SpeechBrain, sentencepiece and summarymixing.
    run_opts : dict, optional
        SpeechBrain run options, e.g. ``{"device": "cuda"}``.
    """
    path = os.path.join(folder, "inference.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: not a run folder of {recipe} (or an unfinished one)")
    check_yaml_code(path, allow_any_code)
    return interface.from_hparams(
        source=os.path.abspath(folder), hparams_file="inference.yaml",
        savedir=savedir or os.path.join(folder, "inference"), run_opts=run_opts,
    )  # fmt: skip


def _collect(path, root, problems, seen):
    if path in seen:
        return
    seen.add(path)
    with open(path, encoding="utf-8") as stream:
        tree = ruamel.yaml.YAML().load(stream)
    for node in _nodes(tree):
        tag = getattr(getattr(node, "tag", None), "value", None) or ""
        if tag.startswith("!include:"):
            _collect(os.path.join(os.path.dirname(path), tag[len("!include:") :]), root, problems, seen)
            continue
        for prefix in CODE_TAGS:
            if tag.startswith(prefix) and not is_allowed(tag[len(prefix) :]):
                line = getattr(getattr(node, "lc", None), "line", None)
                where = "" if path == root else f"{os.path.basename(path)} "
                problems.append(f"{where}line {line + 1 if line is not None else '?'}: {tag}")


def _nodes(node):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def is_allowed(target):
    """Whether a YAML may name ``target`` (a dotted path) in a run folder.

    Example
    -------
    >>> is_allowed("torch.nn.GELU"), is_allowed("os.system"), is_allowed("speechbrain.utils.superpowers.run_shell")
    (True, False, False)
    """

    def within(prefix):
        return target == prefix or target.startswith(prefix + ".")

    return any(within(package) for package in ALLOWED) and not any(within(refused) for refused in REFUSED)


def write_atomically(path, text):
    """Writes ``text`` to ``path`` through a temporary file renamed into place: a reader, or a run killed
    mid-write, sees the old file or the new one, never half of one.

    Arguments
    ---------
    path : str
        The file to (re)write.
    text : str
        Its new content.

    Example
    -------
    >>> path = getfixture("tmp_path") / "wer.md"
    >>> write_atomically(str(path), "| a |\\n")
    >>> path.read_text()
    '| a |\\n'
    """
    temporary = f"{path}.partial-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def included_values(included_yaml, loaded):
    """The values an included YAML (``!include:``) was loaded with: for each of its top-level keys that holds a
    setting (a number, a string, a list, or a ``!name:`` class or function without arguments; not an object or a
    reference), the value in ``loaded``, as a YAML value.

    Passing them as the include's arguments rebuilds the same objects (the run folder's inference YAML does).

    Arguments
    ---------
    included_yaml : str
        The included file (e.g. ``hparams/transducer/model.yaml``).
    loaded : dict
        What the include gave the loaded hyperparameters (e.g. ``hparams["transducer"]``).

    Returns
    -------
    dict

    Example
    -------
    >>> import torch
    >>> path = getfixture("tmp_path") / "model.yaml"
    >>> _ = path.write_text("d_model: 512\\nact: !name:torch.nn.ReLU\\nlayer: !new:torch.nn.Linear [2, 2]\\n")
    >>> values = included_values(str(path), {"d_model": 144, "act": torch.nn.GELU, "layer": None})
    >>> values["d_model"], values["act"].tag.value
    (144, '!name:torch.nn.modules.activation.GELU')
    """
    with open(included_yaml, encoding="utf-8") as stream:
        tree = ruamel.yaml.YAML().load(stream)
    values = {}
    for key, node in tree.items():
        tag = getattr(getattr(node, "tag", None), "value", None) or ""
        if tag.startswith("!name:") and isinstance(node, ruamel.yaml.comments.TaggedScalar):
            target = loaded[key]
            values[key] = ruamel.yaml.comments.TaggedScalar("", tag=f"!name:{target.__module__}.{target.__qualname__}")
        elif not tag and not isinstance(node, dict):
            values[key] = loaded[key]
    return values
