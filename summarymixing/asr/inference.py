"""Loading a CTC + attention run folder as SpeechBrain's ``EncoderDecoderASR``, after checking its YAML.

Authors
-------
* The summarymixing contributors (2026)
"""

from speechbrain.inference.ASR import EncoderDecoderASR

from summarymixing.run_folder import load_inference


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
    return load_inference(EncoderDecoderASR, folder, "recipes/asr/train.py", savedir, allow_any_code, run_opts)
