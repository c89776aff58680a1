"""Loading a CTC + attention (or direct SLU) run folder as SpeechBrain's ``EncoderDecoderASR``, after checking it.

Authors
-------
* The summarymixing contributors (2026)
"""

from speechbrain.inference.ASR import EncoderDecoderASR

from summarymixing.run_folder import CheckedAudio, load_inference


class RunFolderASR(CheckedAudio, EncoderDecoderASR):
    """SpeechBrain's ``EncoderDecoderASR`` that refuses audio it cannot transcribe (see
    :class:`summarymixing.run_folder.CheckedAudio`)."""


def load_asr(folder, savedir=None, allow_any_code=False, run_opts=None):
    """The ``EncoderDecoderASR`` of a run folder of ``recipes/asr/train.py`` or ``recipes/slu/train.py``.

    The folder must be an export of one of them whose files are unchanged (its ``export.json``), and its YAML
    may build only what our recipes build (see :mod:`summarymixing.run_folder`).

    Arguments
    ---------
    folder : str
        The run folder (``inference.yaml``, ``asr.ckpt``, ``normalizer.ckpt``, ``tokenizer.ckpt``, maybe
        ``lm.ckpt``, ``export.json``).
    savedir : str, optional
        Where SpeechBrain gathers the files (default ``<folder>/inference``).
    allow_any_code : bool
        Load a YAML that builds objects our recipes do not build (only for folders you trust).
    run_opts : dict, optional
        SpeechBrain run options, e.g. ``{"device": "cuda"}``.

    Returns
    -------
    RunFolderASR
    """
    return load_inference(RunFolderASR, folder, "EncoderDecoderASR", savedir, allow_any_code, run_opts)
