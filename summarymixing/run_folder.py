"""Run folders: writing their files so that an interruption never leaves half a file, and reading their YAML
without running code our own recipes would not run.

A HyperPyYAML file is a program: ``!apply:os.system [...]`` runs a shell command while the file loads, and so do
YAML's own ``!!python/object/apply:`` tags and tuples that hold them (HyperPyYAML parses a plain ``(...)`` scalar
with PyYAML's unsafe loader). That is fine for one's own runs and dangerous for a run folder from someone else.
So everything in this package that loads a run folder's YAML (the ASR, SLU and KWS loaders,
``StreamingTransducerASR.from_hparams``, ``transcribe.py``, ``summarymixing.wav2vec2.load_pretrained``, the MP3S
runner's ``--ssl_folder``, LM folders) first checks it with :func:`check_yaml_code`, which accepts only:

- the exact callables our own YAMLs build, tag by tag (``!new:``, ``!name:``, ``!apply:``): an allow-list
  derived from every file in ``hparams/`` (:func:`derive_allowed_code`, stored in ``allowed_code.txt``; a test
  fails when a YAML of ours names a callable the list lacks). A function inside an allowed package is refused
  unless one of our YAMLs calls it that way: ``!apply:torch.serialization.load`` is refused although
  ``torch.nn.Linear`` is allowed;
- HyperPyYAML's references (``!ref``, ``!copy``), ``!include:`` of files inside the same folder (checked too),
  tuples without tags inside, and YAML's plain data tags (strings, numbers, lists, mappings);

and nothing else: every other tag is refused, by name and line, in the file as written and again after its
references are resolved (a reference can assemble a tag out of strings). It also refuses a folder that asks to
load further folders unchecked (``allow_any_code: True`` inside it), URLs (nothing downloads), and documents
that aliases expand beyond :data:`MAX_NODES` nodes. ``allow_any_code=True`` (``--allow-any-code`` on the
command lines) turns the check off, for folders you trust.

Checkpoints are read with ``torch.load(..., weights_only=True)``: tensors and plain containers, never pickled code.

Authors
-------
* The summarymixing contributors (2026)
"""

import functools
import glob
import hashlib
import json
import os
import pydoc
import re

import ruamel.yaml
import ruamel.yaml.comments
import torch
from hyperpyyaml import resolve_references
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from summarymixing.data.audio import check_waveform, shortest_audio
from summarymixing.encoders.padding import check_relative_lengths

ALLOWED_CODE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "allowed_code.txt")
"""The allow-list: one tag per line (``!new:torch.nn.Linear``), derived from ``hparams/`` by
``python tools/update_allowed_code.py``."""

CODE_TAGS = ("!new:", "!name:", "!apply:", "!applyref:", "!module:")
DATA_TAGS = frozenset(
    f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "seq", "map", "merge", "timestamp")
)
REFERENCE_TAGS = frozenset(("!ref", "!copy", "!PLACEHOLDER"))
TUPLE = re.compile(r"^\(.*\)$")
"""HyperPyYAML's implicit tuple: a plain scalar that it hands to PyYAML's unsafe loader."""

MAX_NODES = 1_000_000
"""A run folder's YAML is at most this many nodes once aliases expand (ours are a few thousand)."""


class UnsafeYamlError(ValueError):
    """A run folder's YAML names code that our own recipes do not build, or data that could run or fetch code."""


def check_yaml_code(path, allow_any_code=False, overrides=None):
    """Raises :class:`UnsafeYamlError` listing every place of ``path`` (and the files it includes) that names code
    outside the allow-list (see the module documentation).

    Arguments
    ---------
    path : str
        A HyperPyYAML file.
    allow_any_code : bool
        Skip the check (the folder is trusted).
    overrides : dict or str, optional
        The overrides it will be loaded with (checked with it, after references resolve).

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> _ = (tmp / "ok.yaml").write_text("act: !name:torch.nn.GELU\\nx: !new:speechbrain.nnet.linear.Linear\\n")
    >>> check_yaml_code(str(tmp / "ok.yaml"))
    >>> _ = (tmp / "bad.yaml").write_text("x: 1\\ny: !apply:torch.serialization.load [evil.pt]\\n")
    >>> check_yaml_code(str(tmp / "bad.yaml"))
    Traceback (most recent call last):
    ...
    summarymixing.run_folder.UnsafeYamlError: .../bad.yaml runs code that our recipes do not: line 2: !apply:torch...
    """
    if allow_any_code:
        return
    problems = code_problems(path, overrides)
    if problems:
        raise UnsafeYamlError(
            f"{os.path.abspath(path)} runs code that our recipes do not: {'; '.join(problems)}; pass "
            "allow_any_code=True (--allow-any-code) only if you trust this folder"
        )


