"""wav2vec 2.0 self-supervised pre-training with a SummaryMixing Conformer context encoder (arXiv 2407.13377).

Pieces (each tested in its module): :class:`MelCNNFrontEnd` (filterbanks + CNN, 20 ms frames) with its exact
:class:`FrameCounter`; :class:`MaskingCollate` / :func:`compute_span_mask` (masks drawn in the data loader for
the frames the front end will produce); :class:`ContextEncoder` (projection, mask embedding, encoder with
hidden states); :class:`Wav2Vec2Loss` (contrastive + diversity); :class:`Wav2Vec2Pretrainer` (the whole
pre-training model as one module, so DDP reduces its gradients in one fixed order). The quantiser is
SpeechBrain's ``W2VTargetQuantiser`` around :class:`MatmulGumbelVectorQuantiser` (SpeechBrain's Gumbel quantiser
without its ``[N, codes, dim]`` broadcast). The recipe is
``recipes/wav2vec2/train.py``.

Downstream use (MP3S probes)::

    from summarymixing.wav2vec2 import load_pretrained
    ssl = load_pretrained("results/wav2vec2/mini", freeze=True)
    hidden = ssl(wavs, wav_lens)  # [ssl.num_hidden, B, T, ssl.hidden_size], 20 ms frames

``hidden[0]`` is the encoder input, ``hidden[i]`` the output of layer ``i`` (the last one before the encoder's
final LayerNorm). A mini pre-trained run folder for tests takes a few seconds on a CPU::

    python recipes/wav2vec2/train.py hparams/wav2vec2/mini.yaml \\
        --output_folder=<tmp>/w2v2 --data_folder=<tmp>/data --optimizer_step_limit=20

(then ``load_pretrained("<tmp>/w2v2")``).
"""

from summarymixing.wav2vec2.context_encoder import ContextEncoder
from summarymixing.wav2vec2.frontend import FrameCounter, MelCNNFrontEnd
from summarymixing.wav2vec2.loss import Wav2Vec2Loss
from summarymixing.wav2vec2.masking import MaskingCollate, compute_span_mask
from summarymixing.wav2vec2.pretrained import PretrainedWav2Vec2, load_pretrained
from summarymixing.wav2vec2.pretraining import Wav2Vec2Pretrainer
from summarymixing.wav2vec2.quantiser import MatmulGumbelVectorQuantiser

__all__ = [
    "ContextEncoder",
    "FrameCounter",
    "MaskingCollate",
    "MatmulGumbelVectorQuantiser",
    "MelCNNFrontEnd",
    "PretrainedWav2Vec2",
    "Wav2Vec2Loss",
    "Wav2Vec2Pretrainer",
    "compute_span_mask",
    "load_pretrained",
]
