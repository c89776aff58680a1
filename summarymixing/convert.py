"""Moving models trained with the published SummaryMixing code onto this implementation.

The published code (SpeechBrain with a SummaryMixing cell, arXiv 2307.07421, 2407.13377, 2409.07165) names a
cell's parameters after its ``VanillaNN`` blocks: ``local_proj``, ``summary_proj``, ``global_proj`` (fast mode),
``summary_local_merging`` (the combiner), whose linear layers are ``linear``, ``linear_0``, ``linear_1``, ...
(block-diagonal ones hold ``weights`` [nhead, in / nhead, out / nhead] and ``biases`` [nhead, out / nhead]; dense
ones ``w.weight`` and ``w.bias``), and the SummaryMixing Branchformer's merge is a ``VanillaNN`` too. This cell
holds the same tensors under ``local_layers.<i>``, ``summary_layers.<i>``, ``projection``, ``combiner`` and the
Branchformer's ``merge_proj.<2 i>``. Everything else in SpeechBrain's encoders is named alike.

``convert_original_checkpoint(state_dict)`` renames every SummaryMixing tensor of a published state_dict (a cell, a
Conformer or Branchformer encoder, a ``TransformerASR``, a transducer's ``model`` list) and leaves the rest as it
is; ``transducer=True`` also swaps the transducer's CTC and output layers, which the published ``model`` list
holds in the other order. LayerNorms that the published cell registers but never uses (``-lite``, ``-fast``) are
dropped. The result loads with ``load_state_dict(..., strict=True)`` into the same model built here.

    python -m summarymixing.convert published_model.ckpt converted_model.ckpt [--transducer]

A published wav2vec 2.0 pre-training checkpoint (a folder holding ``CNN.ckpt``, ``latent_encoder.ckpt``,
``target_quantiser.ckpt`` and ``feat_proj.ckpt``) loads into our ``Wav2Vec2Pretrainer`` with
``load_original_wav2vec2(folder, pretrainer)``: the published front end, context encoder (SpeechBrain's
``EncoderWrapper`` names), quantiser and projection carry the same names as ours, except the cells'.

Authors
-------
* The summarymixing contributors (2026)
"""

import argparse
import os
import re
import sys

import torch

BRANCH_NAMES = {"local_proj": "local_layers", "summary_proj": "summary_layers"}
LAYER = re.compile(r"^linear(?:_(\d+))?$")
TRANSDUCER_SWAP = {"6": "7", "7": "6"}
"""The published transducer ``model`` list ends [..., proj_ctc, transducer_lin]; ours [..., transducer_lin, enc_lin]."""


def layer_index(name):
    """The position of a published ``VanillaNN`` linear layer from its name (``linear`` 0, ``linear_<k>`` k + 1).

    Example
    -------
    >>> layer_index("linear"), layer_index("linear_0"), layer_index("linear_3")
    (0, 1, 4)
    """
    match = LAYER.match(name)
    if match is None:
        raise ValueError(f"not a published VanillaNN linear layer: {name!r}")
    return 0 if match.group(1) is None else int(match.group(1)) + 1


def convert_key(key, tensor, unused_norms):
    """This implementation's name for one published parameter (None to drop it).

    Arguments
    ---------
    key : str
        The published name.
    tensor : torch.Tensor
        Its value (unused; the layouts are the same).
    unused_norms : set of str
        Prefixes of cells whose LayerNorms the published code registers but never uses.

    Returns
    -------
    str or None

    Example
    -------
    >>> convert_key("layers.0.mha_layer.local_proj.linear_0.weights", None, set())
    'layers.0.mha_layer.local_layers.1.weight'
    >>> convert_key("mha_layer.summary_local_merging.linear.w.bias", None, set())
    'mha_layer.combiner.bias'
    >>> convert_key("layers.2.merge_proj.linear_0.w.weight", None, set())
    'layers.2.merge_proj.2.weight'
    """
    parts = key.split(".")
    for position, part in enumerate(parts):
        prefix = ".".join(parts[:position])
        rest = parts[position + 1 :]
        if part in BRANCH_NAMES and rest and LAYER.match(rest[0]):
            leaf = {"weights": "weight", "biases": "bias"}.get(rest[-1], rest[-1])
            return ".".join([*parts[:position], BRANCH_NAMES[part], str(layer_index(rest[0])), leaf])
        if part in ("global_proj", "summary_local_merging") and rest and LAYER.match(rest[0]):
            name = "projection" if part == "global_proj" else "combiner"
            return ".".join([*parts[:position], name, rest[-1]])
        if part == "merge_proj" and rest and LAYER.match(rest[0]):
            return ".".join([*parts[:position], part, str(2 * layer_index(rest[0])), rest[-1]])
        if part in ("local_norm", "summary_norm") and prefix in unused_norms:
            return None
    return key


def cells_without_used_norms(state_dict):
    """Prefixes of the published cells in fast or lite mode (their LayerNorms are registered and never used)."""

    def prefixes(marker):
        return {f".{key}".split(marker)[0].lstrip(".") for key in state_dict if marker in f".{key}"}

    return prefixes(".global_proj.") | (prefixes(".summary_proj.") - prefixes(".local_proj."))


