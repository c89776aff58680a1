"""Loading a keyword-spotting run folder as SpeechBrain's ``EncoderClassifier``, after checking it.

Authors
-------
* The summarymixing contributors (2026)
"""

from speechbrain.inference.classifiers import EncoderClassifier

from summarymixing.run_folder import CheckedAudio, load_inference


class RunFolderClassifier(CheckedAudio, EncoderClassifier):
    """SpeechBrain's ``EncoderClassifier`` that refuses audio it cannot classify (see
    :class:`summarymixing.run_folder.CheckedAudio`)."""


def load_classifier(folder, savedir=None, allow_any_code=False, run_opts=None):
    """The ``EncoderClassifier`` of a run folder of ``recipes/kws/train.py``: ``classify_file(path)`` gives the
    log-probabilities, the best score, its index and its label.

    The folder must be an export of the recipe whose files are unchanged (its ``export.json``), and its YAML may
    build only what our recipes build (see :mod:`summarymixing.run_folder`).

    Arguments
    ---------
    folder : str
        The run folder (``inference.yaml``, ``embedding_model.ckpt``, ``classifier.ckpt``, ``mean_var_norm.ckpt``,
        ``label_encoder.ckpt``, ``export.json``).
    savedir : str, optional
        Where SpeechBrain gathers the files (default ``<folder>/inference``).
    allow_any_code : bool
        Load a YAML that builds objects our recipes do not build (only for folders you trust).
    run_opts : dict, optional
        SpeechBrain run options, e.g. ``{"device": "cuda"}``.

    Returns
    -------
    RunFolderClassifier
    """
    return load_inference(RunFolderClassifier, folder, "EncoderClassifier", savedir, allow_any_code, run_opts)
