"""SLURP's evaluation of spoken language understanding: scenario, action and intent accuracy, and SLU-F1.

The metrics of the SLURP paper (Bastianelli et al., 2020) as its evaluation script computes them, from the
semantic frames a direct SLU model writes (SpeechBrain's format, commas as ``|``)::

    {'scenario': 'alarm'| 'action': 'set'| 'entities': [{'type': 'time'| 'filler': 'seven am'}]}

* scenario, action and intent (``scenario_action``) accuracy: each utterance has one label, so the micro F1 of
  SLURP's script is the accuracy;
* entity F1 with distance-discounted matches: a predicted entity whose type a gold entity of the utterance has
  counts one true positive and, as both a false positive and a false negative, the distance between its filler
  and the closest gold filler of that type (which is then used up); unmatched predicted entities are false
  positives, unmatched gold ones false negatives. ``word`` distance is the word error rate of the predicted filler
  against the gold one, ``char`` the Levenshtein distance over the longer length;
* SLU-F1: the F1 of the word and char counts summed.

A prediction that is not a frame (an unfinished or garbled decoding) counts as a frame with no scenario, action
or entity.

Authors
-------
* The summarymixing contributors (2026)
"""

import ast
from collections import Counter

from speechbrain.utils.edit_distance import accumulatable_wer_stats

DISTANCES = ("word", "char")
EMPTY_FRAME = {"scenario": None, "action": None, "entities": []}


def parse_semantics(text):
    """The frame ``{"scenario", "action", "entities": [{"type", "filler"}]}`` of a semantics string (commas may
    be written ``|``), or an empty frame when ``text`` is not one.

    Example
    -------
    >>> parse_semantics("{'scenario': 'alarm'| 'action': 'set'| 'entities': [{'type': 'time'| 'filler': 'seven am'}]}")
    {'scenario': 'alarm', 'action': 'set', 'entities': [{'type': 'time', 'filler': 'seven am'}]}
    >>> parse_semantics("{'scenario': 'alarm'| 'act")
    {'scenario': None, 'action': None, 'entities': []}
    """
    try:
        frame = ast.literal_eval(text.replace("|", ","))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return dict(EMPTY_FRAME)
    if not isinstance(frame, dict):
        return dict(EMPTY_FRAME)
    entities = frame.get("entities", [])
    if not isinstance(entities, list):
        entities = []
    entities = [
        {"type": str(entity["type"]), "filler": str(entity["filler"])}
        for entity in entities
        if isinstance(entity, dict) and "type" in entity and "filler" in entity
    ]
    return {"scenario": frame.get("scenario"), "action": frame.get("action"), "entities": entities}


def word_distance(truth, hypothesis):
    """The word error rate of ``hypothesis`` against ``truth`` (SLURP's word distance; it may exceed 1).

    Example
    -------
    >>> word_distance("seven am", "seven")
    0.5
    """
    reference = truth.split()
    if not reference:
        return float(bool(hypothesis.split()))
    return _edits(reference, hypothesis.split()) / len(reference)


def char_distance(truth, hypothesis):
    """The Levenshtein distance between the strings over the longer length (SLURP's char distance).

    Example
    -------
    >>> char_distance("seven am", "seven pm")
    0.125
    """
    longest = max(len(truth), len(hypothesis))
    if longest == 0:
        return 0.0
    return _edits(list(truth), list(hypothesis)) / longest


def _edits(reference, hypothesis):
    """Insertions + deletions + substitutions between two token lists (SpeechBrain's edit distance)."""
    stats = accumulatable_wer_stats([reference], [hypothesis], Counter())
    return stats["insertions"] + stats["deletions"] + stats["substitutions"]


def _f1(true_positives, false_positives, false_negatives):
    precision = true_positives / (true_positives + false_positives) if true_positives + false_positives else 0.0
    recall = true_positives / (true_positives + false_negatives) if true_positives + false_negatives else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


class SLURPScorer:
    """Accumulates SLURP's metrics over decoded utterances (see the module documentation).

    Example
    -------
    >>> scorer = SLURPScorer()
    >>> gold = "{'scenario': 'alarm'| 'action': 'set'| 'entities': [{'type': 'time'| 'filler': 'seven am'}]}"
    >>> scorer.append(["a"], [gold.replace("seven am", "seven")], [gold])
    >>> {key: round(value, 4) for key, value in scorer.summarize().items()}
    {'scenario': 100.0, 'action': 100.0, 'intent': 100.0, 'SLU-F1': 69.5652, 'word-F1': 66.6667, 'char-F1': 72.7273}
    """

    name = "slu"
    headline = "SLU-F1"

    def __init__(self):
        self.counts = {key: 0 for key in ("utterances", "scenario", "action", "intent")}
        self.entity_counts = {distance: [0.0, 0.0, 0.0] for distance in DISTANCES}  # TP, FP, FN
        self.details = {}

    @property
    def scores(self):
        """Whether anything was scored."""
        return self.counts["utterances"] > 0

    def append(self, ids, hypotheses, references):
        """Scores decoded semantics strings against the reference ones."""
        for utterance, hypothesis, reference in zip(ids, hypotheses, references):
            predicted, gold = parse_semantics(hypothesis), parse_semantics(reference)
            self.counts["utterances"] += 1
            for key in ("scenario", "action"):
                self.counts[key] += predicted[key] == gold[key]
            self.counts["intent"] += (predicted["scenario"], predicted["action"]) == (gold["scenario"], gold["action"])
            for distance in DISTANCES:
                self._count_entities(distance, gold["entities"], predicted["entities"])
            self.details[utterance] = {"hypothesis": hypothesis, "reference": reference}

    def _count_entities(self, distance, gold, predicted):
        measure = word_distance if distance == "word" else char_distance
        counts = self.entity_counts[distance]
        remaining = list(gold)
        for entity in predicted:
            candidates = [index for index, other in enumerate(remaining) if other["type"] == entity["type"]]
            if not candidates:
                counts[1] += 1
                continue
            closest = min(candidates, key=lambda index: measure(remaining[index]["filler"], entity["filler"]))
            cost = measure(remaining.pop(closest)["filler"], entity["filler"])
            counts[0] += 1
            counts[1] += cost
            counts[2] += cost
        counts[2] += len(remaining)

    def summarize(self):
        """``{scenario, action, intent: accuracy %, SLU-F1, word-F1, char-F1: %}``."""
        total = max(self.counts["utterances"], 1)
        summary = {key: 100.0 * self.counts[key] / total for key in ("scenario", "action", "intent")}
        summed = [sum(self.entity_counts[distance][k] for distance in DISTANCES) for k in range(3)]
        summary["SLU-F1"] = 100.0 * _f1(*summed)
        for distance in DISTANCES:
            summary[f"{distance}-F1"] = 100.0 * _f1(*self.entity_counts[distance])
        return summary

    def result(self):
        """What the results file holds per test set: every metric."""
        return self.summarize()

    def write_stats(self, stream):
        """Writes every utterance's hypothesis and reference (one per line, tab-separated)."""
        for utterance, texts in self.details.items():
            stream.write(f"{utterance}\t{texts['hypothesis']}\t{texts['reference']}\n")
