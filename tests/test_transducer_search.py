"""Transducer search: batched greedy and the resumable beam search against SpeechBrain's searcher, LM fusion,
chunk-by-chunk beam search."""

import os

import pytest
import torch
from speechbrain.decoders.transducer import TransducerBeamSearcher, TransducerGreedySearcherStreamingContext
from speechbrain.lobes.models.RNNLM import RNNLM
from speechbrain.nnet.embedding import Embedding
from speechbrain.nnet.linear import Linear
from speechbrain.nnet.RNN import LSTM
from speechbrain.nnet.transducer.transducer_joint import Transducer_joint

from summarymixing import experiment
from summarymixing.transducer.search import TransducerBeamStreamingContext, TransducerSearcher

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VOCABULARY, JOINT = 7, 12


def random_networks(seed, blank_bias=1.5):
    """A random prediction network, joint network and output layer; the output layer's bias favours blank, so
    that, as in a trained model, most frames end with blank (SpeechBrain's beam search loops forever otherwise)."""
    torch.manual_seed(seed)
    classifier = Linear(VOCABULARY, input_size=JOINT)
    with torch.no_grad():
        classifier.w.bias[0] += blank_bias
    return [Embedding(VOCABULARY, 5), LSTM(JOINT, input_size=5)], Transducer_joint(joint="sum"), [classifier]


def random_lm(seed):
    torch.manual_seed(seed)
    return RNNLM(VOCABULARY, embedding_dim=6, dropout=0.0, rnn_layers=1, rnn_neurons=10, dnn_neurons=10,
                 return_hidden=True).eval()  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_batched_greedy_equals_speechbrains_greedy_per_utterance(seed):
    networks = random_networks(seed, blank_bias=0.5)
    ours = TransducerSearcher(*networks, blank_id=0, beam_size=1)
    speechbrain = TransducerBeamSearcher(*networks, blank_id=0, beam_size=1)
    encoded, lengths = torch.randn(5, 30, JOINT), torch.tensor([30, 12, 1, 25, 7])
    expected = [speechbrain(encoded[i : i + 1, :length])[0][0] for i, length in enumerate(lengths)]
    assert ours.decode(encoded, lengths) == expected
    assert sum(len(tokens) for tokens in expected) > 10  # the case writes tokens, several per frame at times


