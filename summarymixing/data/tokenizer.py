"""SentencePiece tokenizer trained from a manifest through SpeechBrain's wrapper."""

import filecmp
import os
import shutil

import sentencepiece
from speechbrain.tokenizers.SentencePiece import SentencePiece

from summarymixing.data.manifest import read_csv


def train_tokenizer(
    manifest,
    output_folder,
    vocab_size,
    model_type="unigram",
    text_column="wrd",
    character_coverage=1.0,
    bos_id=-1,
    eos_id=-1,
    existing_model=None,
):
    """Trains (or reloads, when ``output_folder`` already holds it) a SentencePiece model on a CSV column; or
    takes ``existing_model`` (e.g. the tokenizer a language model was trained with, which the ASR model must share).

    Arguments
    ---------
    manifest : str
        SpeechBrain CSV manifest (e.g. ``train.csv`` from a preparer).
    output_folder : str
        Where ``<vocab_size>_<model_type>.model`` / ``.vocab`` are written.
    vocab_size : int
        Number of pieces (for ``char`` it must be at least the number of distinct characters + specials).
    model_type : str
        ``"unigram"``, ``"bpe"`` or ``"char"``.
    text_column : str
        Column holding the text.
    character_coverage : float
        SentencePiece character coverage (1.0 for alphabetic languages).
    bos_id, eos_id : int
        Ids of the sentence boundary tokens (-1: none, they share the ``<unk>`` id 0).
    existing_model : str, optional
        A SentencePiece ``.model`` file to use instead of training one: copied into ``output_folder`` as
        ``<vocab_size>_<model_type>.model`` (its size must be ``vocab_size``).

    Returns
    -------
    speechbrain.tokenizers.SentencePiece.SentencePiece
        The wrapper; its ``sp`` attribute is the ``sentencepiece.SentencePieceProcessor``.

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> _ = (tmp / "train.csv").write_text("ID,wrd\\n" + "".join(f"u{i},TURN ON THE LIGHTS {i}\\n" for i in range(20)))
    >>> tokenizer = train_tokenizer(str(tmp / "train.csv"), str(tmp / "tok"), 30, "bpe")
    >>> tokenizer.sp.decode(tokenizer.sp.encode("TURN ON THE LIGHTS 7"))
    'TURN ON THE LIGHTS 7'
    """
    if model_type not in ("unigram", "bpe", "char"):
        raise ValueError(f"model_type must be 'unigram', 'bpe' or 'char', got {model_type!r}")
    rows = read_csv(manifest)
    if not rows:
        raise ValueError(f"cannot train a tokenizer on {manifest}: it has no rows")
    if text_column not in rows[0]:
        raise ValueError(f"{manifest} has no column {text_column!r} (columns: {list(rows[0])})")
    os.makedirs(output_folder, exist_ok=True)
    if existing_model is not None:
        use_existing_model(existing_model, os.path.join(output_folder, f"{vocab_size}_{model_type}.model"), vocab_size)
    try:
        return SentencePiece(
            model_dir=output_folder,
            vocab_size=vocab_size,
            annotation_train=manifest,
            annotation_read=text_column,
            model_type=model_type,
            character_coverage=character_coverage,
            bos_id=bos_id,
            eos_id=eos_id,
            annotation_format="csv",
        )
    except RuntimeError as error:
        raise ValueError(
            f"SentencePiece could not train a {vocab_size}-piece {model_type} model on "
            f"{manifest}:{text_column}: {error}"
        ) from error


def use_existing_model(existing_model, target, vocab_size):
    """Copies a SentencePiece model to where SpeechBrain's wrapper loads it, after checking its size."""
    if not os.path.isfile(existing_model):
        raise FileNotFoundError(f"tokenizer model {existing_model} not found")
    size = sentencepiece.SentencePieceProcessor(model_file=existing_model).get_piece_size()
    if size != vocab_size:
        raise ValueError(f"{existing_model} has {size} pieces; this recipe's vocab_size is {vocab_size}")
    if os.path.isfile(target) and filecmp.cmp(existing_model, target, shallow=False):
        return
    if os.path.isfile(target):
        raise ValueError(f"{target} exists and differs from {existing_model}: use a fresh output_folder")
    shutil.copyfile(existing_model, target)


def model_in_folder(folder, file_name="tokenizer.ckpt"):
    """``<folder>/tokenizer.ckpt`` (a run folder's tokenizer), or None without a folder: for a YAML's
    ``existing_model: !apply:summarymixing.data.tokenizer.model_in_folder [!ref <lm_folder>]``.

    Example
    -------
    >>> model_in_folder(None) is None, model_in_folder("runs/lm")
    (True, 'runs/lm/tokenizer.ckpt')
    """
    return None if folder is None else os.path.join(folder, file_name)
