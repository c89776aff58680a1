"""The one experiment set-up that every recipe's ``train.py`` calls.

::

    experiment = summarymixing.experiment.setup(sys.argv[1:])
    hparams, run_opts = experiment.hparams, experiment.run_opts

does, in order, what each recipe otherwise writes for itself:

1. reads SpeechBrain's command line (``sb.parse_arguments``: the YAML, run options, YAML overrides) and checks
   every override against the YAML's own value: ``--lr=abc`` against ``lr: 0.0008`` or ``--test_csv=a.csv``
   against a list fails at once, naming the key, instead of deep inside torch after data preparation; fp16
   asked on a CPU becomes bf16 (fp16 autocast needs a GPU), with a warning;
2. starts DDP (``ddp_init_group``) when launched by ``torchrun``, and ends its process group when the process
   exits (a process that exits with its gloo group alive can abort as the group's threads are torn down:
   "terminate called without an active exception", seen once in CI on a two-process MP3S run);
3. loads the YAML. A YAML may start with ``extends: other.yaml``: it is then ``other.yaml`` with this file's keys
   as overrides, so an MHSA twin or a dataset variant states only what differs from the file it extends. Its
   keys must be the base's (a misspelt key fails), except those it lists in ``new_keys: [...]``, which it adds
   (a dataset's own options, e.g. CommonVoice's ``language``); the command line can then set them too.
   Overrides follow HyperPyYAML's rules: a mapping is merged key by key into the base's (an object keeps the
   base's class; give its arguments), anything else replaces the base's value;
4. creates the run folder (``output_folder``): the resolved ``hyperparams.yaml``, a copy of the recipe script,
   ``log.txt`` and ``env.log``, as SpeechBrain's ``create_experiment_directory``;
5. runs the YAML's ``data_preparation`` list on the main process (each a ``!name:`` callable, in order: laying out
   the bundled mini corpus, writing manifests, ...; each skips work already done), unless ``skip_prep``;
6. if the YAML has a ``tokenizer`` (a ``!name:`` callable that trains a tokenizer or loads it when it exists),
   trains it on the main process, then replaces ``hparams["tokenizer"]`` by the loaded tokenizer on every process.

Authors
-------
* The summarymixing contributors (2026)
"""

import atexit
import dataclasses
import io
import math
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import date

import ruamel.yaml
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml, resolve_references
from ruamel.yaml.scalarbool import ScalarBoolean
from speechbrain.utils.distributed import run_on_main

from summarymixing.experiment.checkpoints import AtomicCheckpointer, CheckpointMismatchError
from summarymixing.experiment.run_lock import RunFolderBusyError, lock_run_folder

EXTENDS = "extends"
NEW_KEYS = "new_keys"
MODEL_KEYS = ("attention_type", "summary_mixing_mode", "output_neurons", "d_model", "nhead", "num_encoder_layers")
"""Model settings a command line may give at the top level (routed to the YAML's ``model.yaml``)."""
AT_LEAST = {
    "number_of_epochs": 1, "batch_size": 1, "test_batch_size": 1, "test_beam_size": 1, "beam_size": 1,
    "grad_accumulation_factor": 1, "avg_checkpoints": 1, "valid_search_interval": 1, "checkpoints_to_keep": 1,
    "num_workers": 0, "ckpt_interval_minutes": 0,
}  # fmt: skip
"""Counts and their smallest meaningful value: a run with ``number_of_epochs: -1`` would train nothing, exit 0
and export an untrained model."""


class HparamsError(ValueError):
    """A YAML or a command-line override that cannot be right (wrong type, unknown base file, ...)."""


@dataclass
class Experiment:
    """What :func:`setup` returns."""

    hparams: dict
    """The loaded hyperparameters (with ``tokenizer`` loaded, if the YAML declares one)."""

    run_opts: dict
    """SpeechBrain's run options, for ``Brain(run_opts=...)``."""

    hparams_file: str
    """The YAML given on the command line."""

    base_file: str
    """The YAML actually loaded: ``hparams_file``, or the end of its ``extends`` chain."""

    overrides: dict
    """The overrides applied to ``base_file`` (the ``extends`` chain's, then the command line's)."""

    def load_with(self, overrides):
        """The run's hyperparameters loaded again with further top-level ``overrides`` (e.g. one fold of a
        cross-validation); nothing is prepared."""
        return load_hyperpyyaml(composed_document(self.base_file, {**self.overrides, **overrides}))


