"""The streaming transducer of arXiv 2409.07165: loss, joint network, decoding and the streaming WER table.

- :mod:`~summarymixing.transducer.loss`: RNN-T loss with SpeechBrain's signature on CPU and GPU.
- :mod:`~summarymixing.transducer.joint`: the joint network, its output layer and the loss as one module.
- :mod:`~summarymixing.transducer.decoding`: greedy decoding, masked or streamed.
- :mod:`~summarymixing.transducer.wer_table`: the settings and files of the streaming WER table.
- :mod:`~summarymixing.transducer.detokenizer`: streaming SentencePiece detokenisation.
"""

from summarymixing.transducer.loss import transducer_loss

__all__ = ["transducer_loss"]
