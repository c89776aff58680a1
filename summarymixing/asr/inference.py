"""Loading a CTC + attention run folder as SpeechBrain's ``EncoderDecoderASR``, after checking its YAML.

Authors
-------
* The summarymixing contributors (2026)
"""

import os

from speechbrain.inference.ASR import EncoderDecoderASR

from summarymixing.run_folder import check_yaml_code


def load_asr(folder, savedir=None, allow_any_code=False, run_opts=None):
    """The ``EncoderDecoderASR`` of a run folder of ``recipes/asr/train.py``.

    Arguments
    ---------
    folder : str
        The run folder (``inference.yaml``, ``asr.ckpt``, ``normalizer.ckpt``, ``tokenizer.ckpt``, maybe
        ``lm.ckpt``).
    savedir : str, optional
        Where SpeechBrain gathers the files (default ``<folder>/inference``).
    allow_any_code : bool
        Load a YAML that builds objects outside torch, SpeechBrain, sentencepiece and summarymixing (only for
        folders you trust; see :mod:`summarymixing.run_folder`).
    run_opts : dict, optional
        SpeechBrain run options, e.g. ``{"device": "cuda"}``.

    Returns
    -------
    speechbrain.inference.ASR.EncoderDecoderASR
    """
    path = os.path.join(folder, "inference.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: not a run folder of recipes/asr/train.py (or an unfinished one)")
    check_yaml_code(path, allow_any_code)
    return EncoderDecoderASR.from_hparams(
        source=os.path.abspath(folder), hparams_file="inference.yaml",
        savedir=savedir or os.path.join(folder, "inference"), run_opts=run_opts,
    )  # fmt: skip