def convert_original_checkpoint(state_dict, transducer=False):
    """Renames a published SummaryMixing state_dict's tensors to this implementation's names.

    Arguments
    ---------
    state_dict : dict
        A published model's ``state_dict()`` (a cell, an encoder, a ``TransformerASR``, a transducer's ``model``
        list, or a wav2vec 2.0 context encoder).
    transducer : bool
        The state_dict is a published transducer's ``model`` list: its CTC and output layers swap places.

    Returns
    -------
    dict
        The same tensors under this implementation's names (unused LayerNorms dropped).

    Example
    -------
    >>> from summarymixing.cell import SummaryMixing
    >>> published = {"local_proj.linear.weights": torch.zeros(2, 4, 4),
    ...              "local_proj.linear.biases": torch.zeros(2, 4),
    ...              "summary_proj.linear.weights": torch.zeros(2, 4, 4),
    ...              "summary_proj.linear.biases": torch.zeros(2, 4),
    ...              "summary_local_merging.linear.w.weight": torch.zeros(8, 16),
    ...              "summary_local_merging.linear.w.bias": torch.zeros(8)}
    >>> cell = SummaryMixing(8, 2, [], 8, [], 8, use_layernorm=False)
    >>> cell.load_state_dict(convert_original_checkpoint(published), strict=True)
    <All keys matched successfully>
    """
    unused = cells_without_used_norms(state_dict)
    converted = {}
    for key, tensor in state_dict.items():
        if transducer and key.split(".", 1)[0] in TRANSDUCER_SWAP:
            first, rest = key.split(".", 1)
            key = f"{TRANSDUCER_SWAP[first]}.{rest}"
        new_key = convert_key(key, tensor, unused)
        if new_key is not None:
            converted[new_key] = tensor
    return converted


PUBLISHED_WAV2VEC2 = {
    "CNN.ckpt": "frontend",
    "latent_encoder.ckpt": "context_encoder",
    "target_quantiser.ckpt": "quantiser",
    "feat_proj.ckpt": "prediction_head",
}
"""The published pre-training checkpoint's files and the parts of our ``Wav2Vec2Pretrainer`` they hold."""


def load_original_wav2vec2(checkpoint_folder, pretrainer):
    """Loads a published wav2vec 2.0 pre-training checkpoint into ``pretrainer``.

    Arguments
    ---------
    checkpoint_folder : str
        A published checkpoint folder (``CKPT+...``) with the files of :data:`PUBLISHED_WAV2VEC2`.
    pretrainer : summarymixing.wav2vec2.Wav2Vec2Pretrainer
        Our model of the same configuration (e.g. ``hparams/wav2vec2/conformer_summarymixing_librilight.yaml``).

    Raises
    ------
    FileNotFoundError
        A file is missing (named).
    ValueError
        A file's tensors do not match the part they belong to (file, missing and unexpected names).
    """
    for file_name, part in PUBLISHED_WAV2VEC2.items():
        path = os.path.join(checkpoint_folder, file_name)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path}: a published wav2vec 2.0 checkpoint folder holds {sorted(PUBLISHED_WAV2VEC2)}"
            )
        module = getattr(pretrainer, part)
        state = convert_original_checkpoint(read_state_dict(path))
        missing, unexpected = module.load_state_dict(state, strict=False)
        # the published front end leaves the filterbank outside the CNN; ours holds its constant buffers
        missing = [key for key in missing if not key.startswith("fbank.")]
        if missing or unexpected:
            raise ValueError(f"{path} does not match our {part}: missing {missing}, unexpected {unexpected}")


PUBLISHED_CELL_PARTS = (*BRANCH_NAMES, "global_proj", "summary_local_merging")
"""The names that only a published SummaryMixing cell's tensors carry."""


def read_state_dict(path):
    """A state_dict (names -> tensors) read from ``path`` with ``weights_only=True`` (no pickled code runs).

    Raises
    ------
    ValueError
        ``path`` is not a file PyTorch saved, or holds something else than a state_dict (what it holds named).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises a different error for each kind of foreign file
        raise ValueError(f"{path} is not a checkpoint PyTorch saved ({type(error).__name__}: {error})") from None
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path} holds a {type(state_dict).__name__}, not a state_dict (names -> tensors)")
    return state_dict


def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert a checkpoint of the published SummaryMixing code.")
    parser.add_argument("source", help="a published model's state_dict (.ckpt)")
    parser.add_argument("destination", help="where to write the converted state_dict")
    parser.add_argument("--transducer", action="store_true", help="a transducer's model list (swap CTC / output)")
    args = parser.parse_args(argv)
    if os.path.isdir(args.destination):
        parser.error(f"{args.destination} is a folder: give the file to write")
    try:
        state_dict = read_state_dict(args.source)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    published = sorted({part for key in state_dict for part in key.split(".") if part in PUBLISHED_CELL_PARTS})
    if not published:
        parser.error(
            f"{args.source} holds no tensor of the published SummaryMixing cell (names with "
            f"{', '.join(PUBLISHED_CELL_PARTS)}): nothing to convert; is it already converted, or another model?"
        )
    temporary = f"{args.destination}.partial-{os.getpid()}"
    torch.save(convert_original_checkpoint(state_dict, args.transducer), temporary)
    os.replace(temporary, args.destination)
    print(f"converted {len(state_dict)} tensors ({', '.join(published)}) into {args.destination}")


if __name__ == "__main__":
    main(sys.argv[1:])
