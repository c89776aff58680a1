"""Datasets of transcribed speech for the ASR recipes (transducer, CTC + attention): audio and token pipelines
over the CSV manifests that ``summarymixing.data`` writes, with SpeechBrain's sorting and dynamic batching.

Authors
-------
* The summarymixing contributors (2026)
"""

import os

import speechbrain as sb
import torch

SORTINGS = ("random", "ascending", "descending")


def speech_text_datasets(hparams, tokenizer, eos_index=None, text_column="wrd", ctc_text_column=None):
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

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return sb.dataio.dataio.read_audio(wav)

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def segment_pipeline(wav, start, stop):
        return sb.dataio.dataio.read_audio({"file": wav, "start": int(start), "stop": int(stop)})

    outputs = ["wrd_words", "tokens_list", "tokens_bos", "tokens"] + (["tokens_eos"] if eos_index is not None else [])

    @sb.utils.data_pipeline.takes(text_column)
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
        columns = next(iter(dataset.data.values()), {})
        segments = "start" in columns and "stop" in columns
        sb.dataio.dataset.add_dynamic_item([dataset], segment_pipeline if segments else audio_pipeline)
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