def setup(argv):
    """Sets an experiment up from a recipe's command line (see the module documentation).

    Arguments
    ---------
    argv : list of str
        The command line without the program name: ``[hparams.yaml, --option=value, ...]``.

    Returns
    -------
    Experiment
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    try:
        base_file, merged_overrides = compose(hparams_file, overrides)
    except HparamsError as error:  # the user's own mistake: one line, no traceback
        raise SystemExit(f"{os.path.basename(sys.argv[0])}: {error}") from None
    run_opts = _usable_run_options(run_opts, base_file, merged_overrides)
    sb.utils.distributed.ddp_init_group(run_opts)
    if torch.distributed.is_initialized():
        atexit.register(_end_process_group)
    hparams = load_hyperpyyaml(composed_document(base_file, merged_overrides))
    try:  # before anything is written into the folder: another run there, or another model's checkpoints
        if sb.utils.distributed.if_main_process():
            lock_run_folder(hparams["output_folder"])
        if isinstance(hparams.get("checkpointer"), AtomicCheckpointer):
            hparams["checkpointer"].check_compatible()
    except (RunFolderBusyError, CheckpointMismatchError) as error:
        raise SystemExit(f"{os.path.basename(sys.argv[0])}: {error}") from None
    create_run_folder(hparams["output_folder"], base_file, merged_overrides)
    prepare(hparams)
    return Experiment(
        hparams=hparams, run_opts=run_opts, hparams_file=hparams_file, base_file=base_file,
        overrides=merged_overrides,
    )  # fmt: skip


def _end_process_group():
    """Ends this process's DDP process group, if it is still there (registered with ``atexit`` by :func:`setup`)."""
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def load(hparams_file, overrides=None):
    """Loads a YAML (following ``extends:``) with overrides, as :func:`setup` does; nothing is prepared.

    Arguments
    ---------
    hparams_file : str
        The YAML.
    overrides : dict, optional
        Overrides applied after the ``extends`` chain's.

    Returns
    -------
    dict
        The loaded hyperparameters.
    """
    return load_hyperpyyaml(composed_document(*compose(hparams_file, overrides)))


def prepare(hparams):
    """Runs the YAML's ``data_preparation`` steps on the main process (unless ``skip_prep``), then trains its
    ``tokenizer`` there (if it declares one) and replaces it by the loaded tokenizer on every process.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters; ``hparams["tokenizer"]`` is replaced in place.
    """
    if not hparams.get("skip_prep", False):
        run_on_main(_prepare_data, args=[hparams.get("data_preparation") or []])
    if callable(hparams.get("tokenizer")):
        run_on_main(hparams["tokenizer"])  # trains once; the other processes then load it
        hparams["tokenizer"] = hparams["tokenizer"]()


def _usable_run_options(run_opts, base_file, overrides):
    """SpeechBrain 1.1.2 parses ``--optimizer_step_limit`` as a string; and fp16 autocast needs a GPU, so a run
    asked for fp16 (on the command line or in the YAML) on a CPU trains in bf16, with a warning."""
    if run_opts.optimizer_step_limit is not None:
        run_opts = dataclasses.replace(run_opts, optimizer_step_limit=int(run_opts.optimizer_step_limit))
    device = run_opts.device or sb.utils.distributed.infer_device()
    if "precision" in run_opts.overridden_args:
        asked = run_opts.precision
    else:
        asked = overrides.get("precision", _load_tree(base_file).get("precision"))
    if device.startswith("cpu") and asked == "fp16":
        sb.utils.logger.get_logger(__name__).warning("fp16 autocast needs a GPU: training in bf16 on the CPU")
        run_opts = dataclasses.replace(
            run_opts, precision="bf16", overridden_args=run_opts.overridden_args | {"precision"}
        )
    return run_opts


def _prepare_data(steps):
    for step in steps:
        step()


