"""The scorers of the joint CTC / attention beam search.

Authors
-------
* The summarymixing contributors (2026)
"""

from speechbrain.decoders import scorer


class ScorerBuilder(scorer.ScorerBuilder):
    """SpeechBrain's ``ScorerBuilder`` without the full scorers whose weight is 0.

    SpeechBrain's runs every scorer it is given, weighted 0 or not: a CTC scorer at weight 0 still costs its prefix
    scoring, and fails outright when a hypothesis may be longer than the encoder output (direct SLU writes more
    tokens than there are 40 ms frames). So a YAML can switch a scorer off with its weight alone.

    Arguments are SpeechBrain's.

    Example
    -------
    >>> import torch
    >>> ctc = scorer.CTCScorer(ctc_fc=torch.nn.Linear(4, 5), blank_index=0, eos_index=2)
    >>> sorted(ScorerBuilder(weights={"ctc": 0.4}, full_scorers=[ctc]).full_scorers)
    ['ctc']
    >>> ScorerBuilder(weights={"ctc": 0.0}, full_scorers=[ctc]).full_scorers
    {}
    """

    def __init__(self, weights=None, full_scorers=(), partial_scorers=(), scorer_beam_scale=2):
        weights = dict(weights or {})
        kept = []
        for full_scorer in full_scorers:
            name = type(full_scorer).__name__.lower().split("scorer")[0]
            if weights.get(name, 0.0) == 0.0:
                weights.pop(name, None)
            else:
                kept.append(full_scorer)
        super().__init__(weights, kept, list(partial_scorers), scorer_beam_scale)