def code_problems(path, overrides=None, resolve=True, folder=None):
    """What :func:`check_yaml_code` refuses in ``path``, one line each (empty when nothing).

    Arguments
    ---------
    path : str
        A HyperPyYAML file.
    overrides : dict or str, optional
        The overrides it will be loaded with.
    resolve : bool
        Also check the document once its references resolve (a file with ``!PLACEHOLDER`` values cannot).
    folder : str, optional
        The folder that its ``!include:`` files must be in (default: its own).

    Returns
    -------
    list of str
    """
    path = os.path.abspath(path)
    problems = []
    _check_file(path, folder or os.path.dirname(path), problems, set())
    if resolve and not problems:  # the file names nothing that runs while references resolve (no !applyref:)
        with open(path, encoding="utf-8") as stream:
            resolved = resolve_references(stream, overrides).getvalue()
        _check_nodes(_compose(resolved), "after its references resolve, ", problems)
    return problems


@functools.cache
def allowed_code():
    """The allow-list of ``allowed_code.txt``: the tags (with their callables) that our own YAMLs use.

    Example
    -------
    >>> "!new:torch.nn.Linear" in allowed_code(), "!apply:torch.serialization.load" in allowed_code()
    (True, False)
    """
    with open(ALLOWED_CODE_FILE, encoding="utf-8") as stream:
        return frozenset(line.strip() for line in stream if line.strip() and not line.startswith("#"))


def derive_allowed_code(hparams_folder):
    """The allow-list that the YAML files under ``hparams_folder`` make: every ``!new:``, ``!name:`` and ``!apply:``
    tag they hold, each also under the name that Python gives its callable (``!name:torch.nn.GELU`` and
    ``!name:torch.nn.modules.activation.GELU``: the run folders' YAMLs write the second), and for ``getattr``
    the attribute names read (``!apply:getattr [*, hidden_size]``).

    Arguments
    ---------
    hparams_folder : str
        The repository's ``hparams/``.

    Returns
    -------
    list of str
        Sorted tags.
    """
    tags = set()
    for path in sorted(glob.glob(os.path.join(hparams_folder, "**", "*.yaml"), recursive=True)):
        with open(path, encoding="utf-8") as stream:
            root = _compose(stream.read())
        for node in _walk(root):
            tag = _tag(node)
            kind = next((prefix for prefix in ("!new:", "!name:", "!apply:") if tag.startswith(prefix)), None)
            if kind is None:
                continue
            if tag == "!apply:getattr":
                tags.add(_getattr_entry(node))
                continue
            target = pydoc.locate(tag[len(kind) :])
            if target is None:
                raise ValueError(f"{path}: {tag} names nothing importable")
            tags.update((tag, f"{kind}{target.__module__}.{target.__qualname__}"))
    return sorted(tags)


def _getattr_entry(node):
    """``!apply:getattr [*, name]`` for a ``getattr`` of a literal attribute name, else the bare tag."""
    if isinstance(node, SequenceNode) and len(node.value) == 2 and isinstance(node.value[1], ScalarNode):
        return f"!apply:getattr [*, {node.value[1].value}]"
    return "!apply:getattr"


def _compose(text, path=None):
    try:
        return ruamel.yaml.YAML().compose(text)
    except ruamel.yaml.YAMLError as error:
        raise ValueError(f"{path or 'the resolved document'} is not valid YAML: {error}") from None


def _tag(node):
    tag = getattr(node, "tag", None)
    return getattr(tag, "value", tag) or ""


def _walk(root):
    """Every node, keys included, aliases followed (each time they appear); stops after :data:`MAX_NODES`."""
    stack, count = [root] if root is not None else [], 0
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise UnsafeYamlError(f"the YAML expands to more than {MAX_NODES} nodes (aliases inside aliases?)")
        yield node
        if isinstance(node, MappingNode):
            for key, value in reversed(node.value):
                stack.extend((value, key))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))


def _check_file(path, folder, problems, seen):
    if path in seen:
        return
    seen.add(path)
    where = "" if not seen - {path} else f"{os.path.basename(path)} "
    with open(path, encoding="utf-8") as stream:
        root = _compose(stream.read(), path)
    for include in _check_nodes(root, where, problems):
        included = os.path.realpath(os.path.join(os.path.dirname(path), include))
        if os.path.commonpath([included, os.path.realpath(folder)]) != os.path.realpath(folder):
            problems.append(f"{where}!include:{include} reads a file outside {folder}")
        elif not os.path.isfile(included):
            problems.append(f"{where}!include:{include}: no such file")
        else:
            _check_file(included, folder, problems, seen)


