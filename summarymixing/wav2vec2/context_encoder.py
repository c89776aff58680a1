"""The wav2vec 2.0 context network around a SpeechBrain-style encoder that returns hidden states.

SpeechBrain's ``speechbrain.lobes.models.wav2vec.EncoderWrapper`` (which the published model uses) unpacks two
outputs from its encoder and so breaks with ``output_hidden_states=True``; this module is the same network (input
projection, input dropout, learned mask embedding, absolute sine positions added to the frames; SpeechBrain's
parameter names) and returns the hidden states as one tensor.
"""

import torch

from summarymixing.encoders.positional import StreamingPositionalEncoding


class ContextEncoder(torch.nn.Module):
    """Projects latent frames, replaces the masked ones by a learned embedding, adds absolute sine positions and
    runs the encoder.

    Arguments
    ---------
    input_size : int
        Channels of the latent frames (the front end's output).
    d_model : int
        Model dimension of ``encoder``.
    encoder : torch.nn.Module
        A SpeechBrain-style encoder built with ``output_hidden_states=True``, called as
        ``encoder(src, src_key_padding_mask=..., pos_embs=...)`` and returning
        ``(output, attention_list, hidden_state_list)``, e.g. ``summarymixing.ConformerEncoder``.
    input_dropout : float
        Dropout on the projected latent frames.
    relative_positional_encoding : torch.nn.Module, optional
        Module mapping the projected frames to ``pos_embs`` for the encoder (e.g.
        ``speechbrain.nnet.attention.RelPosEncXL`` for a ``RelPosMHAXL`` encoder); ``None`` otherwise.
    max_length : int
        Positions precomputed by the absolute encoding (longer inputs get theirs computed as needed).

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
    >>> from speechbrain.nnet.attention import RelPosEncXL
    >>> conformer = ConformerEncoder(2, 32, 64, 4, output_hidden_states=True)
    >>> context = ContextEncoder(48, 32, conformer, relative_positional_encoding=RelPosEncXL(32))
    >>> latents, mask = torch.randn(3, 20, 48), torch.zeros(3, 20, dtype=torch.bool)
    >>> output, hidden = context(latents, torch.tensor([20, 15, 9]), mask)
    >>> output.shape, hidden.shape
    (torch.Size([3, 20, 32]), torch.Size([3, 3, 20, 32]))
    """

    def __init__(
        self, input_size, d_model, encoder, input_dropout=0.1, relative_positional_encoding=None, max_length=2500
    ):
        super().__init__()
        if not getattr(encoder, "output_hidden_states", False):
            raise ValueError("ContextEncoder: build the encoder with output_hidden_states=True")
        self.input_projector = torch.nn.Linear(input_size, d_model)
        self.latent_encoder = encoder
        self.positional_encoding = StreamingPositionalEncoding(d_model, max_length)
        self.dropout_encoder_input = torch.nn.Dropout(input_dropout)
        self.mask_emb = torch.nn.Parameter(torch.empty(d_model).uniform_())
        self.relative_positional_encoding = relative_positional_encoding

    def forward(self, latents, frame_lens, mask=None):
        """Encodes latent frames.

        Arguments
        ---------
        latents : torch.Tensor
            ``[B, T, input_size]`` latent frames.
        frame_lens : torch.Tensor
            Absolute number of valid frames of each utterance.
        mask : torch.Tensor, optional
            Bool ``[B, T]``, True where the frame is replaced by the mask embedding.

        Returns
        -------
        output : torch.Tensor
            ``[B, T, d_model]``, the encoder's output (after its final LayerNorm).
        hidden_states : torch.Tensor
            ``[num_kept_layers + 1, B, T, d_model]``: the encoder input (projected, masked frames) then each
            layer's output, the last one before the encoder's final LayerNorm. Layers dropped by layerdrop
            during training are absent.
        """
        x = self.dropout_encoder_input(self.input_projector(latents))
        if mask is not None:
            if mask.shape != x.shape[:2]:
                raise ValueError(
                    f"ContextEncoder: mask shape {tuple(mask.shape)} does not match the latent frames "
                    f"{tuple(x.shape[:2])}: the masks were not computed for this front end"
                )
            x = torch.where(mask.unsqueeze(-1), self.mask_emb.to(x.dtype), x)
        x = x + self.positional_encoding(x)
        padding_mask = torch.arange(x.shape[1], device=x.device)[None, :] >= frame_lens.to(x.device)[:, None]
        pos_embs = None
        if self.relative_positional_encoding is not None:
            pos_embs = self.relative_positional_encoding(x)
        output, _, hidden_states = self.latent_encoder(x, src_key_padding_mask=padding_mask, pos_embs=pos_embs)
        return output, torch.stack(hidden_states)
