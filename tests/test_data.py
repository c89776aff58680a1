"""Mini corpus pool, LibriSpeech layout + preparation, and the tokenizer helper."""

import os
import re
import shutil

import pytest
import soundfile as sf

from summarymixing.data import mini
from summarymixing.data.librispeech import prepare_librispeech
from summarymixing.data.manifest import DatasetError, read_csv
from summarymixing.data.tokenizer import train_tokenizer

SPLITS = {"train-clean-100": "train", "dev-clean": "dev", "test-clean": "test"}


@pytest.fixture(scope="module")
def librispeech(tmp_path_factory):
    root = mini.layout("librispeech", tmp_path_factory.getbasetemp() / "mini")
    save = tmp_path_factory.mktemp("librispeech_csv")
    prepare_librispeech(
        root,
        save,
        tr_splits=["train-clean-100"],
        dev_splits=["dev-clean"],
        te_splits=["test-clean"],
        merge_lst=["train-clean-100"],
        merge_name="train",
    )
    return root, save


def test_pool_meets_the_corpus_design():
    pool = mini.load_pool()
    english = mini.pool_rows("en")
    assert len({row["speaker"] for row in english}) >= 20
    assert {row["style"] for row in english} == {"neutral", "happy", "sad", "angry"}
    assert len(mini.pool_rows("en", "train")) >= 1000
    assert mini.pool_rows("cy") and mini.pool_rows("eu")
    assert len({row["id"] for row in pool}) == len(pool)
    speakers = {split: {row["speaker"] for row in mini.pool_rows(None, split)} for split in ("train", "dev", "test")}
    assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["dev"]
    train_words = {word for row in mini.pool_rows("en", "train") for word in row["text"].split()}
    train_texts = {row["text"] for row in mini.pool_rows("en", "train")}
    for row in mini.pool_rows("en", "test") + mini.pool_rows("en", "dev"):
        assert set(row["text"].split()) <= train_words and row["text"] not in train_texts
    assert all(row["intent"] == f"{row['scenario']}_{row['action']}" for row in english)
    package_bytes = sum(os.path.getsize(os.path.join(mini.POOL_FOLDER, name)) for name in os.listdir(mini.POOL_FOLDER))
    assert package_bytes < 10e6


def test_pool_reels_hold_every_utterance(tmp_path_factory):
    rows = mini.pool_rows("cy")
    for row, samples in mini.cut(rows, tmp_path_factory.getbasetemp() / "mini"):
        assert len(samples) == row["stop"] - row["start"] > 0
        assert abs(samples).max() > 0.05 * 32768


def test_librispeech_layout_matches_the_real_format(librispeech):
    root, _ = librispeech
    assert sorted(os.listdir(root)) == [mini.MARKER, "SPEAKERS.TXT", "dev-clean", "test-clean", "train-clean-100"]
    speaker = sorted(os.listdir(os.path.join(root, "dev-clean")))[0]
    chapter = os.listdir(os.path.join(root, "dev-clean", speaker))[0]
    files = sorted(os.listdir(os.path.join(root, "dev-clean", speaker, chapter)))
    assert f"{speaker}-{chapter}.trans.txt" in files
    assert re.fullmatch(rf"{speaker}-{chapter}-\d{{4}}\.flac", files[0])
    info = sf.info(os.path.join(root, "dev-clean", speaker, chapter, files[0]))
    assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")


def test_librispeech_manifests_match_the_pool(librispeech):
    root, save = librispeech
    ids, pool = mini.layout_ids(root), mini.pool_by_id()
    for split, pool_split in SPLITS.items():
        rows = read_csv(save / f"{split}.csv")
        assert list(rows[0]) == ["ID", "duration", "wav", "spk_id", "wrd"]
        assert len(rows) == len(mini.pool_rows("en", pool_split))
        for row in rows:
            source = pool[ids[row["ID"]]]
            assert source["split"] == pool_split
            assert row["wrd"] == source["text"].upper()
            assert float(row["duration"]) == pytest.approx(source["duration"], abs=1e-3)
            assert row["spk_id"] == "-".join(row["ID"].split("-")[:2]) and os.path.isfile(row["wav"])
    assert read_csv(save / "train.csv") == read_csv(save / "train-clean-100.csv")


