"""How separable the mini corpus's labels are: linear probes on utterance-level log-mel statistics.

Prints a Markdown table: speaking style (the emotion-like classes) trained on the training speakers and tested on
the unseen test speakers, and speaker identity on held-out utterances of the training speakers. A linear model
on per-utterance mean / standard deviation of 40 log-mel bands is far weaker than any probe in the recipes, so
high accuracies here mean the labels are carried by the audio, not by chance::

    python -m summarymixing.data.mini_probe [--folder /tmp/mini]
"""

import argparse
import tempfile

import torch
import torchaudio

from summarymixing.data import mini

STYLES = ["neutral", "happy", "sad", "angry"]


def utterance_features(rows, cache_folder):
    """Per-utterance ``[mean, std]`` of 40 log-mel bands, plus energy spread, voiced share and duration.

    Arguments
    ---------
    rows : list of dict
        Pool rows (:func:`summarymixing.data.mini.pool_rows`).
    cache_folder : str
        Where the decoded pool is cached.

    Returns
    -------
    torch.Tensor
        ``[len(rows), 83]``.
    """
    mel = torchaudio.transforms.MelSpectrogram(mini.SAMPLE_RATE, n_fft=400, hop_length=160, n_mels=40)
    features = []
    for _, samples in mini.cut(rows, cache_folder):
        log_mel = torch.log(mel(torch.from_numpy(samples / 32768.0).float()) + 1e-5)
        energy = log_mel.mean(0)
        extra = torch.tensor(
            [energy.std(), (energy > energy.max() - 3).float().mean(), len(samples) / mini.SAMPLE_RATE]
        )
        features.append(torch.cat([log_mel.mean(1), log_mel.std(1), extra]))
    return torch.stack(features)


def linear_probe(train_x, train_y, test_x, test_y, classes, steps=500):
    """Accuracy of a softmax regression (Adam, light L2) trained on ``train_x`` and scored on ``test_x``.

    Example
    -------
    >>> x = torch.tensor([[0.0], [1.0], [0.1], [0.9]]); y = torch.tensor([0, 1, 0, 1])
    >>> linear_probe(x, y, x, y, classes=2, steps=200)
    1.0
    """
    weight = torch.zeros(train_x.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(train_x @ weight + bias, train_y) + 1e-3 * weight.pow(2).sum()
        loss.backward()
        optimizer.step()
    return ((test_x @ weight + bias).argmax(1) == test_y).float().mean().item()


def main(folder):
    """Computes the probes and prints the table."""
    torch.manual_seed(0)
    rows = mini.pool_rows("en")
    features = utterance_features(rows, folder)
    train = torch.tensor([row["split"] == "train" for row in rows])
    test = torch.tensor([row["split"] == "test" for row in rows])
    features = (features - features[train].mean(0)) / (features[train].std(0) + 1e-6)
    styles = torch.tensor([STYLES.index(row["style"]) for row in rows])
    speakers = sorted({row["speaker"] for row in rows if row["split"] == "train"})
    speaker_ids = torch.tensor([speakers.index(row["speaker"]) if row["speaker"] in speakers else -1 for row in rows])
    even = train & (torch.arange(len(rows)) % 2 == 0)
    odd = train & (torch.arange(len(rows)) % 2 == 1)
    table = [
        (
            "style (4 classes), unseen test speakers",
            int(train.sum()),
            int(test.sum()),
            linear_probe(features[train], styles[train], features[test], styles[test], len(STYLES)),
            1 / len(STYLES),
        ),
        (
            f"speaker ({len(speakers)} training speakers), held-out utterances",
            int(even.sum()),
            int(odd.sum()),
            linear_probe(features[even], speaker_ids[even], features[odd], speaker_ids[odd], len(speakers)),
            1 / len(speakers),
        ),
    ]
    print("| linear probe on log-mel statistics | train utts | test utts | accuracy | chance |")
    print("|---|---|---|---|---|")
    for name, n_train, n_test, accuracy, chance in table:
        print(f"| {name} | {n_train} | {n_test} | {accuracy:.3f} | {chance:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", help="where the decoded pool is cached (default: a temporary folder)")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    if arguments.folder:
        main(arguments.folder)
    else:
        with tempfile.TemporaryDirectory() as temporary:
            main(temporary)
