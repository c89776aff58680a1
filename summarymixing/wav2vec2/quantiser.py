"""Gumbel vector quantiser whose code vectors are looked up by a matrix product, not a broadcast.

SpeechBrain's ``GumbelVectorQuantizer`` turns the one-hot code choice ``[N, groups * num_vars]`` into code
vectors by broadcasting it against the codebook, ``[N, groups * num_vars, var_dim]``, and summing over the
codes. With the paper's 2 x 320 codes of 128 dimensions that is 330 KB per masked frame, built in the forward
pass and again (its gradient) in the backward pass, while every activation of the context encoder is still
held: about 0.3 GB per 10 s of masked speech at the top of a pre-training step's memory, the same for every
context encoder. :class:`MatmulGumbelVectorQuantiser` computes the same sum as one batched matrix product per
group, ``[groups, N, num_vars] x [groups, num_vars, var_dim]``, with the same parameters (so checkpoints are
interchangeable), the same random draws and the same statistics.
"""

import torch
import torch.nn.functional as F
from speechbrain.nnet.quantisers import GumbelVectorQuantizer


def perplexity(probs):
    """``exp`` of the entropy of each group's distribution over codes ``[groups, num_vars]``, summed over groups."""
    return torch.exp(-torch.sum(probs * torch.log(probs + 1e-7), dim=-1)).sum()


class MatmulGumbelVectorQuantiser(GumbelVectorQuantizer):
    """``speechbrain.nnet.quantisers.GumbelVectorQuantizer`` with the code vectors taken by a matrix product.

    Same arguments, parameters, temperature schedule and outputs as SpeechBrain's class; pass it as the
    ``quantiser`` of ``speechbrain.lobes.models.wav2vec.W2VTargetQuantiser``. In training, the code of each
    group is drawn by a straight-through hard Gumbel softmax; in evaluation it is the highest-scoring code.

    Arguments
    ---------
    input_dim : int
        Input channels.
    num_vars : int
        Codes per group.
    temp_tuple : tuple
        Gumbel temperature ``(start, floor, decay per step)``.
    groups : int
        Number of codebooks, whose chosen vectors are concatenated.
    vq_dim : int
        Dimension of the quantised vector (``groups`` times the code dimension).

    Example
    -------
    >>> quantiser = MatmulGumbelVectorQuantiser(16, 10, (2.0, 0.5, 0.999), 2, 8)
    >>> result = quantiser(torch.randn(3, 5, 16))
    >>> result["x"].shape, result["num_vars"]
    (torch.Size([3, 5, 8]), 20)
    """

    def forward(self, x):
        """Quantises ``x`` ``[B, T, input_dim]``.

        Returns
        -------
        result : dict
            ``x`` (the quantised vectors ``[B, T, vq_dim]``), ``num_vars`` (codes in all groups), ``temp``
            (current Gumbel temperature), ``code_perplexity`` (of the chosen codes) and ``prob_perplex`` (of
            the average code probabilities), as SpeechBrain's ``GumbelVectorQuantizer`` returns them.
        """
        batch_size, num_frames, channels = x.shape
        logits = self.weight_proj(x.reshape(-1, channels)).view(-1, self.num_vars)
        best = logits.max(dim=-1).indices
        one_hot = torch.zeros_like(logits).scatter_(-1, best.view(-1, 1), 1.0)
        grouped_probs = torch.softmax(logits.view(-1, self.groups, self.num_vars).float(), dim=-1)
        result = {
            "num_vars": self.num_vars * self.groups,
            "temp": self.curr_temp,
            "code_perplexity": perplexity(one_hot.view(-1, self.groups, self.num_vars).float().mean(dim=0)),
            "prob_perplex": perplexity(grouped_probs.mean(dim=0)),
        }
        if self.training:
            one_hot = F.gumbel_softmax(logits.float(), tau=self.curr_temp, hard=True).type_as(logits)
        choice = one_hot.view(-1, self.groups, self.num_vars).transpose(0, 1)
        codebooks = self.vars.view(self.groups, self.num_vars, -1)
        vectors = torch.bmm(choice, codebooks)
        result["x"] = vectors.transpose(0, 1).reshape(batch_size, num_frames, -1)
        return result
