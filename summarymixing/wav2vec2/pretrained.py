"""Loading a pre-trained wav2vec 2.0 run as a module that returns every hidden layer (for MP3S probes).

A run folder is the ``output_folder`` of ``recipes/wav2vec2/train.py``: its ``hyperparams.yaml`` (written by
SpeechBrain with every reference resolved) defines the ``frontend`` and ``context_encoder`` keys, and
``save/CKPT+*/`` hold their weights as ``frontend.ckpt`` and ``context_encoder.ckpt``. Only those two entries
of the YAML are built (so nothing else in it, such as a checkpointer pointing at the original machine's
folders, is created) and the run folder may be moved.
"""

import io
import os

import ruamel.yaml
import torch
from hyperpyyaml import load_hyperpyyaml
from ruamel.yaml.nodes import MappingNode
from speechbrain.utils.checkpoints import Checkpointer

from summarymixing.run_folder import check_yaml_code

PRETRAINED_KEYS = ("frontend", "context_encoder")


class PretrainedWav2Vec2(torch.nn.Module):
    """A pre-trained front end and context encoder giving all hidden layers.

    Layerdrop is switched off so that every call returns ``num_hidden`` layers. When frozen, the parameters do
    not require gradients, the module stays in eval mode even if ``train()`` is called on it (as a Brain does
    on its modules) and the forward pass runs without building a graph.

    Arguments
    ---------
    frontend : torch.nn.Module
        :class:`summarymixing.wav2vec2.MelCNNFrontEnd`.
    context_encoder : torch.nn.Module
        :class:`summarymixing.wav2vec2.ContextEncoder`.
    freeze : bool
        Whether to freeze the parameters.

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
    >>> from summarymixing.wav2vec2 import ContextEncoder, MelCNNFrontEnd
    >>> conformer = ConformerEncoder(2, 16, 32, 2, attention_type="regularMHA", output_hidden_states=True)
    >>> model = PretrainedWav2Vec2(MelCNNFrontEnd(channels=(16, 16)), ContextEncoder(16, 16, conformer))
    >>> hidden = model(torch.randn(2, 16000), torch.tensor([1.0, 0.7]))
    >>> hidden.shape, model.num_hidden, model.hidden_size, hidden.requires_grad
    (torch.Size([3, 2, 48, 16]), 3, 16, False)
    """

    def __init__(self, frontend, context_encoder, freeze=True):
        super().__init__()
        self.frontend = frontend
        self.context_encoder = context_encoder
        self.context_encoder.latent_encoder.layerdrop_prob = 0.0
        self.num_hidden = len(context_encoder.latent_encoder.layers) + 1
        self.hidden_size = context_encoder.mask_emb.numel()
        self.freeze = freeze
        if freeze:
            self.requires_grad_(False)
        self.train(not freeze)

    def train(self, mode=True):
        """Sets the training mode; a frozen model always stays in eval mode."""
        return super().train(mode and not self.freeze)

    def forward(self, wavs, wav_lens=None):
        """Returns the hidden layers.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[B, samples]`` 16 kHz waveforms, right-padded.
        wav_lens : torch.Tensor, optional
            Relative lengths in ``(0, 1]`` (all full when ``None``); they remain the relative lengths of the
            output frames.

        Returns
        -------
        hidden_states : torch.Tensor
            ``[num_hidden, B, T, hidden_size]`` with 20 ms frames: index 0 is the context encoder's input (the
            projected front-end frames), index ``i`` the output of layer ``i``; the last one is the last
            layer's output before the encoder's final LayerNorm (SpeechBrain's hidden-state convention).
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            latents, frame_lens = self.frontend(wavs, wav_lens)
            _, hidden_states = self.context_encoder(latents, frame_lens)
        return hidden_states


def load_yaml_entries(resolved_yaml, keys):
    """Builds only the top-level ``keys`` of a resolved HyperPyYAML document (and what they reference).

    The document must have its ``!ref`` references resolved already (``hyperpyyaml.resolve_references``, or the
    ``hyperparams.yaml`` that SpeechBrain saves in a run folder); the other entries are dropped before anything
    is built, so no data preparation, checkpointer or logger of the file is created.

    Arguments
    ---------
    resolved_yaml : str
        The resolved HyperPyYAML document.
    keys : sequence of str
        Top-level keys to build.

    Returns
    -------
    dict
        ``{key: built object}``.

    Example
    -------
    >>> text = "layer: !new:torch.nn.Linear [3, 2]\\nlog: !new:logging.FileHandler [/x/y]\\n"
    >>> load_yaml_entries(text, ["layer"])["layer"]
    Linear(in_features=3, out_features=2, bias=True)
    """
    yaml = ruamel.yaml.YAML()
    root = yaml.compose(resolved_yaml)
    entries = [(key, value) for key, value in root.value if key.value in keys]
    missing = set(keys) - {key.value for key, _ in entries}
    if missing:
        raise KeyError(f"no {sorted(missing)} entries in the YAML")
    subset = io.StringIO()
    yaml.serialize(MappingNode(root.tag, entries), subset)
    return load_hyperpyyaml(subset.getvalue())


def load_pretrained(run_folder, freeze=True, min_key=None, allow_any_code=False):
    """Loads a pre-trained run's front end and context encoder as a module returning all hidden layers.

    Arguments
    ---------
    run_folder : str or path
        The ``output_folder`` of a ``recipes/wav2vec2/train.py`` run (holds ``hyperparams.yaml`` and ``save/``).
    freeze : bool
        True: no gradients, always in eval mode (MP3S probing). False: fine-tunable.
    min_key : str, optional
        Pick the checkpoint with the lowest value of this metric (e.g. ``"loss"``, the validation loss);
        the latest checkpoint when ``None``.
    allow_any_code : bool
        Load the run folder's YAML without checking it against the callables our recipes build
        (:func:`summarymixing.run_folder.check_yaml_code`): only for a folder you trust.

    Returns
    -------
    model : PretrainedWav2Vec2
        ``model(wavs, wav_lens=None)`` -> ``[model.num_hidden, B, T, model.hidden_size]``.
    """
    hparams_file = os.path.join(run_folder, "hyperparams.yaml")
    save_folder = os.path.join(run_folder, "save")
    if not os.path.isfile(hparams_file) or not os.path.isdir(save_folder):
        raise FileNotFoundError(
            f"{run_folder} is not a wav2vec2 pre-training run folder: expected hyperparams.yaml and save/"
        )
    check_yaml_code(hparams_file, allow_any_code)
    with open(hparams_file, encoding="utf-8") as stream:
        try:
            modules = load_yaml_entries(stream.read(), PRETRAINED_KEYS)
        except KeyError as error:
            raise KeyError(f"{hparams_file}: {error}; is it a wav2vec2 pre-training run?") from error
    checkpoint = Checkpointer(save_folder).find_checkpoint(min_key=min_key)
    if checkpoint is None:
        raise FileNotFoundError(f"no checkpoint in {save_folder}" + (f" with metric {min_key!r}" if min_key else ""))
    for key in PRETRAINED_KEYS:
        if key not in checkpoint.paramfiles:
            raise FileNotFoundError(f"checkpoint {checkpoint.path} has no {key}.ckpt")
        try:
            state = torch.load(checkpoint.paramfiles[key], map_location="cpu", weights_only=True)
            modules[key].load_state_dict(state)
        except Exception as error:  # a truncated file, another model: torch's errors vary by kind
            raise ValueError(
                f"{checkpoint.paramfiles[key]} cannot be loaded into the {key} of {hparams_file} "
                f"({type(error).__name__}: {str(error).splitlines()[0]})"
            ) from None
    return PretrainedWav2Vec2(modules["frontend"], modules["context_encoder"], freeze=freeze)