def _drop_comments_before_sequences(node):
    """Removes the end-of-line comment of every key whose value is a sequence, in place.

    ruamel.yaml 0.18 writes ``key:  # comment`` followed by a sequence whose first item is a tagged mapping as
    ``- !name:f first_key: value``, which reads back as an untagged mapping: a list of ``!name:`` preparation steps
    under a commented key came back as dictionaries. The comment is only cosmetic in the composed document.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, list) and hasattr(node, "ca"):
                node.ca.items.pop(key, None)
                if hasattr(value, "ca"):  # a list from the command line has no comments
                    value.ca.comment = None
            _drop_comments_before_sequences(value)
    elif isinstance(node, list):
        for item in node:
            _drop_comments_before_sequences(item)


def compose(hparams_file, overrides=None):
    """The base YAML of ``hparams_file`` (following ``extends:``) and the overrides that turn it into the file.

    Arguments
    ---------
    hparams_file : str
        A YAML, possibly starting with ``extends: <path relative to it>``.
    overrides : str or dict, optional
        Further overrides (from the command line), applied last; checked with :func:`check_overrides`.

    Returns
    -------
    base_file : str
        The YAML to load (the end of the ``extends`` chain).
    overrides : dict
        Every file's keys down the chain, then ``overrides``, merged.

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> _ = (tmp / "base.yaml").write_text("lr: 0.1\\nmodel:\\n    size: 4\\n    heads: 2\\n")
    >>> _ = (tmp / "twin.yaml").write_text("extends: base.yaml\\nmodel:\\n    heads: 1\\n")
    >>> base, merged = compose(str(tmp / "twin.yaml"), "lr: 0.2")
    >>> os.path.basename(base), merged
    ('base.yaml', {'model': {'heads': 1}, 'lr': 0.2})
    """
    yaml = ruamel.yaml.YAML(typ="safe")
    chain, current = [], os.path.abspath(hparams_file)
    while True:
        if not os.path.isfile(current):
            raise HparamsError(f"hyperparameter file not found: {current}")
        with open(current, encoding="utf-8") as stream:
            head = _top_level(stream.read())
        if EXTENDS not in head:
            break
        chain.append(current)
        base = os.path.join(os.path.dirname(current), str(head[EXTENDS]))
        if base in chain:
            raise HparamsError(f"{current}: 'extends: {head[EXTENDS]}' makes a cycle")
        current = base
    _check_include_arguments(current)
    tree, merged = _load_tree(current), {}
    for path in reversed(chain):  # the base's direct child first, the given file last
        keys = _load_tree(path)
        keys.pop(EXTENDS)
        for key in keys.pop(NEW_KEYS, None) or []:
            if key in tree:
                raise HparamsError(f"{path}: new_keys lists {key!r}, which {os.path.basename(current)} has already")
            if key not in keys:
                raise HparamsError(f"{path}: new_keys lists {key!r}, which the file does not set")
            tree[key] = keys[key]
        _check(tree, keys, "", current)
        _merge(merged, keys)
    if isinstance(overrides, str):
        overrides = yaml.load(overrides) or {}
    if overrides:
        overrides = _route_model_keys(tree, overrides, current)
        _check(tree, overrides, "", current)
        _merge(merged, overrides)
    _check_values(merged, hparams_file)
    return current, merged


def _route_model_keys(tree, overrides, path):
    """Overrides of :data:`MODEL_KEYS` that the YAML does not have at its top level go to the model: the one
    top-level key that includes a ``model.yaml`` (``--attention_type=RelPosMHAXL`` becomes
    ``--transducer={attention_type: RelPosMHAXL}``), as a SpeechBrain user would write them."""
    models = [key for key, node in tree.items() if _tag(node) and _tag(node).startswith("!include:")
              and _tag(node).endswith("model.yaml")]  # fmt: skip
    routed = {}
    for key, value in overrides.items():
        if key in MODEL_KEYS and key not in tree and len(models) == 1:
            routed.setdefault(models[0], {})
            if not isinstance(routed[models[0]], dict):
                raise HparamsError(f"--{key} and --{models[0]} both set the model of {os.path.basename(path)}")
            routed[models[0]][key] = value
        elif key in routed and isinstance(value, dict) and isinstance(routed[key], dict):
            routed[key] = {**value, **routed[key]}
        else:
            routed[key] = value
    return routed


def _check_values(merged, hparams_file):
    """Values that are the right type yet cannot be meant: an empty output folder, counts below their minimum."""
    if "output_folder" in merged and not str(merged["output_folder"] or "").strip():
        raise HparamsError(f"output_folder is empty in {hparams_file} or its overrides: give the run's folder")
    for key, least in AT_LEAST.items():
        value = merged.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < least:
            raise HparamsError(f"--{key}={value}: must be at least {least}")
    _check_weights(merged, "")


def _check_weights(mapping, prefix):
    """The weights of losses and of fused scores (``lm_weight``, ``ctc_weight``, ...), at any depth: finite, >= 0."""
    for key, value in mapping.items():
        if isinstance(value, dict):
            _check_weights(value, f"{prefix}{key}.")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if str(key).endswith("_weight") and number and not (math.isfinite(value) and value >= 0):
            raise HparamsError(f"--{prefix}{key}={value}: must be a finite number >= 0")


def composed_document(base_file, overrides):
    """The YAML text of ``base_file`` with ``overrides`` applied (as :func:`compose` returns them), as a stream
    that HyperPyYAML reads like the file itself (``!include:`` paths stay relative to it).

    A mapping override is merged key by key into the base's mapping when both are the same kind of object (the
    same tag, or none), and replaces it otherwise, as does any other override: so a file that extends another
    can turn ``wav_augment: null`` into an object, or give a preparation step another function.

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> _ = (tmp / "base.yaml").write_text("augment: null\\nopt: !name:torch.optim.SGD\\n    lr: 0.1\\n")
    >>> _ = (tmp / "twin.yaml").write_text(
    ...     "extends: base.yaml\\naugment: !new:torch.nn.Dropout\\n    p: 0.5\\nopt:\\n    lr: 0.2\\n")
    >>> print(composed_document(*compose(str(tmp / "twin.yaml"))).read().strip())
    augment: !new:torch.nn.Dropout
      p: 0.5
    opt: !name:torch.optim.SGD
      lr: 0.2
    """
    yaml = ruamel.yaml.YAML()
    with open(base_file, encoding="utf-8") as stream:
        tree = yaml.load(stream) or {}
    _merge(tree, overrides)
    _drop_comments_before_sequences(tree)
    text = io.StringIO()
    yaml.dump(tree, text)
    document = io.StringIO(text.getvalue())
    document.name = base_file  # HyperPyYAML resolves !include: relative to the stream's name
    return document


def _tag(node):
    return getattr(getattr(node, "tag", None), "value", None)


def _check_include_arguments(path):
    """Checks the arguments of every top-level ``!include:`` of ``path`` against the included file's keys."""
    for key, node in _load_tree(path).items():
        tag = getattr(getattr(node, "tag", None), "value", None) or ""
        if tag.startswith("!include:") and isinstance(node, dict):
            included = os.path.join(os.path.dirname(path), tag[len("!include:") :])
            _check(_load_tree(included), node, f"{key}.", included)