def _check_nodes(root, where, problems):
    """Appends to ``problems`` what in ``root`` is refused; returns the files it includes."""
    includes = []
    try:
        for node in _walk(root):
            tag = _tag(node)
            if tag.startswith("!include:"):
                includes.append(tag[len("!include:") :])
                continue
            problem = _problem(tag, node)
            if problem:
                problems.append(f"{where}line {node.start_mark.line + 1}: {problem}")
    except UnsafeYamlError as error:
        problems.append(f"{where}{error}")
    return includes


def _problem(tag, node):
    """Why ``node`` (with tag ``tag``) is refused, or None."""
    if isinstance(node, ScalarNode) and isinstance(node.value, str):
        text = node.value
        if (tag == "!tuple" or TUPLE.match(text)) and "!" in text:  # quoted too: no tuple of ours holds a "!"
            return f"a tuple with a tag inside, {text!r} (HyperPyYAML parses tuples with PyYAML's unsafe loader)"
        if "://" in text:
            return f"a URL, {text!r}: run folders are read from the disk only"
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if _tag(key) in DATA_TAGS and str(key.value).endswith("allow_any_code") and _truthy(value):
                return f"{key.value}: {value.value} loads further folders without this check"
    if not tag or tag in DATA_TAGS or tag in REFERENCE_TAGS or tag == "!tuple":
        return None
    if tag == "!apply:getattr":
        entry = _getattr_entry(node)
        return None if entry in allowed_code() else f"{entry} (our YAMLs read other attributes only)"
    if tag.startswith(CODE_TAGS):
        return None if tag in allowed_code() else tag
    return f"{tag} (not a tag our YAMLs use)"


def _truthy(node):
    """Whether a literal scalar (not a reference, which is judged once resolved) says yes."""
    literal = isinstance(node, ScalarNode) and _tag(node) in DATA_TAGS
    return literal and str(node.value).strip().lower() not in ("false", "no", "off", "0", "", "null", "~")


EXPORT_FILE = "export.json"
"""What an exported run folder is and holds: written last by the recipe's export, read first by every loader."""

LOADERS = {
    "EncoderDecoderASR": "summarymixing.asr.inference.load_asr",
    "EncoderClassifier": "summarymixing.kws.inference.load_classifier",
    "StreamingTransducerASR": "StreamingTransducerASR.from_hparams or recipes/transducer/transcribe.py",
    "LM": "the recipes' --lm_folder (transducer: --lm-folder)",
}
"""Each exported format and what loads it."""


def seal_export(folder, kind, recipe, files):
    """Writes ``<folder>/export.json``: the folder's format, the recipe that wrote it and the SHA-256 of each of
    its ``files``, so that a loader can refuse another kind of folder, or a file swapped, truncated or changed
    since (:func:`check_export`). Call it once the files are written.

    Arguments
    ---------
    folder : str
        The run folder.
    kind : str
        A key of :data:`LOADERS`.
    recipe : str
        The recipe script, e.g. ``recipes/slu/train.py``.
    files : list of str
        The exported files, relative to ``folder``.

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> _ = (folder / "lm.ckpt").write_bytes(b"weights")
    >>> seal_export(str(folder), "LM", "recipes/lm/train.py", ["lm.ckpt"])
    >>> check_export(str(folder), "LM")["recipe"]
    'recipes/lm/train.py'
    >>> _ = (folder / "lm.ckpt").write_bytes(b"other weights")
    >>> check_export(str(folder), "LM")
    Traceback (most recent call last):
    ...
    ValueError: .../lm.ckpt is not the file this run exported (its SHA-256 differs from ...export.json): ...
    """
    if kind not in LOADERS:
        raise ValueError(f"unknown export kind {kind!r}; one of {sorted(LOADERS)}")
    digests = {name: file_digest(os.path.join(folder, name)) for name in files}
    manifest = {"format": kind, "recipe": recipe, "files": digests}
    write_atomically(os.path.join(folder, EXPORT_FILE), json.dumps(manifest, indent=1) + "\n")


def check_export(folder, kind):
    """Reads ``<folder>/export.json`` and checks that the folder is an export of ``kind`` whose files are all there
    and unchanged.

    Arguments
    ---------
    folder : str
        The run folder.
    kind : str
        The format the caller loads (a key of :data:`LOADERS`).

    Returns
    -------
    dict
        The manifest (``format``, ``recipe``, ``files``).

    Raises
    ------
    FileNotFoundError
        No ``export.json`` (not an exported run folder, or exported before manifests existed), or a file it
        lists is missing.
    ValueError
        A folder of another kind (naming what loads it), a malformed manifest, or a file whose SHA-256 differs.
    """
    path = os.path.join(folder, EXPORT_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} not found: {folder} is not the folder of a finished training run (a run exported before "
            "summarymixing wrote export.json: run its train.py command again to export it anew)"
        )
    try:
        with open(path, encoding="utf-8") as stream:
            manifest = json.load(stream)
        found, files = manifest["format"], dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not an export manifest ({type(error).__name__}: {error})") from None
    if found != kind:
        raise ValueError(
            f"{folder} is a run folder of {manifest.get('recipe', '?')} ({found}), not a {kind} folder: load it "
            f"with {LOADERS.get(found, 'its own recipe')}"
        )
    for name, digest in files.items():
        file = os.path.join(folder, name)
        if not os.path.isfile(file):
            raise FileNotFoundError(f"{file} not found: the run exported it ({path} lists it)")
        if file_digest(file) != digest:
            raise ValueError(
                f"{file} is not the file this run exported (its SHA-256 differs from {path}): copied from another "
                "run, truncated or changed since"
            )
    return manifest


