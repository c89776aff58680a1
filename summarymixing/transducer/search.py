"""Transducer search for padded batches and for streams: batched greedy decoding and a resumable beam search.

:class:`TransducerSearcher` is SpeechBrain's ``TransducerBeamSearcher`` (same arguments, same networks, same
``forward``) with three additions that the recipe's WER table and streaming inference need:

- **lengths**: :meth:`~TransducerSearcher.decode` decodes each utterance of a padded batch up to its own length
  (SpeechBrain's searcher decodes the padding frames too);
- **batched greedy decoding**: one joint-network call per frame for the whole batch, instead of one Python loop per
  utterance. The hypotheses are SpeechBrain's ``transducer_greedy_decode`` on each utterance alone (tested), and
  it streams (:meth:`~TransducerSearcher.greedy_search_streaming`, the prediction network's state carried);
- **a beam search that can stop and resume at any frame**: the beam after a frame is the whole state of SpeechBrain's
  frame-synchronous algorithm (Graves 2012 with the state and expand beams of arXiv 1904.02619, and RNN LM shallow
  fusion), so decoding a stream chunk by chunk gives the hypotheses of decoding it at once (tested, and by the
  recipe's WER table on trained models). SpeechBrain's ``transducer_beam_search_decode`` has no such state.

The beam search computes what SpeechBrain's does (its hypotheses are equal on random models, tested) but runs the
prediction network and the LM once per hypothesis extension instead of once per expansion of a hypothesis, and never
loops forever: a hypothesis that already wrote ``max_symbols_per_step + 1`` tokens in a frame can only write blank,
as in SpeechBrain's greedy search (whose beam search loops when a model never prefers blank).

Authors
 * SummaryMixing contributors 2026
"""

import math
from dataclasses import dataclass

import torch
from speechbrain.decoders.transducer import TransducerBeamSearcher

from summarymixing.lm.folder import load_lm_folder


@dataclass(eq=False)
class Hypothesis:
    """One hypothesis of the beam: its tokens, score and the network states that continue it.

    ``predictor`` and ``lm`` are the ``(output, state)`` of the prediction network and of the LM after reading the
    blank-prefixed tokens, computed when first needed and shared by the hypothesis's blank extensions.
    """

    tokens: tuple
    score: float
    predictor_state: object = None
    lm_state: object = None
    symbols_in_frame: int = 0
    predictor: tuple = None
    lm: tuple = None
    frames: tuple = ()
    """The frame that wrote each token (its index in the stream): the tokens' times."""

    def normalised_score(self):
        """The score per token, the blank start included (SpeechBrain's ranking key)."""
        return self.score / (len(self.tokens) + 1)


@dataclass
class TransducerBeamStreamingContext:
    """The beam of one stream between chunks, and how many tokens of it were already given out."""

    hypotheses: list = None
    emitted: int = 0
    final: bool = False
    """Set on the stream's last chunk: the best hypothesis is then given out in full."""