def test_second_calls_are_no_ops(librispeech):
    root, save = librispeech
    before = {name: os.path.getmtime(save / name) for name in os.listdir(save)}
    marker_time = os.path.getmtime(os.path.join(root, mini.MARKER))
    assert mini.layout("librispeech", os.path.dirname(root)) == root
    prepare_librispeech(
        root,
        save,
        tr_splits=["train-clean-100"],
        dev_splits=["dev-clean"],
        te_splits=["test-clean"],
        merge_lst=["train-clean-100"],
        merge_name="train",
    )
    assert {name: os.path.getmtime(save / name) for name in os.listdir(save)} == before
    assert os.path.getmtime(os.path.join(root, mini.MARKER)) == marker_time


def test_select_n_sentences_and_changed_options_rewrite(librispeech, tmp_path):
    root, _ = librispeech
    prepare_librispeech(root, tmp_path, dev_splits=["dev-clean"], te_splits=["test-clean"], select_n_sentences=[5, 7])
    assert [len(read_csv(tmp_path / f"{s}.csv")) for s in ("dev-clean", "test-clean")] == [5, 7]
    prepare_librispeech(root, tmp_path, dev_splits=["dev-clean"], select_n_sentences=3)
    assert len(read_csv(tmp_path / "dev-clean.csv")) == 3


def _copy_split(root, tmp_path):
    copy = tmp_path / "LibriSpeech"
    shutil.copytree(os.path.join(root, "dev-clean"), copy / "dev-clean")
    speaker = sorted(os.listdir(copy / "dev-clean"))[0]
    chapter = os.listdir(copy / "dev-clean" / speaker)[0]
    return copy, copy / "dev-clean" / speaker / chapter, f"{speaker}-{chapter}"


def test_librispeech_errors_name_the_problem(librispeech, tmp_path):
    root, _ = librispeech
    with pytest.raises(FileNotFoundError, match="split 'dev-other'"):
        prepare_librispeech(root, tmp_path / "a", dev_splits=["dev-other"])
    with pytest.raises(FileNotFoundError, match="data_folder"):
        prepare_librispeech(tmp_path / "nowhere", tmp_path / "a", dev_splits=["dev-clean"])
    copy, chapter, prefix = _copy_split(root, tmp_path)
    flac = chapter / f"{prefix}-0000.flac"
    flac.write_bytes(b"not audio at all")
    with pytest.raises(DatasetError, match=f"unreadable audio .*{prefix}-0000.flac"):
        prepare_librispeech(copy, tmp_path / "b", dev_splits=["dev-clean"])
    flac.write_bytes(b"")
    with pytest.raises(DatasetError, match=f"empty audio .*{prefix}-0000.flac"):
        prepare_librispeech(copy, tmp_path / "b", dev_splits=["dev-clean"])
    flac.unlink()
    with pytest.raises(DatasetError, match=f"transcript without audio .*trans.txt line 1.*{prefix}-0000.flac"):
        prepare_librispeech(copy, tmp_path / "b", dev_splits=["dev-clean"])
    assert not os.path.exists(tmp_path / "b" / "dev-clean.csv")


def test_duplicate_ids_are_reported(librispeech, tmp_path):
    copy, chapter, prefix = _copy_split(librispeech[0], tmp_path)
    transcript = chapter / f"{prefix}.trans.txt"
    transcript.write_text(transcript.read_text() + transcript.read_text().splitlines()[0] + "\n")
    with pytest.raises(DatasetError, match=f"duplicate id '{prefix}-0000'"):
        prepare_librispeech(copy, tmp_path / "b", dev_splits=["dev-clean"])


def test_tokenizer_round_trips_the_training_text(librispeech, tmp_path):
    _, save = librispeech
    tokenizer = train_tokenizer(str(save / "train.csv"), str(tmp_path), 60, "unigram")
    assert tokenizer.sp.get_piece_size() == 60
    for row in read_csv(save / "test-clean.csv")[:20]:
        assert tokenizer.sp.decode(tokenizer.sp.encode(row["wrd"])) == row["wrd"]
    with pytest.raises(ValueError, match="no column 'words'"):
        train_tokenizer(str(save / "train.csv"), str(tmp_path / "x"), 60, text_column="words")
    with pytest.raises(ValueError, match="model_type"):
        train_tokenizer(str(save / "train.csv"), str(tmp_path / "x"), 60, model_type="word")


