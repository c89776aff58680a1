"""Text for language-model training: sentences from plain text files (one per line, e.g. LibriSpeech's
``librispeech-lm-norm.txt``, 40 million lines) and from the transcripts of speech manifests, read lazily.

A plain text file is indexed once (the byte offset of every line, cached beside the recipe's other outputs) and
read line by line on demand, so a corpus of any size costs 8 bytes per line of memory.

Authors
-------
* The summarymixing contributors (2026)
"""

import os

import numpy
import torch

from summarymixing.data.manifest import read_csv


class TextLines(torch.utils.data.Dataset):
    """The sentences of text files and manifests, tokenized: items ``{"id", "tokens_bos", "tokens_eos"}``.

    Arguments
    ---------
    sources : list of str
        Plain text files (UTF-8, one sentence per line; empty lines skipped) and CSV manifests (``.csv``: their
        ``wrd`` column).
    tokenizer : sentencepiece.SentencePieceProcessor
        Turns a sentence into token ids.
    bos_index, eos_index : int
        Tokens put before (input) and after (target) each sentence.
    index_folder : str
        Where the line offsets of the text files are cached (``<file name>.<size>.offsets.npy``).

    Example
    -------
    >>> import sentencepiece
    >>> folder = getfixture("tmp_path")
    >>> _ = (folder / "corpus.txt").write_text("HELLO WORLD\\n\\nGOOD MORNING\\n")
    >>> _ = (folder / "train.csv").write_text("ID,duration,wav,spk_id,wrd\\nu1,1.0,a.flac,s,HELLO\\n")
    >>> class Characters:
    ...     def encode_as_ids(self, text):
    ...         return [ord(c) % 50 + 3 for c in text]
    >>> lines = TextLines([str(folder / "corpus.txt"), str(folder / "train.csv")], Characters(), 1, 2, str(folder))
    >>> len(lines), lines[1]["id"], lines[2]["tokens_eos"][-1].item()
    (3, 'corpus.txt:3', 2)
    """

    def __init__(self, sources, tokenizer, bos_index, eos_index, index_folder):
        self.tokenizer, self.bos_index, self.eos_index = tokenizer, bos_index, eos_index
        self.parts = []  # (name, the sentences of a manifest, or the (path, offsets, line numbers) of a text file)
        for source in sources:
            if not os.path.isfile(source):
                raise FileNotFoundError(f"language model text {source} not found")
            if source.endswith(".csv"):
                rows = read_csv(source)
                if rows and "wrd" not in rows[0]:
                    raise ValueError(f"{source} has no 'wrd' column (columns: {list(rows[0])})")
                self.parts.append((os.path.basename(source), [row["wrd"] for row in rows], None))
            else:
                self.parts.append((os.path.basename(source), None, (source, *line_offsets(source, index_folder))))
        self.sizes = [len(sentences) if sentences is not None else len(index[1]) for _, sentences, index in self.parts]
        self.starts = numpy.cumsum([0] + self.sizes)
        if self.starts[-1] == 0:
            raise ValueError(f"no sentence in {sources}")

    def __len__(self):
        return int(self.starts[-1])

    def __getitem__(self, position):
        part = int(numpy.searchsorted(self.starts, position, side="right")) - 1
        name, sentences, index = self.parts[part]
        row = position - int(self.starts[part])
        if sentences is not None:
            sentence, identifier = sentences[row], f"{name}:{row + 1}"
        else:
            path, offsets, numbers = index
            sentence, identifier = read_line(path, int(offsets[row])), f"{name}:{int(numbers[row])}"
        tokens = self.tokenizer.encode_as_ids(sentence)
        return {
            "id": identifier,
            "tokens_bos": torch.LongTensor([self.bos_index] + tokens),
            "tokens_eos": torch.LongTensor(tokens + [self.eos_index]),
        }


def line_offsets(path, index_folder):
    """The byte offsets and 1-based line numbers of the non-empty lines of ``path``, cached in ``index_folder``
    (the cache is named after the file and its size, so a changed file is indexed again)."""
    cache = os.path.join(index_folder, f"{os.path.basename(path)}.{os.path.getsize(path)}.offsets.npy")
    if os.path.isfile(cache):
        table = numpy.load(cache)
        return table[0], table[1]
    offsets, numbers, position = [], [], 0
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                offsets.append(position)
                numbers.append(number)
            position += len(line)
    table = numpy.array([offsets, numbers], dtype=numpy.int64).reshape(2, -1)
    os.makedirs(index_folder, exist_ok=True)
    temporary = f"{cache}.partial-{os.getpid()}.npy"
    numpy.save(temporary, table)
    os.replace(temporary, cache)
    return table[0], table[1]


def read_line(path, offset):
    """The line of ``path`` that starts at byte ``offset``, decoded, without its line break."""
    with open(path, "rb") as stream:
        stream.seek(offset)
        line = stream.readline()
    try:
        return line.decode("utf-8").strip()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: the line at byte {offset} is not UTF-8 ({error})") from None