class TransducerSearcher(TransducerBeamSearcher):
    """SpeechBrain's ``TransducerBeamSearcher`` with lengths, batched greedy search and a resumable beam search.

    Arguments
    ---------
    decode_network_lst : list of torch.nn.Module
        The prediction network (embedding, recurrent layers, projection), as SpeechBrain's.
    tjoint : torch.nn.Module
        The joint network.
    classifier_network : list of torch.nn.Module
        The output layers after the joint network.
    blank_id : int
        The blank token (also the first input of the prediction network and of the LM).
    beam_size : int
        1: greedy search; more: beam search.
    nbest : int
        Hypotheses returned per utterance by :meth:`forward` in beam search.
    lm_module : torch.nn.Module, optional
        An LM called as ``lm(tokens, hx=state)`` returning ``(logits, state)``, e.g. SpeechBrain's ``RNNLM`` with
        ``return_hidden=True``, reading the blank id as its sentence start.
    lm_weight : float
        Weight of the LM's log-probabilities added to each non-blank token's score (shallow fusion).
    state_beam, expand_beam : float
        The pruning beams of arXiv 1904.02619, as SpeechBrain's.
    max_symbols_per_step : int
        A hypothesis writes at most ``max_symbols_per_step + 1`` tokens per frame (SpeechBrain's greedy limit).

    Example
    -------
    >>> from speechbrain.nnet.embedding import Embedding
    >>> from speechbrain.nnet.linear import Linear
    >>> from speechbrain.nnet.RNN import LSTM
    >>> from speechbrain.nnet.transducer.transducer_joint import Transducer_joint
    >>> _ = torch.manual_seed(0)
    >>> networks = ([Embedding(6, 4), LSTM(8, input_size=4)], Transducer_joint(joint="sum"), [Linear(6, input_size=8)])
    >>> greedy = TransducerSearcher(*networks, blank_id=0, beam_size=1)
    >>> beam = TransducerSearcher(*networks, blank_id=0, beam_size=4)
    >>> encoded, lengths = torch.randn(2, 10, 8), torch.tensor([10, 6])
    >>> len(greedy.decode(encoded, lengths)), len(beam.decode(encoded, lengths))
    (2, 2)
    >>> beam.decode(encoded[1:, :6]) == beam.decode(encoded, lengths)[1:]
    True
    """

    def __init__(
        self,
        decode_network_lst,
        tjoint,
        classifier_network,
        blank_id,
        beam_size=1,
        nbest=1,
        lm_module=None,
        lm_weight=0.0,
        state_beam=2.3,
        expand_beam=2.3,
        max_symbols_per_step=5,
    ):
        if beam_size < 1:
            raise ValueError(f"TransducerSearcher: beam_size must be >= 1, got {beam_size}")
        if lm_weight > 0 and lm_module is None:
            raise ValueError(f"TransducerSearcher: lm_weight is {lm_weight} but no lm_module was given")
        super().__init__(
            decode_network_lst, tjoint, classifier_network, blank_id, beam_size, nbest, lm_module, lm_weight,
            state_beam, expand_beam,
        )  # fmt: skip
        self.max_symbols_per_step = max_symbols_per_step

    def forward(self, tn_output, lengths=None):
        """SpeechBrain's searcher result: ``(best hypotheses, mean probability, n-best lists, n-best scores)``.

        Arguments
        ---------
        tn_output : torch.Tensor
            Projected encoder output ``[batch, time, joint_dim]``.
        lengths : torch.Tensor, optional
            Valid frames per utterance (default: all).

        Returns
        -------
        tuple
            As ``speechbrain.decoders.transducer.TransducerBeamSearcher.forward``; the n-best entries are None in
            greedy search.
        """
        lengths = self._lengths(tn_output, lengths)
        if self.beam_size == 1:
            hypotheses, scores, _, _ = self.greedy_search(tn_output, lengths)
            return hypotheses, torch.tensor(scores).exp().mean(), None, None
        nbest = [self.finish(self.advance(self.start(), tn_output[i, : int(n)])) for i, n in enumerate(lengths)]
        best = [[list(h.tokens) for h in utterance] for utterance in nbest]
        scores = [[h.normalised_score() for h in utterance] for utterance in nbest]
        return [b[0] for b in best], torch.tensor([s[0] for s in scores]).exp().mean(), best, scores

    def decode(self, tn_output, lengths=None):
        """The best token sequence (a list of int) of each utterance of a padded batch; arguments as
        :meth:`forward`."""
        return self.forward(tn_output, lengths)[0]

    @staticmethod
    def _lengths(tn_output, lengths):
        if lengths is None:
            return torch.full((tn_output.shape[0],), tn_output.shape[1], dtype=torch.long)
        if lengths.shape != (tn_output.shape[0],) or int(lengths.max()) > tn_output.shape[1]:
            raise ValueError(
                f"TransducerSearcher: lengths {lengths.tolist()} do not fit encoder output {tuple(tn_output.shape)}"
            )
        return lengths.long().cpu()

    @torch.no_grad()
    def greedy_search(self, tn_output, lengths, state=None):
        """Greedy search of a padded batch, frame by frame for all utterances at once.

        Arguments
        ---------
        tn_output : torch.Tensor
            ``[batch, time, joint_dim]``.
        lengths : torch.Tensor
            Valid frames per utterance, ``[batch]`` (long, on the CPU).
        state : tuple, optional
            The prediction network's ``(output, recurrent state)`` where a previous call on the same streams
            stopped (the third value it returned); None at the start.

        Returns
        -------
        hypotheses : list of list of int
        scores : list of float
            The summed log-probabilities of each hypothesis's tokens (as SpeechBrain's greedy search).
        frames : list of list of int
            The frame (of ``tn_output``) that wrote each token.
        state : tuple
            The prediction network's ``(output, recurrent state)`` after the last frame, to continue the streams.
        """
        batch = tn_output.shape[0]
        hypotheses, scores, frames = [[] for _ in range(batch)], [0.0] * batch, [[] for _ in range(batch)]
        if state is None:
            tokens = torch.full((batch, 1), self.blank_id, dtype=torch.long, device=tn_output.device)
            state = self._forward_PN(tokens, self.decode_network_lst)
        predicted, hidden = state[0].clone(), state[1]
        for frame in range(int(lengths.max()) if batch else 0):
            active = torch.nonzero(lengths > frame).squeeze(1).to(tn_output.device)
            for _ in range(self.max_symbols_per_step + 1):
                log_probs = self._joint_forward_step(tn_output[active, frame][:, None, None], predicted[active, None])
                best_log_probs, best = log_probs.view(len(active), -1).max(dim=-1)
                writes = best != self.blank_id
                if not bool(writes.any()):
                    break
                active, best = active[writes], best[writes]
                for index, token, log_prob in zip(active.tolist(), best.tolist(), best_log_probs[writes].tolist()):
                    hypotheses[index].append(token)
                    scores[index] += log_prob
                    frames[index].append(frame)
                output, new_hidden = self._forward_PN(best[:, None], self.decode_network_lst, select(hidden, active))
                predicted[active] = output
                hidden = assign(hidden, active, new_hidden)
        return hypotheses, scores, frames, (predicted, hidden)

    def greedy_search_streaming(self, tn_output, context):
        """The tokens of a batch of streams' next encoder frames, greedily: a ``decoding_function`` for
        ``StreamingASR`` (the prediction network's state is carried in ``context.hidden``).

        Arguments
        ---------
        tn_output : torch.Tensor
            The next frames ``[batch, frames, joint_dim]``.
        context : speechbrain.decoders.transducer.TransducerGreedySearcherStreamingContext
            The streams' state, updated in place.

        Returns
        -------
        list of list of int
            The new tokens of each stream.
        """
        lengths = torch.full((tn_output.shape[0],), tn_output.shape[1], dtype=torch.long)
        hypotheses, _, _, context.hidden = self.greedy_search(tn_output, lengths, context.hidden)
        return hypotheses

    def start(self):
        """The beam before the first frame: the blank start alone, scored 0."""
        return [Hypothesis(tokens=(), score=0.0)]

    @torch.no_grad()
    def advance(self, hypotheses, tn_output, first_frame=0):
        """Runs the beam search over more frames of one utterance.

        Arguments
        ---------
        hypotheses : list of Hypothesis
            The beam after the previous frames (:meth:`start` before the first).
        tn_output : torch.Tensor
            The next frames ``[frames, joint_dim]``.
        first_frame : int
            The index in the stream of the first of them (the tokens' ``frames``).

        Returns
        -------
        list of Hypothesis
            The beam after them.
        """
        for index, frame in enumerate(tn_output):
            hypotheses = self._beam_frame(frame, hypotheses, first_frame + index)
        return hypotheses

    def finish(self, hypotheses):
        """The ``nbest`` best hypotheses of a beam, best first (by score per token, as SpeechBrain's)."""
        return sorted(hypotheses, key=Hypothesis.normalised_score, reverse=True)[: self.nbest]

    def _beam_frame(self, frame, hypotheses, index):
        """One frame of the frame-synchronous beam search: expands the best open hypothesis until ``beam_size``
        hypotheses have ended the frame with blank, or the best open one is ``state_beam`` worse than the best
        ended one."""
        open_hypotheses = [Hypothesis(h.tokens, h.score, h.predictor_state, h.lm_state, 0, h.predictor, h.lm, h.frames)
                           for h in hypotheses]  # fmt: skip
        ended = []
        while len(ended) < self.beam_size and open_hypotheses:
            best = max(open_hypotheses, key=Hypothesis.normalised_score)
            if ended and max(ended, key=Hypothesis.normalised_score).score >= self.state_beam + best.score:
                break
            open_hypotheses.remove(best)
            self._run_networks(best, frame.device)
            log_probs = self._joint_forward_step(frame[None, None, None], best.predictor[0][:, None]).view(-1)
            top_log_probs, top_tokens = log_probs.topk(min(self.beam_size, log_probs.numel()))
            top_log_probs, top_tokens = top_log_probs.tolist(), top_tokens.tolist()
            words = [p for p, t in zip(top_log_probs, top_tokens) if t != self.blank_id]
            if best.symbols_in_frame > self.max_symbols_per_step:
                words, top_tokens = [], [self.blank_id]
                top_log_probs = [float(log_probs[self.blank_id])]
            for log_prob, token in zip(top_log_probs, top_tokens):
                if token == self.blank_id:
                    ended.append(Hypothesis(best.tokens, best.score + log_prob, best.predictor_state, best.lm_state,
                                            0, best.predictor, best.lm, best.frames))  # fmt: skip
                elif log_prob >= words[0] - self.expand_beam:
                    score = best.score + log_prob
                    if self.lm_weight > 0:
                        score += self.lm_weight * float(best.lm[0].view(-1)[token])
                    lm_state = best.lm[1] if best.lm is not None else None
                    tokens, symbols = best.tokens + (token,), best.symbols_in_frame + 1
                    open_hypotheses.append(
                        Hypothesis(tokens, score, best.predictor[1], lm_state, symbols, frames=best.frames + (index,))
                    )
        return ended

    def _run_networks(self, hypothesis, device):
        """Reads the hypothesis's last token (blank at the start) into the prediction network and the LM, once."""
        if hypothesis.predictor is not None:
            return
        last = torch.tensor([[hypothesis.tokens[-1] if hypothesis.tokens else self.blank_id]], device=device)
        hypothesis.predictor = self._forward_PN(last, self.decode_network_lst, hypothesis.predictor_state)
        if self.lm_weight > 0:
            hypothesis.lm = self._lm_forward_step(last, hypothesis.lm_state)

    def beam_search_streaming(self, tn_output, context):
        """The tokens a stream's next encoder frames make certain: a ``decoding_function`` for ``StreamingASR``.

        The beam is carried in ``context``; the tokens given out are those every hypothesis of the beam shares
        (they can no longer change), and on the stream's last chunk (``context.final``) the rest of the best
        hypothesis. So the tokens given out over a stream are the best hypothesis of decoding it at once.

        Arguments
        ---------
        tn_output : torch.Tensor
            The next frames of one stream ``[1, frames, joint_dim]``.
        context : TransducerBeamStreamingContext
            The stream's beam, updated in place.

        Returns
        -------
        list of list of int
            The new tokens, for the one stream.
        """
        if tn_output.shape[0] != 1:
            raise ValueError(f"beam search streams one utterance at a time, got a batch of {tn_output.shape[0]}")
        if context.hypotheses is None:
            context.hypotheses = self.start()
        context.hypotheses = self.advance(context.hypotheses, tn_output[0])
        if context.final:
            settled = list(self.finish(context.hypotheses)[0].tokens)
        else:
            settled = common_prefix([h.tokens for h in context.hypotheses])
        new_tokens = settled[context.emitted :]
        context.emitted = len(settled)
        return [new_tokens]