def test_layout_rejects_unknown_formats_and_rebuilds_stale_layouts(tmp_path):
    with pytest.raises(ValueError, match="unknown mini corpus format 'timit'"):
        mini.layout("timit", tmp_path)
    shared = tmp_path.parent / "mini"
    shutil.copytree(mini.layout("librispeech", shared), tmp_path / "LibriSpeech")
    for cache in shared.glob(".mini_pool_*.npy"):  # the decoded pool, so that the rebuild only writes files
        os.symlink(cache, tmp_path / cache.name)
    marker = tmp_path / "LibriSpeech" / mini.MARKER
    marker.write_text(marker.read_text().replace('"layout_version": ', '"layout_version": -'))
    (tmp_path / "LibriSpeech" / "SPEAKERS.TXT").unlink()
    root = mini.layout("librispeech", tmp_path)
    assert os.path.isfile(os.path.join(root, "SPEAKERS.TXT")) and mini.layout_ids(root) is not None


def test_lexicon_needs_the_openslr_file(librispeech, tmp_path):
    root, _ = librispeech
    with pytest.raises(DatasetError, match="create_lexicon needs the OpenSLR 11 lexicon: .*librispeech-lexicon.txt"):
        prepare_librispeech(root, tmp_path, dev_splits=["dev-clean"], create_lexicon=True)
    assert not os.path.exists(tmp_path / "dev-clean.csv")


