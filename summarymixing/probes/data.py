"""Data pipelines shared by the utterance-classification probes (intent, emotion, speaker).

Authors
 * SummaryMixing contributors 2026
"""

import os

import speechbrain as sb
import torchaudio
from speechbrain.dataio.encoder import CategoricalEncoder


def load_manifest(path, sorting="ascending", select_n=None, max_duration=None):
    """Reads a SpeechBrain CSV or JSON manifest as a ``DynamicItemDataset`` sorted by duration.

    Arguments
    ---------
    path : str
        A ``.csv`` (with a ``duration`` column) or ``.json`` (with a ``length`` field) manifest.
    sorting : str
        ``"ascending"``, ``"descending"`` (by duration) or ``"random"`` (file order; the loader shuffles).
    select_n : int, optional
        Keep only the first ``n`` utterances after sorting (quick checks).
    max_duration : float, optional
        Drop utterances longer than this many seconds.

    Returns
    -------
    speechbrain.dataio.dataset.DynamicItemDataset
        The dataset.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"manifest {path} does not exist: did the data preparation run?")
    if path.endswith(".json"):
        dataset, duration_key = sb.dataio.dataset.DynamicItemDataset.from_json(path), "length"
    else:
        dataset, duration_key = sb.dataio.dataset.DynamicItemDataset.from_csv(path), "duration"
    if sorting not in ("ascending", "descending", "random"):
        raise ValueError(f"sorting must be ascending, descending or random, got {sorting!r}")
    return dataset.filtered_sorted(
        sort_key=None if sorting == "random" else duration_key,
        reverse=sorting == "descending",
        select_n=select_n,
        key_max_value={} if max_duration is None else {duration_key: max_duration},
    )


def add_audio(datasets, sample_rate=16000, segments=False):
    """Adds ``sig``, the waveform of each utterance, resampled to ``sample_rate`` when the file differs.

    Arguments
    ---------
    datasets : list of DynamicItemDataset
        The datasets to extend; their manifests have a ``wav`` path.
    sample_rate : int
        The encoder's sample rate (CommonVoice clips, for example, are 48 kHz MP3).
    segments : bool
        Read only the ``start``/``stop`` segment (in samples) of each ``wav`` (VoxCeleb manifests).
    """

    def read(wav, start=None, stop=None):
        file_rate = sb.dataio.dataio.read_audio_info(wav).sample_rate
        spec = wav if start is None else {"file": wav, "start": int(start), "stop": int(stop)}
        signal = sb.dataio.dataio.read_audio(spec)
        if file_rate != sample_rate:
            signal = torchaudio.functional.resample(signal, file_rate, sample_rate)
        return signal

    if segments:
        audio_pipeline = sb.utils.data_pipeline.provides("sig")(
            sb.utils.data_pipeline.takes("wav", "start", "stop")(read)
        )
    else:
        audio_pipeline = sb.utils.data_pipeline.provides("sig")(
            sb.utils.data_pipeline.takes("wav")(lambda wav: read(wav))
        )
    sb.dataio.dataset.add_dynamic_item(datasets, audio_pipeline)


def add_labels(datasets, label_key, encoder_path, num_classes):
    """Adds ``label_encoded`` (``[1]`` class index) from the manifest field ``label_key``.

    The label set is read from all ``datasets`` (a class missing from a small training subset still
    gets an index) and saved to ``encoder_path``, so a resumed run keeps the same indices.

    Arguments
    ---------
    datasets : list of DynamicItemDataset
        The datasets to extend (train, valid, test).
    label_key : str
        Manifest field holding the class, e.g. ``scenario``, ``emo`` or ``spk_id``.
    encoder_path : str
        Where the label encoder is saved.
    num_classes : int
        The classifier's number of outputs; an error is raised if the data has more classes.

    Returns
    -------
    CategoricalEncoder
        The label encoder.
    """
    label_encoder = CategoricalEncoder()

    @sb.utils.data_pipeline.takes(label_key)
    @sb.utils.data_pipeline.provides("label_encoded")
    def label_pipeline(label):
        return label_encoder.encode_label_torch(label)

    label_encoder.load_or_create(path=encoder_path, from_didatasets=datasets, output_key=label_key)
    if len(label_encoder) > num_classes:
        raise ValueError(
            f"the data has {len(label_encoder)} classes of '{label_key}' but the classifier "
            f"has {num_classes} outputs: raise the number of outputs in the hparams file"
        )
    label_encoder.ignore_len()  # checked above: the classifier may have more outputs than classes
    for dataset in datasets:
        dataset.add_dynamic_item(label_pipeline)
    return label_encoder
