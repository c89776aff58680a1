"""Datasets of labelled audio for the classification recipes (keyword spotting): audio (whole files or
``start`` / ``stop`` segments) and one label per item, encoded with SpeechBrain's ``CategoricalEncoder``.

Authors
-------
* The summarymixing contributors (2026)
"""

import os

import speechbrain as sb


def labelled_audio_datasets(hparams, label_encoder, labels):
    """The train, valid and test datasets of a recipe's manifests (columns ``wav``, ``start``, ``stop``,
    ``label``), and the train loader's options.

    Each item has ``id``, ``sig`` (the segment ``start:stop`` of ``wav``) and ``label_encoded`` (``[1]``, the
    label's index). The encoder is given ``labels`` in that order (so that the indices are the same in every run
    and process) and saved to ``<save_folder>/label_encoder.txt``, which inference loads.

    Arguments
    ---------
    hparams : dict
        ``train_csv``, ``valid_csv``, ``test_csv``, ``save_folder``, ``train_dataloader_opts``.
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        Filled with ``labels``.
    labels : list of str
        Every label, in index order.

    Returns
    -------
    train, valid, test : DynamicItemDataset
    train_loader_options : dict
    """
    datasets = [
        sb.dataio.dataset.DynamicItemDataset.from_csv(csv_path=hparams[key])
        for key in ("train_csv", "valid_csv", "test_csv")
    ]
    path = os.path.join(hparams["save_folder"], "label_encoder.txt")
    if os.path.isfile(path):
        label_encoder.load(path)
        if [label_encoder.ind2lab[index] for index in range(len(label_encoder))] != list(labels):
            raise ValueError(f"{path} holds other labels than this run's {list(labels)}: remove it or the run folder")
    else:
        label_encoder.update_from_iterable(labels)
        sb.utils.distributed.run_on_main(label_encoder.save, args=[path])
    label_encoder.expect_len(len(labels))

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav, start, stop):
        return sb.dataio.dataio.read_audio({"file": wav, "start": int(start), "stop": int(stop)})

    @sb.utils.data_pipeline.takes("label")
    @sb.utils.data_pipeline.provides("label_encoded")
    def label_pipeline(label):
        return label_encoder.encode_sequence_torch([label])

    sb.dataio.dataset.add_dynamic_item(datasets, audio_pipeline)
    sb.dataio.dataset.add_dynamic_item(datasets, label_pipeline)
    sb.dataio.dataset.set_output_keys(datasets, ["id", "sig", "label_encoded"])
    return (*datasets, hparams["train_dataloader_opts"])
