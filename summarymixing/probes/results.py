"""Per-task result files of the MP3S probes and the combined results table.

Every probing recipe ends by writing ``results.json`` in its output folder
(:func:`write_results`): the task, the head, its metrics, which of them the benchmark table reports,
and the learned layer weights. :func:`results_table` puts the results of several encoders side by
side in the layout of the MP3S benchmark table (one row per encoder, one column per task and head).

Authors
 * SummaryMixing contributors 2026
"""

import json
import os

RESULTS_FILE = "results.json"


def write_results(output_folder, task, head, metrics, reported, layer_weights):
    """Writes ``<output_folder>/results.json`` (atomically: a temporary file moved into place).

    Arguments
    ---------
    output_folder : str
        The recipe's output folder.
    task : str
        Task name, e.g. ``"librispeech_asr"``.
    head : str
        Head name, e.g. ``"bilstm"``.
    metrics : dict
        Metric name -> float (WER/EER/error in percent, accuracy in percent, minDCF).
    reported : list of str
        The metrics shown in the benchmark table, in order.
    layer_weights : list of float
        The learned softmax layer weights (averaged when a task trains several probes, e.g. one per
        IEMOCAP fold).

    Returns
    -------
    str
        The path of the written file.
    """
    missing = [name for name in reported if name not in metrics]
    if missing:
        raise KeyError(f"reported metrics {missing} are not among the metrics {sorted(metrics)}")
    results = {
        "task": task,
        "head": head,
        "metrics": {name: float(value) for name, value in metrics.items()},
        "reported": list(reported),
        "layer_weights": layer_weights,
    }
    path = os.path.join(output_folder, RESULTS_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as results_file:
        json.dump(results, results_file, indent=2)
    os.replace(path + ".tmp", path)
    return path


def head_label(hparams):
    """The head's name in the results table: ``head_name``, with `` fine-tuned`` when the encoder was fine-tuned
    (so a task's frozen and fine-tuned runs are two columns side by side).

    Example
    -------
    >>> head_label({"head_name": "bilstm", "finetune": True}), head_label({"head_name": "linear"})
    ('bilstm fine-tuned', 'linear')
    """
    return hparams["head_name"] + (" fine-tuned" if hparams.get("finetune") else "")


def read_results(output_folder):
    """Reads the ``results.json`` of a finished probe, or returns None if it has not finished.

    Arguments
    ---------
    output_folder : str
        The recipe's output folder.

    Returns
    -------
    dict or None
        The results as written by :func:`write_results`.
    """
    path = os.path.join(output_folder, RESULTS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as results_file:
        return json.load(results_file)


def results_table(results_by_encoder):
    """Formats the results of one or more encoders as a Markdown table in the MP3S layout.

    Arguments
    ---------
    results_by_encoder : dict
        Encoder name -> list of result dicts (as read by :func:`read_results`); a missing task is
        shown as ``-``.

    Returns
    -------
    str
        The Markdown table: one row per encoder, one column per (task, head).

    Example
    -------
    >>> asr = {"task": "librispeech_asr", "head": "bilstm", "reported": ["WER test-clean"],
    ...        "metrics": {"WER test-clean": 5.3}, "layer_weights": [0.5, 0.5]}
    >>> print(results_table({"summarymixing": [asr], "mhsa": []}))
    | encoder | librispeech_asr bilstm: WER test-clean |
    |---|---|
    | summarymixing | 5.30 |
    | mhsa | - |
    """
    columns = {}
    for results in results_by_encoder.values():
        for result in results:
            columns.setdefault((result["task"], result["head"]), result["reported"])
    header = ["encoder"] + [f"{task} {head}: {' / '.join(reported)}" for (task, head), reported in columns.items()]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for encoder, results in results_by_encoder.items():
        by_column = {(result["task"], result["head"]): result for result in results}
        cells = [encoder]
        for column, reported in columns.items():
            result = by_column.get(column)
            cells.append(" / ".join(f"{result['metrics'][name]:.2f}" for name in reported) if result else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
