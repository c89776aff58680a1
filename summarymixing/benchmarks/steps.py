"""What the benchmarks of recipe training steps share: a ready recipe ``Brain``, batches of random speech and
tokens, a matmul FLOP counter, and relative changes.

Authors
-------
* The summarymixing contributors (2026)
"""

import os

import torch
from speechbrain import Stage
from speechbrain.dataio.batch import PaddedBatch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from summarymixing import experiment
from summarymixing.benchmarks.timing import NoMixer

SAMPLE_RATE = 16000
TOKENS_PER_SECOND = 4
"""About LibriSpeech's rate of unigram tokens for vocabularies of 1000 to 5000 pieces."""


def paper_brain(brain_class, hparams_file, model_key, target, output_folder, no_mixer=False):
    """The recipe ``Brain`` of a paper YAML (``hparams_file``, its model under ``model_key``) on ``target``, ready
    to fit batches (:func:`ready_brain`); with ``no_mixer``, every encoder layer's mixer is a
    :class:`~summarymixing.benchmarks.timing.NoMixer`."""
    if not os.path.isfile(hparams_file):
        raise SystemExit(f"{hparams_file} not found: the benchmark reads the paper YAMLs of a source checkout")
    hparams = experiment.load(hparams_file, {"data_folder": "/nonexistent", "output_folder": output_folder})
    if no_mixer:
        for layer in hparams[model_key]["Transformer"].encoder.layers:
            layer.mha_layer = NoMixer()
    return ready_brain(brain_class, hparams, target)


def ready_brain(brain_class, hparams, target, opt_key="opt_class", **run_options):
    """A recipe's ``Brain`` on ``target``, ready to fit batches: optimiser created, modules compiled if asked,
    first epoch, no checkpointer."""
    brain = brain_class(
        modules=hparams["modules"], opt_class=hparams[opt_key], hparams=hparams,
        run_opts={**target.run_options(), **run_options}, checkpointer=None,
    )  # fmt: skip
    brain.on_fit_start()
    hparams["epoch_counter"].current = 1
    brain.on_stage_start(Stage.TRAIN, 1)
    return brain


def speech_batch(batch, seconds, vocabulary, bos_index, eos_index=None):
    """``batch`` utterances of random audio of ``seconds`` with random targets of :data:`TOKENS_PER_SECOND`, as
    the ASR recipes' data loaders give them (``tokens_eos`` too with ``eos_index``).

    Example
    -------
    >>> batch = speech_batch(2, 1.5, 100, bos_index=1, eos_index=2)
    >>> batch.sig.data.shape, batch.tokens_bos.data.shape, batch.tokens_eos.data[0, -1].item()
    (torch.Size([2, 24000]), torch.Size([2, 7]), 2)
    """
    generator = torch.Generator().manual_seed(0)
    num_tokens = max(1, int(seconds * TOKENS_PER_SECOND))
    examples = []
    for index in range(batch):
        tokens = torch.randint(3, vocabulary, (num_tokens,), generator=generator)
        example = {
            "id": str(index),
            "sig": 0.1 * torch.randn(int(seconds * SAMPLE_RATE), generator=generator),
            "tokens_bos": torch.nn.functional.pad(tokens, (1, 0), value=bos_index),
            "tokens": tokens,
        }
        if eos_index is not None:
            example["tokens_eos"] = torch.nn.functional.pad(tokens, (0, 1), value=eos_index)
        examples.append(example)
    return PaddedBatch(examples)


class MatmulFlopCounter(TorchDispatchMode):
    """Counts the FLOPs of the matmuls, convolutions and attention kernels run while it is active, with the
    formulas of ``torch.utils.flop_counter`` (other operations count zero). Unlike ``FlopCounterMode``, it tracks
    no modules, so it also counts inside custom autograd functions that recompute in their backward pass.

    Example
    -------
    >>> with MatmulFlopCounter() as counter:
    ...     _ = torch.ones(3, 4) @ torch.ones(4, 5)
    >>> counter.flops
    120
    """

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def step_matmul_flops(step):
    """Matmul, convolution and attention FLOPs of one run of ``step``."""
    with MatmulFlopCounter() as counter:
        step()
    return counter.flops


def change(new, old):
    """Relative change of ``new`` against ``old`` in percent.

    Example
    -------
    >>> change(75.0, 100.0)
    -25.0
    """
    return 100 * (new / old - 1)