def _top_level(text):
    """The top-level keys of a HyperPyYAML text, tags kept as opaque values (only ``extends`` is read)."""
    return ruamel.yaml.YAML().load(text) or {}


def _merge(target, updates):
    """Merges ``updates`` into ``target`` (see :func:`composed_document`)."""
    for key, value in updates.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict) and _tag(value) in (None, _tag(current)):
            _merge(current, value)
        else:
            target[key] = value


def check_overrides(hparams_file, overrides):
    """Raises :class:`HparamsError` naming the key when an override cannot replace the YAML's value: a word for a
    number or a flag, a fraction for a count, a single value for a list, a key the YAML does not have.

    Tagged values (``!ref``, ``!new:`` ...), ``null`` and strings accept anything, as do keys below them; a tagged
    override (a ``!ref`` to another key, in an ``!include:``'s arguments) is checked when the YAML loads.

    Arguments
    ---------
    hparams_file : str
        The YAML the overrides apply to.
    overrides : dict
        Parsed overrides.

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> _ = (tmp / "h.yaml").write_text("lr: 0.001\\nepochs: 10\\ntest_csv: [a.csv]\\n")
    >>> check_overrides(str(tmp / "h.yaml"), {"lr": 0.01, "epochs": 3, "test_csv": ["b.csv"]})
    >>> check_overrides(str(tmp / "h.yaml"), {"lr": "abc"})
    Traceback (most recent call last):
    ...
    summarymixing.experiment.HparamsError: --lr=abc: expected a number (h.yaml has lr: 0.001)
    >>> check_overrides(str(tmp / "h.yaml"), {"test_csv": "b.csv"})
    Traceback (most recent call last):
    ...
    summarymixing.experiment.HparamsError: --test_csv=b.csv: expected a list, e.g. --test_csv=[b.csv] (h.yaml ...)
    """
    _check(_load_tree(hparams_file), overrides, "", hparams_file)