def file_digest(path):
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def load_inference(interface, folder, kind, savedir=None, allow_any_code=False, run_opts=None):
    """A run folder's ``inference.yaml`` loaded as a SpeechBrain inference ``interface`` (e.g.
    ``EncoderDecoderASR``), after :func:`check_export` and :func:`check_yaml_code`; the files gather in
    ``savedir`` (default ``<folder>/inference``).

    Arguments
    ---------
    interface : type
        A ``speechbrain.inference`` class.
    folder : str
        The run folder.
    kind : str
        The export format it must be (a key of :data:`LOADERS`).
    savedir : str, optional
        Where SpeechBrain gathers the files.
    allow_any_code : bool
        Load a YAML that builds objects our recipes do not build.
    run_opts : dict, optional
        SpeechBrain run options, e.g. ``{"device": "cuda"}``.
    """
    check_export(folder, kind)
    path = os.path.join(folder, "inference.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: the export of {folder} is incomplete")
    check_yaml_code(path, allow_any_code)
    return interface.from_hparams(
        source=os.path.abspath(folder), hparams_file="inference.yaml",
        savedir=savedir or os.path.join(folder, "inference"), run_opts=run_opts,
    )  # fmt: skip


class CheckedAudio:
    """Mixed into SpeechBrain's inference interfaces (``EncoderDecoderASR``, ``EncoderClassifier``): audio that
    the model cannot take (NaN or infinite samples, shorter than its front end's padding, lengths outside
    (0, 1]) is refused with an error naming the file or the batch item, instead of decoding it into garbage or
    failing deep inside torch. Files are read as SpeechBrain reads them (``load_audio``).
    """

    def load_audio(self, path, savedir=None):
        """SpeechBrain's ``load_audio``, checked; the message names ``path``."""
        waveform = super().load_audio(path, savedir)
        self.check_audio(waveform[None], None, name=str(path))
        return waveform

    def encode_batch(self, wavs, wav_lens=None, *args, **kwargs):
        """SpeechBrain's ``encode_batch`` (which ``transcribe_batch`` and ``classify_batch`` call), checked."""
        self.check_audio(wavs, wav_lens)
        wav_lens = torch.ones(wavs.shape[0]) if wav_lens is None else wav_lens
        return super().encode_batch(wavs, wav_lens, *args, **kwargs)

    def check_audio(self, wavs, wav_lens=None, name="wavs"):
        """Raises ValueError naming ``name`` (and the batch item) for audio the model cannot take.

        Arguments
        ---------
        wavs : torch.Tensor
            [batch, samples].
        wav_lens : torch.Tensor, optional
            Relative lengths [batch].
        name : str
            What the audio is, for the message.
        """
        if wavs.dim() != 2:
            raise ValueError(f"{name}: expected audio [batch, samples], got shape {tuple(wavs.shape)}")
        wav_lens = torch.ones(wavs.shape[0]) if wav_lens is None else torch.as_tensor(wav_lens, dtype=torch.float)
        check_relative_lengths(wav_lens.cpu(), wavs.shape[0])
        counts = torch.round(wav_lens.cpu().double() * wavs.shape[1]).long().tolist()
        for item, count in enumerate(counts):
            where = name if wavs.shape[0] == 1 else f"{name}[{item}]"
            if count < SHORT_AUDIO_SAMPLES:  # look up the front end's limit only for audio that may be below it
                check_waveform(wavs[item, :count], self.shortest_audio(), where)
            else:
                check_waveform(wavs[item, :count], 1, where)

    def shortest_audio(self):
        """The fewest samples this model takes (computed once)."""
        if getattr(self, "_shortest_audio", None) is None:
            encode = super().encode_batch  # unchecked, or the check would ask for this again
            self._shortest_audio = shortest_audio(
                lambda wavs: encode(wavs.to(self.device), torch.ones(1, device=self.device)), self.hparams.sample_rate
            )
        return self._shortest_audio


SHORT_AUDIO_SAMPLES = 1600
"""Audio shorter than this (0.1 s at 16 kHz) is checked against the front end's limit."""


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
