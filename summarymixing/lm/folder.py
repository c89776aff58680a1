"""A language model run folder, self-describing: ``lm.yaml`` (the model's definition with the run's values),
``lm.ckpt`` (its weights) and ``tokenizer.ckpt`` (the SentencePiece model it reads), as ``recipes/lm/train.py``
exports them. The transducer recipe and ``transcribe.py`` load the RNN LM of their shallow fusion from such a folder.

Authors
-------
* The summarymixing contributors (2026)
"""

import filecmp
import os

import torch
from hyperpyyaml import load_hyperpyyaml

from summarymixing.run_folder import check_export, check_yaml_code

LM_FILES = ("lm.yaml", "lm.ckpt", "tokenizer.ckpt")


def load_lm_folder(folder, tokenizer_file=None, allow_any_code=False):
    """Builds the LM of a run folder from its ``lm.yaml`` and loads its weights, in evaluation mode.

    Arguments
    ---------
    folder : str
        An LM run folder (``output_folder`` of ``recipes/lm/train.py``).
    tokenizer_file : str, optional
        The SentencePiece model of the ASR model the LM is for: the LM's ``tokenizer.ckpt`` must be this file
        (byte for byte), or its token ids would mean other pieces.
    allow_any_code : bool
        Load ``lm.yaml`` without checking which code it names (a trusted folder).

    Returns
    -------
    torch.nn.Module
        The LM (``model`` of ``lm.yaml``), on the CPU.

    Raises
    ------
    FileNotFoundError
        A file of the folder is missing (named).
    ValueError
        The tokenizers differ, or the weights do not fit the definition (the message names the folder).
    """
    check_export(folder, "LM")
    for name in LM_FILES:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} not found: an LM folder is the output_folder of a finished recipes/lm/train.py run"
            )
    if tokenizer_file is not None and not filecmp.cmp(os.path.join(folder, "tokenizer.ckpt"), tokenizer_file, False):
        raise ValueError(
            f"{folder}/tokenizer.ckpt differs from {tokenizer_file}: train the LM with the ASR model's tokenizer "
            f"(recipes/lm/train.py ... --tokenizer_file={tokenizer_file})"
        )
    definition = os.path.join(folder, "lm.yaml")
    check_yaml_code(definition, allow_any_code)
    with open(definition, encoding="utf-8") as stream:
        model = load_hyperpyyaml(stream)["model"]
    try:
        state = torch.load(os.path.join(folder, "lm.ckpt"), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{folder}/lm.ckpt does not fit the model of {definition}: {error}") from error
    return model.eval()
