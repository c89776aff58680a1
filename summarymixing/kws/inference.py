"""Loading a keyword-spotting run folder as SpeechBrain's ``EncoderClassifier``, after checking its YAML.

Authors
-------
* The summarymixing contributors (2026)
"""

from speechbrain.inference.classifiers import EncoderClassifier

from summarymixing.run_folder import load_inference


def load_classifier(folder, savedir=None, allow_any_code=False, run_opts=None):
    """The ``EncoderClassifier`` of a run folder of ``recipes/kws/train.py``: ``classify_file(path)`` gives the
    log-probabilities, the best score, its index and its label.

    Arguments
    ---------
    folder : str
        The run folder (``inference.yaml``, ``embedding_model.ckpt``, ``classifier.ckpt``, ``mean_var_norm.ckpt``,
        ``label_encoder.ckpt``).
    savedir : str, optional
        Where SpeechBrain gathers the files (default ``<folder>/inference``).
    allow_any_code : bool
        Load a YAML that builds objects outside torch, SpeechBrain, sentencepiece and summarymixing (only for
        folders you trust; see :mod:`summarymixing.run_folder`).
    run_opts : dict, optional
        SpeechBrain run options, e.g. ``{"device": "cuda"}``.

    Returns
    -------
    speechbrain.inference.classifiers.EncoderClassifier
    """
    return load_inference(EncoderClassifier, folder, "recipes/kws/train.py", savedir, allow_any_code, run_opts)
