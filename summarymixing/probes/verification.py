"""Speaker-verification scoring for the VoxCeleb1 probe: cosine scores on trial pairs, EER and minDCF.

Authors
 * SummaryMixing contributors 2026
"""

import torch
from speechbrain.utils.metric_stats import EER, minDCF


def read_trials(path):
    """Reads a VoxCeleb trial list: one ``<label> <enrol wav> <test wav>`` line per trial.

    Arguments
    ---------
    path : str
        The trial list, e.g. ``veri_test2.txt``; ``label`` is 1 (same speaker) or 0.

    Returns
    -------
    list of tuple
        ``(label, enrol_id, test_id)`` with ids as the wav paths without extension.
    """
    trials = []
    with open(path, encoding="utf-8") as trial_file:
        for line_number, line in enumerate(trial_file, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3 or fields[0] not in ("0", "1"):
                raise ValueError(f"{path}:{line_number}: expected '<0|1> <enrol wav> <test wav>', got {line!r}")
            trials.append((int(fields[0]), _utterance_id(fields[1]), _utterance_id(fields[2])))
    if not trials:
        raise ValueError(f"{path}: the trial list is empty")
    return trials


def _utterance_id(wav_path):
    """Maps ``id10270/5r0dWxy17C8/00001.wav`` to ``id10270/5r0dWxy17C8/00001``."""
    return wav_path.rsplit(".", 1)[0]


def cosine_scores(trials, embeddings):
    """Scores every trial by the cosine similarity of its two embeddings.

    Arguments
    ---------
    trials : list of tuple
        ``(label, enrol_id, test_id)``.
    embeddings : dict
        Maps an utterance id to its embedding (a 1-D tensor).

    Returns
    -------
    positive_scores : torch.Tensor
        Scores of the same-speaker trials.
    negative_scores : torch.Tensor
        Scores of the different-speaker trials.

    Example
    -------
    >>> embeddings = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([2.0, 0.1]),
    ...               "c": torch.tensor([0.0, 1.0])}
    >>> positive, negative = cosine_scores([(1, "a", "b"), (0, "a", "c")], embeddings)
    >>> positive.round(decimals=3), negative
    (tensor([0.9990]), tensor([0.]))
    """
    missing = sorted({uid for _, *pair in trials for uid in pair} - embeddings.keys())
    if missing:
        raise KeyError(f"no embedding for {len(missing)} trial utterances, e.g. {missing[:3]}")
    labels = torch.tensor([label for label, _, _ in trials], dtype=torch.bool)
    enrol = torch.stack([embeddings[enrol_id] for _, enrol_id, _ in trials])
    test = torch.stack([embeddings[test_id] for _, _, test_id in trials])
    scores = torch.nn.functional.cosine_similarity(enrol.float(), test.float(), dim=-1)
    return scores[labels], scores[~labels]


def verification_metrics(positive_scores, negative_scores, p_target=0.01):
    """Returns the EER (percent) and the minDCF of verification scores.

    The minDCF is SpeechBrain's (``c_miss = c_fa = 1``, not divided by the cost of the best trivial
    system), so it is comparable with SpeechBrain's speaker-verification recipes.

    Arguments
    ---------
    positive_scores : torch.Tensor
        Scores of the same-speaker trials.
    negative_scores : torch.Tensor
        Scores of the different-speaker trials.
    p_target : float
        Prior of a target trial for the minDCF (0.01 as in the VoxCeleb evaluations).

    Returns
    -------
    dict
        ``{"EER": percent, "minDCF": value}``.

    Example
    -------
    >>> metrics = verification_metrics(torch.tensor([0.9, 0.8]), torch.tensor([0.1, 0.85]))
    >>> metrics["EER"], round(metrics["minDCF"], 4)
    (50.0, 0.005)
    """
    if len(positive_scores) == 0 or len(negative_scores) == 0:
        raise ValueError(
            "verification needs both same-speaker and different-speaker trials, got "
            f"{len(positive_scores)} and {len(negative_scores)}"
        )
    eer, _ = EER(positive_scores, negative_scores)
    min_dcf, _ = minDCF(positive_scores, negative_scores, p_target=p_target)
    return {"EER": 100.0 * float(eer), "minDCF": float(min_dcf)}
