"""Datasets of transcribed speech for the ASR recipes (transducer, CTC + attention): audio and token pipelines
over the CSV manifests that ``summarymixing.data`` writes, with SpeechBrain's sorting and dynamic batching.

Authors
-------
* The summarymixing contributors (2026)
"""

import os
import random
from dataclasses import dataclass

import speechbrain as sb
import torch


@dataclass
class JoinedUtterances:
    """Training examples that look like a stretch of a stream rather than one cut sentence: with probability
    ``join_prob`` an utterance is followed, after a pause, by another training utterance drawn at random (their
    transcripts joined), which is followed by another with the same probability, up to ``max_utterances``; and with
    probability ``leading_silence_prob`` silence comes before the first.

    A model trained only on utterances cut at the first word learns that speech starts at its first frame; in a
    stream, a segment starts in a pause, possibly after other speech. An option of ours for the recipes that
    stream (the mini transducer uses it), not a setting of the papers.

    Arguments
    ---------
    join_prob : float
        Probability that another utterance follows.
    max_utterances : int
        The most utterances in one example.
    pause_s : tuple of float
        The pause between them, drawn uniformly in (low, high) seconds.
    leading_silence_prob : float
        Probability of silence before the first utterance.
    leading_silence_s : tuple of float
        Its length, drawn uniformly in (low, high) seconds.
    """

    join_prob: float = 0.5
    max_utterances: int = 2
    pause_s: tuple = (0.2, 1.0)
    leading_silence_prob: float = 0.5
    leading_silence_s: tuple = (0.0, 0.6)

    def __post_init__(self):
        if isinstance(self.max_utterances, bool) or not isinstance(self.max_utterances, int) or self.max_utterances < 1:
            raise ValueError(
                f"JoinedUtterances: max_utterances must be a whole number >= 1, got {self.max_utterances!r}"
            )
        for name in ("join_prob", "leading_silence_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"JoinedUtterances: {name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("pause_s", "leading_silence_s"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise ValueError(f"JoinedUtterances: {name} must be (low, high) with 0 <= low <= high, got {low, high}")

    def silence(self, seconds_range, sample_rate):
        """Zeros of a random length in ``seconds_range``."""
        return torch.zeros(int(random.uniform(*seconds_range) * sample_rate))


SORTINGS = ("random", "ascending", "descending")


def speech_text_datasets(
    hparams, tokenizer, eos_index=None, text_column="wrd", ctc_text_column=None, speed_perturb=None, joined=None
):
    """The train, valid and test datasets of a recipe's manifests, and the train loader's options.

    Each item has ``id``, ``sig`` (the audio), ``wrd_words`` (the reference words), ``tokens_bos`` (``bos_index``
    then the tokens) and ``tokens``; with ``eos_index``, also ``tokens_eos`` (the tokens then ``eos_index``), the
    attention decoder's target. A manifest with ``start`` and ``stop`` columns (samples) lists segments of longer
    recordings (TED-LIUM's talks, ``summarymixing.data.tedlium2``): only the segment is read.

    Arguments
    ---------
    hparams : dict
        The recipe's hyperparameters: ``data_folder`` (replaces ``$data_root`` in the manifests), ``train_csv``,
        ``valid_csv``, ``test_csv`` (a list), ``sorting`` (random, ascending or descending by duration),
        ``avoid_if_longer_than`` (seconds), ``bos_index``, ``dynamic_batching``, ``dynamic_batch_sampler_train``,
        ``train_dataloader_opts``, ``num_workers``.
    tokenizer : sentencepiece.SentencePieceProcessor
        Turns a transcript into token ids.
    eos_index : int, optional
        The end-of-sentence token, for ``tokens_eos``.
    text_column : str
        The manifest column holding the target text (``wrd``; SLURP's ``semantics`` for direct SLU).
    ctc_text_column : str, optional
        Another column whose lower-cased text gives the items ``ctc_tokens``, which the CTC + attention recipe
        trains its CTC loss on instead of ``tokens`` (direct SLU: SLURP's upper-case ``transcript``, which follows
        the audio's order where the semantic frame does not).
    speed_perturb : callable, optional
        Applied to each training utterance as it is read (``[1, samples]`` in and out), e.g. SpeechBrain's
        ``SpeedPerturb``: each utterance gets its own random speed, as in SpeechBrain's CTC + attention recipes
        (its transducer recipe perturbs whole batches instead, with ``wav_augment``).
    joined : JoinedUtterances, optional
        Training examples joined with a random second utterance and led by silence (see the class).

    Returns
    -------
    train : DynamicItemDataset
    valid : DynamicItemDataset
    tests : dict
        ``{test set name (the manifest's file name): DynamicItemDataset}``.
    train_loader_options : dict
        ``train_dataloader_opts``, or the dynamic batch sampler's options.
    """
    if hparams["sorting"] not in SORTINGS:
        raise ValueError(f"sorting must be one of {SORTINGS}, got {hparams['sorting']!r}")

    def load(csv_path):
        return sb.dataio.dataset.DynamicItemDataset.from_csv(
            csv_path=csv_path, replacements={"data_root": hparams["data_folder"]}
        )

    longest = {"duration": hparams["avoid_if_longer_than"]}
    if hparams["sorting"] == "random":
        train = load(hparams["train_csv"]).filtered_sorted(key_max_value=longest)
    else:
        train = load(hparams["train_csv"]).filtered_sorted(
            sort_key="duration", reverse=hparams["sorting"] == "descending", key_max_value=longest
        )
        hparams["train_dataloader_opts"]["shuffle"] = False
    valid = load(hparams["valid_csv"]).filtered_sorted(sort_key="duration")
    tests = {
        os.path.splitext(os.path.basename(path))[0]: load(path).filtered_sorted(sort_key="duration")
        for path in hparams["test_csv"]
    }
    datasets = [train, valid, *tests.values()]

    def read(row, perturb=None):
        """A row's audio: the file or its segment (``start``, ``stop``), speed-perturbed by ``perturb``."""
        source = row["wav"] if "start" not in row else {"file": row["wav"], "start": int(row["start"]),
                                                        "stop": int(row["stop"])}  # fmt: skip
        signal = sb.dataio.dataio.read_audio(source)
        return signal if perturb is None else perturb(signal.unsqueeze(0)).squeeze(0)

    def audio_item(dataset, perturb):
        """The ``sig`` and ``target`` (the text) items of one dataset's utterances."""

        @sb.utils.data_pipeline.takes("id")
        @sb.utils.data_pipeline.provides("sig", "target")
        def utterance(uid):
            row = dataset.data[uid]
            yield read(row, perturb)
            yield row[text_column]

        return utterance

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("sig", "target")
    def joined_utterances(uid):
        """A training utterance, maybe led by silence and followed by a pause and another one (``joined``)."""
        rows, sample_rate = [train.data[uid]], hparams.get("sample_rate", 16000)
        pieces = []
        if random.random() < joined.leading_silence_prob:
            pieces.append(joined.silence(joined.leading_silence_s, sample_rate))
        while len(rows) < joined.max_utterances and random.random() < joined.join_prob:
            rows.append(train.data[random.choice(train.data_ids)])
        for index, row in enumerate(rows):
            if index:
                pieces.append(joined.silence(joined.pause_s, sample_rate))
            pieces.append(read(row, speed_perturb))
        yield torch.cat(pieces)
        yield " ".join(row[text_column] for row in rows)

    outputs = ["wrd_words", "tokens_list", "tokens_bos", "tokens"] + (["tokens_eos"] if eos_index is not None else [])

    @sb.utils.data_pipeline.takes("target")
    @sb.utils.data_pipeline.provides(*outputs)
    def text_pipeline(words):
        yield words.split(" ")
        tokens = tokenizer.encode_as_ids(words)
        yield tokens
        yield torch.LongTensor([hparams["bos_index"]] + tokens)
        yield torch.LongTensor(tokens)
        if eos_index is not None:
            yield torch.LongTensor(tokens + [eos_index])

    for dataset in datasets:
        if dataset is train and joined is not None:
            sb.dataio.dataset.add_dynamic_item([dataset], joined_utterances)
        else:
            sb.dataio.dataset.add_dynamic_item(
                [dataset], audio_item(dataset, speed_perturb if dataset is train else None)
            )
    sb.dataio.dataset.add_dynamic_item(datasets, text_pipeline)
    keys = ["id", "sig", "wrd_words", "tokens_bos", "tokens"] + (["tokens_eos"] if eos_index is not None else [])
    if ctc_text_column is not None:

        @sb.utils.data_pipeline.takes(ctc_text_column)
        @sb.utils.data_pipeline.provides("ctc_tokens")
        def ctc_text_pipeline(text):
            return torch.LongTensor(tokenizer.encode_as_ids(text.lower()))

        sb.dataio.dataset.add_dynamic_item(datasets, ctc_text_pipeline)
        keys.append("ctc_tokens")
    sb.dataio.dataset.set_output_keys(datasets, keys)

    train_loader_options = hparams["train_dataloader_opts"]
    if hparams["dynamic_batching"]:
        train_loader_options = {
            "batch_sampler": sb.dataio.sampler.DynamicBatchSampler(
                train, length_func=lambda item: item["duration"], **hparams["dynamic_batch_sampler_train"]
            ),
            "num_workers": hparams["num_workers"],
        }
    return train, valid, tests, train_loader_options