@pytest.mark.parametrize("with_lm", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_beam_search_equals_speechbrains(seed, with_lm):
    networks = random_networks(seed)
    lm = random_lm(seed) if with_lm else None
    options = dict(blank_id=0, beam_size=4, nbest=4, lm_module=lm, lm_weight=0.5 if with_lm else 0.0)
    ours, speechbrain = TransducerSearcher(*networks, **options), TransducerBeamSearcher(*networks, **options)
    encoded = torch.randn(3, 20, JOINT)
    expected = speechbrain(encoded)
    result = ours(encoded)
    assert result[0] == expected[0]
    assert result[2] == expected[2]  # every n-best hypothesis, in order
    for scores, expected_scores in zip(result[3], expected[3]):
        assert torch.allclose(torch.tensor(scores), torch.tensor(expected_scores, dtype=torch.float), atol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_beam_one_equals_greedy(seed):
    networks = random_networks(seed, blank_bias=0.5)
    encoded, lengths = torch.randn(4, 25, JOINT), torch.tensor([25, 20, 3, 11])
    greedy = TransducerSearcher(*networks, blank_id=0, beam_size=1).decode(encoded, lengths)
    beam = TransducerSearcher(*networks, blank_id=0, beam_size=1)
    assert [list(beam.finish(beam.advance(beam.start(), encoded[i, :n]))[0].tokens) for i, n in enumerate(lengths)] \
        == greedy  # fmt: skip


def test_beam_search_never_scores_worse_than_greedy():
    """Under the model's own ranking (path log-probability per token), over random models and inputs."""
    for seed in range(12):
        networks = random_networks(seed, blank_bias=0.5)
        encoded = torch.randn(30, JOINT)
        scores = {}
        for beam_size in (1, 8):
            searcher = TransducerSearcher(*networks, blank_id=0, beam_size=beam_size)
            scores[beam_size] = searcher.finish(searcher.advance(searcher.start(), encoded))[0].normalised_score()
        assert scores[8] >= scores[1] - 1e-6, (seed, scores)


def test_lm_fusion_changes_the_hypothesis_it_should():
    """Two tokens sound alike (token 1 slightly more likely); the LM prefers token 2: fusion writes 2."""
    embedding = Embedding(VOCABULARY, VOCABULARY)
    classifier = Linear(VOCABULARY, input_size=VOCABULARY, bias=False)
    with torch.no_grad():
        embedding.Embedding.weight.zero_()
        embedding.Embedding.weight[1:, 0] = 20.0  # after any token, blank
        classifier.w.weight.copy_(torch.eye(VOCABULARY))
    lm = random_lm(0)
    with torch.no_grad():
        lm.out.w.weight.zero_()
        lm.out.w.bias.zero_()
        lm.out.w.bias[2] = 3.0
    frames = torch.zeros(1, 3, VOCABULARY)
    frames[0, 0, 1:3] = torch.tensor([5.0, 4.9])  # the first frame says token 1 or 2
    frames[0, 1:, 0] = 5.0  # then silence
    networks = ([embedding], Transducer_joint(joint="sum", nonlinearity=torch.nn.Identity), [classifier])
    without_lm = TransducerSearcher(*networks, blank_id=0, beam_size=2)
    with_lm = TransducerSearcher(*networks, blank_id=0, beam_size=2, lm_module=lm, lm_weight=0.5)
    assert without_lm.decode(frames) == [[1]]
    assert with_lm.decode(frames) == [[2]]


def test_greedy_search_chunk_by_chunk_equals_at_once():
    searcher = TransducerSearcher(*random_networks(2, blank_bias=0.5), blank_id=0, beam_size=1)
    encoded = torch.randn(3, 40, JOINT)
    expected = searcher.decode(encoded)
    for chunk in (1, 7, 16):
        context, streamed = TransducerGreedySearcherStreamingContext(), [[] for _ in range(3)]
        for piece in encoded.split(chunk, dim=1):
            for tokens, new in zip(streamed, searcher.greedy_search_streaming(piece, context)):
                tokens += new
        assert streamed == expected
    assert sum(map(len, expected)) > 10


@pytest.mark.parametrize("with_lm", [False, True])
def test_beam_search_chunk_by_chunk_equals_at_once(with_lm):
    networks = random_networks(5, blank_bias=0.8)
    lm = random_lm(5) if with_lm else None
    searcher = TransducerSearcher(*networks, blank_id=0, beam_size=4, lm_module=lm, lm_weight=0.5 * with_lm)
    encoded = torch.randn(1, 40, JOINT)
    expected = searcher.decode(encoded)[0]
    for chunk in (1, 3, 16):
        context, streamed, pieces = TransducerBeamStreamingContext(), [], encoded.split(chunk, dim=1)
        for index, piece in enumerate(pieces):
            context.final = index == len(pieces) - 1
            streamed += searcher.beam_search_streaming(piece, context)[0]
        assert streamed == expected
    assert len(expected) > 3


def test_search_refuses_bad_settings():
    networks = random_networks(0)
    with pytest.raises(ValueError, match="beam_size must be >= 1"):
        TransducerSearcher(*networks, blank_id=0, beam_size=0)
    with pytest.raises(ValueError, match="no lm_module"):
        TransducerSearcher(*networks, blank_id=0, beam_size=2, lm_weight=0.5)
    with pytest.raises(ValueError, match="do not fit encoder output"):
        TransducerSearcher(*networks, blank_id=0).decode(torch.randn(2, 5, JOINT), torch.tensor([5, 6]))


def test_the_paper_rnn_lm_is_speechbrains_librispeech_rnnlm(tmp_path):
    """hparams/lm/librispeech_rnnlm.yaml builds SpeechBrain's LibriSpeech RNN LM, as the published transducer fuses
    it: 1000 tokens, embedding 128, 2 x 2048 LSTM, one 512-unit DNN block, returning its state."""
    hparams = experiment.load(
        os.path.join(REPO, "hparams", "lm", "librispeech_rnnlm.yaml"),
        {
            "data_folder": "/nonexistent",
            "lm_corpus": "lm.txt",
            "tokenizer_file": "t.model",
            "output_folder": str(tmp_path),
        },
    )
    lm = hparams["lm"]["model"]
    assert lm.return_hidden and lm.embedding.Embedding.weight.shape == (1000, 128)
    assert lm.rnn.rnn.num_layers == 2 and lm.rnn.rnn.hidden_size == 2048 and lm.out.w.weight.shape == (1000, 512)
    assert hparams["bos_index"] == hparams["eos_index"] == 0  # the transducer's blank starts every sentence