def _load_tree(path):
    with open(path, encoding="utf-8") as stream:
        return ruamel.yaml.YAML().load(stream) or {}


def _check(defaults, overrides, prefix, path):
    file_name = os.path.basename(path)
    for key, value in overrides.items():
        name = f"{prefix}{key}"
        if key not in defaults:
            raise HparamsError(f"--{name}: {file_name} has no key {key!r}")
        default = defaults[key]
        tag = getattr(getattr(default, "tag", None), "value", None)
        if tag and tag.startswith("!include:") and isinstance(value, dict):
            included = os.path.join(os.path.dirname(path), tag[len("!include:") :])
            _check(_load_tree(included), value, f"{name}.", included)
            continue
        if tag or value is None:  # !ref, !new:, ... and null (off) may replace anything
            continue
        if getattr(getattr(value, "tag", None), "value", None):  # a !ref or an object: checked when it loads
            continue
        shown = f"{file_name} has {key}: {_show(default)}"
        if isinstance(default, (bool, ScalarBoolean)):
            expected = None if isinstance(value, bool) else "True or False"
        elif isinstance(default, int):
            expected = None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
        elif isinstance(default, float):
            expected = None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
        elif isinstance(default, list):
            expected = None if isinstance(value, list) or value is None else f"a list, e.g. --{name}=[{value}]"
        elif isinstance(default, dict):
            if not isinstance(value, dict):
                raise HparamsError(f"--{name}={value}: expected a mapping, e.g. --{name}={{key: value}} ({shown})")
            _check(default, value, f"{name}.", path)
            continue
        else:
            continue
        if expected:
            raise HparamsError(f"--{name}={value}: expected {expected} ({shown})")


def _show(value):
    if isinstance(value, list):
        return str([_show(item) for item in value])
    if isinstance(value, dict):
        return "{...}"
    return str(value) if not isinstance(value, str) else value


def create_run_folder(output_folder, hparams_file, overrides):
    """The run folder as SpeechBrain's ``create_experiment_directory`` makes it (resolved ``hyperparams.yaml``,
    the recipe script, ``log.txt`` logging, ``env.log``), on the main process.

    SpeechBrain's function copies the file of its direct caller, which would be this module, not the recipe.

    Arguments
    ---------
    output_folder : str
        The run folder.
    hparams_file : str
        The YAML to save, resolved with ``overrides``.
    overrides : dict
        The overrides.
    """
    if sb.utils.distributed.if_main_process():
        os.makedirs(output_folder, exist_ok=True)
        resolved = resolve_references(composed_document(hparams_file, overrides)).getvalue()
        path = os.path.join(output_folder, "hyperparams.yaml")
        with open(path + ".tmp", "w", encoding="utf-8") as saved:
            saved.write(f"# Generated {date.today()} from:\n# {os.path.abspath(hparams_file)}\n# yamllint disable\n")
            saved.write(resolved)
        os.replace(path + ".tmp", path)
        script = os.path.realpath(sys.argv[0])
        if os.path.isfile(script) and os.path.dirname(script) != os.path.realpath(output_folder):
            shutil.copy(script, output_folder)
        sb.utils.logger.setup_logging(
            sb.core.DEFAULT_LOG_CONFIG,
            {"handlers": {"file_handler": {"filename": os.path.join(output_folder, "log.txt")}}},
        )
        sys.excepthook = sb.core._logging_excepthook
        sb.utils.logger.get_logger(__name__).info(f"Experiment folder: {output_folder}")
        with open(os.path.join(output_folder, "env.log"), "w", encoding="utf-8") as environment:
            environment.write(sb.utils.logger.get_environment_description())
    sb.utils.distributed.ddp_barrier()