def test_audio_of_another_rate_or_with_two_channels_or_truncated_is_refused(librispeech, tmp_path):
    copy, chapter, prefix = _copy_split(librispeech[0], tmp_path)
    flac = chapter / f"{prefix}-0001.flac"
    samples, rate = sf.read(flac)
    sf.write(flac, samples[::2], rate // 2)
    with pytest.raises(DatasetError, match=f"{prefix}-0001.flac is sampled at 8000 Hz; .* as 16000 Hz"):
        prepare_librispeech(copy, tmp_path / "a", dev_splits=["dev-clean"])
    sf.write(flac, [[sample, sample] for sample in samples], rate)
    with pytest.raises(DatasetError, match=f"{prefix}-0001.flac has 2 channels"):
        prepare_librispeech(copy, tmp_path / "a", dev_splits=["dev-clean"])
    sf.write(flac, samples, rate)
    flac.write_bytes(flac.read_bytes()[: os.path.getsize(flac) * 2 // 3])  # the header still says the full length
    with pytest.raises(DatasetError, match=f"truncated audio .*{prefix}-0001.flac"):
        prepare_librispeech(copy, tmp_path / "a", dev_splits=["dev-clean"])


def test_untranscribed_audio_is_never_dropped_silently(librispeech, tmp_path, caplog):
    copy, chapter, prefix = _copy_split(librispeech[0], tmp_path)
    shutil.copy(chapter / f"{prefix}-0000.flac", chapter / f"{prefix}-9999.flac")
    with caplog.at_level("WARNING"):
        prepare_librispeech(copy, tmp_path / "a", dev_splits=["dev-clean"])
    assert "1 .flac files have no transcript line" in caplog.text and f"{prefix}-9999.flac" in caplog.text
    (chapter / f"{prefix}.trans.txt").unlink()
    with pytest.raises(DatasetError, match=f".flac files in .*{os.path.basename(chapter)} but no transcript"):
        prepare_librispeech(copy, tmp_path / "b", dev_splits=["dev-clean"])


def test_transcript_encodings(librispeech, tmp_path):
    copy, chapter, prefix = _copy_split(librispeech[0], tmp_path)
    transcript = chapter / f"{prefix}.trans.txt"
    transcript.write_bytes(b"\xef\xbb\xbf" + transcript.read_bytes())  # a UTF-8 byte-order mark
    prepare_librispeech(copy, tmp_path / "a", dev_splits=["dev-clean"])
    assert read_csv(tmp_path / "a" / "dev-clean.csv")[0]["ID"] == f"{prefix}-0000"
    transcript.write_bytes(transcript.read_bytes().replace(b" ", " CAF\xe9 ".encode("latin-1"), 1))
    with pytest.raises(DatasetError, match=f"{prefix}.trans.txt is not UTF-8 text: byte 0xe9"):
        prepare_librispeech(copy, tmp_path / "b", dev_splits=["dev-clean"])


def test_a_preparation_interrupted_with_other_options_is_not_trusted(librispeech, tmp_path, monkeypatch):
    root, _ = librispeech
    prepare_librispeech(root, tmp_path, dev_splits=["dev-clean"], te_splits=["test-clean"])
    full = read_csv(tmp_path / "test-clean.csv")
    import summarymixing.data.librispeech as librispeech_module

    calls = []

    def interrupted(rows, *args, **kwargs):  # killed while reading the second split's audio
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return add_durations(rows, *args, **kwargs)

    add_durations = librispeech_module.add_durations
    monkeypatch.setattr(librispeech_module, "add_durations", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_librispeech(root, tmp_path, dev_splits=["dev-clean"], te_splits=["test-clean"], select_n_sentences=3)
    monkeypatch.undo()
    assert len(read_csv(tmp_path / "dev-clean.csv")) == 3  # the interrupted run's manifest, mixed with the old one
    prepare_librispeech(root, tmp_path, dev_splits=["dev-clean"], te_splits=["test-clean"])  # redone, not skipped
    assert len(read_csv(tmp_path / "dev-clean.csv")) > 3 and read_csv(tmp_path / "test-clean.csv") == full


def test_layout_never_deletes_a_folder_it_did_not_make(tmp_path):
    corpus = tmp_path / "LibriSpeech"
    (corpus / "train-clean-100").mkdir(parents=True)
    (corpus / "train-clean-100" / "precious.flac").write_bytes(b"user data")
    with pytest.raises(FileExistsError, match="not a mini corpus layout .* left untouched"):
        mini.layout("librispeech", tmp_path)
    assert (corpus / "train-clean-100" / "precious.flac").read_bytes() == b"user data"


def test_layout_removes_what_a_killed_layout_left(tmp_path):
    shared = tmp_path.parent / "mini"
    mini.layout("librispeech", shared)
    for cache in shared.glob(".mini_pool_*.npy"):
        os.symlink(cache, tmp_path / cache.name)
    abandoned = tmp_path / "LibriSpeech.partial-999999999"  # no such process
    (abandoned / "dev-clean").mkdir(parents=True)
    mini.layout("librispeech", tmp_path)
    assert not abandoned.exists() and (tmp_path / "LibriSpeech" / mini.MARKER).is_file()


def test_speed_perturbation_gives_each_training_utterance_its_own_speed(librispeech, tmp_path):
    from summarymixing.data.speech_text import speech_text_datasets

    root, save = librispeech
    tokenizer = train_tokenizer(str(save / "train.csv"), str(tmp_path), 30)
    hparams = {
        "data_folder": str(root), "train_csv": str(save / "train.csv"), "valid_csv": str(save / "dev-clean.csv"),
        "test_csv": [str(save / "test-clean.csv")], "sorting": "ascending", "avoid_if_longer_than": 100.0,
        "bos_index": 0, "dynamic_batching": False, "train_dataloader_opts": {"batch_size": 2},
    }  # fmt: skip
    calls = []

    def slow_down(signal):  # [1, samples] in and out, as SpeechBrain's SpeedPerturb
        calls.append(signal.shape)
        return signal[:, ::2]

    train, valid, tests, _ = speech_text_datasets(hparams, tokenizer.sp, speed_perturb=slow_down)
    train_item, valid_item, test_item = train[0], valid[0], tests["test-clean"][0]
    assert len(calls) == 1 and calls[0][0] == 1  # the training utterance alone, read one at a time
    assert train_item["sig"].shape[0] == (calls[0][1] + 1) // 2
    durations = {row["ID"]: float(row["duration"]) for row in read_csv(save / "dev-clean.csv")}
    assert valid_item["sig"].shape[0] == round(durations[valid_item["id"]] * 16000)
    assert len(calls) == 1 and test_item["sig"].dim() == 1
