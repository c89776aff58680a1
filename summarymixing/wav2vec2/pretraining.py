"""The wav2vec 2.0 pre-training model: one module whose forward pass returns the objective.

One module (rather than one per piece) so that DDP wraps all trainable parameters in a single reducer, whose
gradient reductions run in one fixed order whatever layers layerdrop skips.
"""

import torch


class Wav2Vec2Pretrainer(torch.nn.Module):
    """Runs the model on a masked batch and returns the objective and its statistics.

    The front end's latent frames feed both the context encoder (masked frames replaced) and the quantiser
    (targets at the masked frames); the context output at the masked frames is projected by
    ``prediction_head`` and scored against the targets by ``loss_fn``. The pieces keep their own identity (the
    checkpoints save ``frontend`` and ``context_encoder`` separately).

    Arguments
    ---------
    frontend : torch.nn.Module
        :class:`summarymixing.wav2vec2.MelCNNFrontEnd` (or a module with the same call).
    context_encoder : torch.nn.Module
        :class:`summarymixing.wav2vec2.ContextEncoder`.
    quantiser : torch.nn.Module
        ``speechbrain.lobes.models.wav2vec.W2VTargetQuantiser``: returns ``(targets, meta)``.
    prediction_head : torch.nn.Module
        Projection of the context output to the target dimension.
    loss_fn : torch.nn.Module
        :class:`summarymixing.wav2vec2.Wav2Vec2Loss`.

    Example
    -------
    >>> import torch
    >>> from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
    >>> from speechbrain.lobes.models.wav2vec import W2VTargetQuantiser
    >>> from summarymixing.wav2vec2 import ContextEncoder, MaskingCollate, MelCNNFrontEnd, Wav2Vec2Loss
    >>> frontend = MelCNNFrontEnd(channels=(16, 16))
    >>> conformer = ConformerEncoder(1, 16, 32, 2, attention_type="regularMHA", output_hidden_states=True)
    >>> context = ContextEncoder(16, 16, conformer)
    >>> quantiser = W2VTargetQuantiser(in_dim=16, out_dim=8, num_vars=4)
    >>> head = torch.nn.Linear(16, 8)
    >>> collate = MaskingCollate(frontend.frame_counter, 0.65, 4)
    >>> batch = collate([{"id": "a", "sig": torch.randn(8000)}, {"id": "b", "sig": torch.randn(6000)}])
    >>> model = Wav2Vec2Pretrainer(frontend, context, quantiser, head, Wav2Vec2Loss(num_negatives=3))
    >>> stats = model(batch.sig.data, batch.sig.lengths, batch.mask.data)
    >>> stats["loss"].shape, 0.0 <= float(stats["accuracy"]) <= 1.0
    (torch.Size([]), True)
    """

    def __init__(self, frontend, context_encoder, quantiser, prediction_head, loss_fn):
        super().__init__()
        self.frontend = frontend
        self.context_encoder = context_encoder
        self.quantiser = quantiser
        self.prediction_head = prediction_head
        self.loss_fn = loss_fn

    def forward(self, wavs, wav_lens, mask):
        """Computes the objective.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[B, samples]`` padded waveforms.
        wav_lens : torch.Tensor
            Relative lengths.
        mask : torch.Tensor
            Bool ``[B, T]`` masks from :class:`summarymixing.wav2vec2.MaskingCollate`, the same number of masked
            frames in every utterance.

        Returns
        -------
        stats : dict
            The entries of :class:`summarymixing.wav2vec2.Wav2Vec2Loss` plus ``code_perplexity``,
            ``prob_perplexity`` and ``temperature`` of the quantiser.
        """
        latents, frame_lens = self.frontend(wavs, wav_lens)
        if mask.shape != latents.shape[:2]:
            raise ValueError(
                f"mask shape {tuple(mask.shape)} does not match the front end's frames {tuple(latents.shape[:2])}: "
                "compute masks with the front end's frame_counter"
            )
        masked_per_utterance = mask.sum(dim=1)
        if not bool((masked_per_utterance == masked_per_utterance[0]).all()):
            raise ValueError(
                f"every utterance needs the same number of masked frames, got {masked_per_utterance.tolist()}"
            )
        batch_size, num_masked = mask.shape[0], int(masked_per_utterance[0])
        output, _ = self.context_encoder(latents, frame_lens, mask)
        predictions = self.prediction_head(output[mask]).view(batch_size, num_masked, -1)
        targets, meta = self.quantiser(latents[mask].view(batch_size, num_masked, -1))
        stats = self.loss_fn(predictions, targets, meta["diversity_loss"])
        stats["code_perplexity"] = meta["code_perplex"]
        stats["prob_perplexity"] = meta["prob_perplex"]
        stats["temperature"] = meta["temp"]
        return stats