def common_prefix(sequences):
    """The longest sequence that starts every one of ``sequences``.

    Example
    -------
    >>> common_prefix([(1, 2, 3), (1, 2), (1, 2, 5)])
    [1, 2]
    """
    prefix = []
    for items in zip(*sequences):
        if any(item != items[0] for item in items):
            break
        prefix.append(items[0])
    return prefix


def select(state, indices):
    """The recurrent state (a tensor or an LSTM's ``(h, c)``, batch on dimension 1) of the utterances ``indices``."""
    if isinstance(state, tuple):
        return tuple(part[:, indices] for part in state)
    return state[:, indices]


def assign(state, indices, new_state):
    """``state`` with the utterances ``indices`` replaced by ``new_state`` (see :func:`select`)."""
    if isinstance(state, tuple):
        return tuple(assign(part, indices, new_part) for part, new_part in zip(state, new_state))
    state = state.clone()
    state[:, indices] = new_state
    return state


def searcher_for(transducer, beam_size=1, lm_folder=None, lm_weight=0.0, tokenizer_file=None):
    """The search of a transducer built by ``hparams/transducer/model.yaml``: greedy (``beam_size`` 1), or beam
    search, with the RNN LM of an LM run folder fused when ``lm_folder`` is given.

    Arguments
    ---------
    transducer : dict
        What ``model.yaml`` builds (its ``emb``, ``dec``, ``proj_dec``, ``Tjoint``, ``transducer_lin``,
        ``blank_index``).
    beam_size : int
        1 for greedy search.
    lm_folder : str, optional
        A run folder of ``recipes/lm/train.py`` with a recurrent LM (``hparams/lm/rnn_lm.yaml``).
    lm_weight : float
        The LM's weight when ``lm_folder`` is given (ignored otherwise, so a paper YAML can state it).
    tokenizer_file : str, optional
        The transducer's SentencePiece model; the LM folder's must be the same file.

    Returns
    -------
    TransducerSearcher

    Raises
    ------
    ValueError
        A beam size below 1, an LM weight that is not a finite number >= 0 (a negative weight would reward what
        the LM finds unlikely), an LM folder with greedy search or of another kind.
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a whole number >= 1 (1: greedy), got {beam_size!r}")
    if not isinstance(lm_weight, (int, float)) or not math.isfinite(lm_weight) or lm_weight < 0:
        raise ValueError(
            f"lm_weight must be a finite number >= 0 (0: no LM; a negative weight rewards what the LM finds "
            f"unlikely), got {lm_weight!r}"
        )
    lm = None
    if lm_folder is not None:
        if beam_size == 1:
            raise ValueError(f"the LM of {lm_folder} is fused in beam search only: set a beam size above 1")
        lm = load_lm_folder(lm_folder, tokenizer_file)
        if not getattr(lm, "return_hidden", False):
            raise ValueError(
                f"{lm_folder} holds a {type(lm).__name__}; the transducer's shallow fusion needs a recurrent LM that "
                f"returns its state (recipes/lm/train.py with an rnnlm YAML)"
            )
    return TransducerSearcher(
        [transducer["emb"], transducer["dec"], transducer["proj_dec"]], transducer["Tjoint"],
        [transducer["transducer_lin"]], blank_id=transducer["blank_index"], beam_size=beam_size, lm_module=lm,
        lm_weight=lm_weight if lm is not None else 0.0,
    )  # fmt: skip
