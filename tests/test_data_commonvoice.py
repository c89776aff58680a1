"""CommonVoice (cy, eu) layout of the mini corpus and preparation."""

import os
import shutil

import pytest
import soundfile as sf

from summarymixing.data import mini
from summarymixing.data.commonvoice import normalize_common_voice, prepare_common_voice
from summarymixing.data.manifest import DatasetError, read_csv

SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="module")
def commonvoice(tmp_path_factory):
    return mini.layout("commonvoice", tmp_path_factory.getbasetemp() / "mini")


def test_layout_has_mp3_clips_and_real_tsv_columns(commonvoice):
    for language in ("cy", "eu"):
        folder = os.path.join(commonvoice, language)
        assert {"clips", "train.tsv", "dev.tsv", "test.tsv", "validated.tsv"} <= set(os.listdir(folder))
        with open(os.path.join(folder, "train.tsv"), encoding="utf-8") as handle:
            header = handle.readline().rstrip("\n").split("\t")
        assert header[:4] == ["client_id", "path", "sentence_id", "sentence"] and "locale" in header
        clip = sorted(os.listdir(os.path.join(folder, "clips")))[0]
        assert clip.startswith(f"common_voice_{language}_") and clip.endswith(".mp3")
        info = sf.info(os.path.join(folder, "clips", clip))
        assert (info.samplerate, info.channels) == (48000, 1)


@pytest.mark.parametrize("language", ["cy", "eu"])
def test_manifests_match_the_pool(commonvoice, tmp_path, language):
    prepare_common_voice(os.path.join(commonvoice, language), tmp_path, language=language)
    ids, pool = mini.layout_ids(commonvoice), mini.pool_by_id()
    speakers = {}
    for split in SPLITS:
        rows = read_csv(tmp_path / f"{split}.csv")
        assert list(rows[0]) == ["ID", "duration", "wav", "spk_id", "wrd"]
        assert len(rows) == len(mini.pool_rows(language, split))
        for row in rows:
            source = pool[ids[f"{language}/{row['ID']}"]]
            assert source["split"] == split
            assert row["wrd"] == normalize_common_voice(source["text"]) and row["wrd"].isupper()
            assert float(row["duration"]) == pytest.approx(source["duration"], abs=2e-3)
        speakers[split] = {row["spk_id"] for row in rows}
    assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["dev"]


def test_convert_to_wav_gives_16khz_clips_of_the_same_length(commonvoice, tmp_path):
    prepare_common_voice(os.path.join(commonvoice, "cy"), tmp_path, language="cy", convert_to_wav=True)
    mp3_rows = {row["ID"]: row for row in read_csv(tmp_path / "dev.csv")}
    for row in read_csv(tmp_path / "dev.csv"):
        info = sf.info(row["wav"])
        assert row["wav"].startswith(str(tmp_path / "wav")) and info.samplerate == 16000
        assert info.frames / 16000 == pytest.approx(float(mp3_rows[row["ID"]]["duration"]), abs=1e-3)


def test_accents_are_kept_on_request_and_second_call_is_a_no_op(commonvoice, tmp_path):
    prepare_common_voice(os.path.join(commonvoice, "cy"), tmp_path, language="cy", accented_letters=True)
    words = {word for split in SPLITS for row in read_csv(tmp_path / f"{split}.csv") for word in row["wrd"].split()}
    assert "TŶ" in words and "MAE'R" in words
    written = os.path.getmtime(tmp_path / "train.csv")
    prepare_common_voice(os.path.join(commonvoice, "cy"), tmp_path, language="cy", accented_letters=True)
    assert os.path.getmtime(tmp_path / "train.csv") == written


def test_errors_name_the_file_and_the_problem(commonvoice, tmp_path):
    with pytest.raises(DatasetError, match="locale 'cy'"):
        prepare_common_voice(os.path.join(commonvoice, "cy"), tmp_path / "a", language="eu")
    copy = tmp_path / "cy"
    shutil.copytree(os.path.join(commonvoice, "cy"), copy)
    with pytest.raises(FileNotFoundError, match="split not found: .*missing.tsv"):
        prepare_common_voice(copy, tmp_path / "a", language="cy", test_tsv_file=str(copy / "missing.tsv"))
    lines = (copy / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (copy / "dev.tsv").write_text("".join(lines + lines[1:2]), encoding="utf-8")
    clip = lines[1].split("\t")[1]
    with pytest.raises(DatasetError, match=f"duplicate id '{clip[:-4]}' in .*dev.tsv"):
        prepare_common_voice(copy, tmp_path / "a", language="cy")
    (copy / "clips" / clip).write_bytes(b"")
    (copy / "dev.tsv").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(DatasetError, match=f"empty audio .*{clip}"):
        prepare_common_voice(copy, tmp_path / "a", language="cy")
    (copy / "clips" / clip).unlink()
    with pytest.raises(DatasetError, match=f"transcript without audio .*dev.tsv line 2.*{clip}"):
        prepare_common_voice(copy, tmp_path / "a", language="cy")
    (copy / "dev.tsv").write_text("".join(line.replace("sentence\t", "text\t", 1) for line in lines), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"dev.tsv lacks the column\(s\) \['sentence'\]"):
        prepare_common_voice(copy, tmp_path / "a", language="cy")
    (copy / "dev.tsv").write_text(lines[0], encoding="utf-8")  # the header alone
    with pytest.raises(DatasetError, match="dev.tsv lists no clip with a sentence: the split would be empty"):
        prepare_common_voice(copy, tmp_path / "a", language="cy")
    (copy / "dev.tsv").write_bytes("".join(lines).replace("\t", "\tcaf\xe9 ", 1).encode("latin-1", "replace"))
    with pytest.raises(DatasetError, match="dev.tsv is not UTF-8 text"):
        prepare_common_voice(copy, tmp_path / "a", language="cy")
    assert not os.path.exists(tmp_path / "a" / "dev.csv")
