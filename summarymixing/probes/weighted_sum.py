"""The learned softmax-weighted sum of a frozen encoder's hidden layers (the MP3S probe input).

MP3S (Zaiem et al., 2023) never probes a single layer: the downstream head sees
``sum_l softmax(w)_l * h_l`` over every hidden state of the frozen self-supervised encoder
(the encoder input plus each layer's output), with ``w`` initialised to zero (a uniform
average) and trained by its own optimiser. After training, ``softmax(w)`` says which layers a
task uses; :func:`format_layer_weights` prints them and :func:`plot_layer_weights` draws them.

Authors
 * SummaryMixing contributors 2026
"""

import torch
import torch.nn.functional as F


class WeightedLayerSum(torch.nn.Module):
    """Softmax-weighted sum over the hidden layers of a frozen encoder.

    Arguments
    ---------
    num_layers : int
        Number of hidden states the encoder returns (the encoder input plus every layer's output,
        e.g. 13 for a 12-layer encoder).
    layer_norm : bool
        If True, each hidden state is layer-normalised (no affine parameters) before weighting,
        as SpeechBrain's ``WeightedSSLModel(layernorm=True)`` does.
    last_layer_only : bool
        Use the last hidden state alone (its weight fixed to 1, nothing learned): the usual input of a head on a
        fine-tuned encoder.

    Example
    -------
    >>> weighted_sum = WeightedLayerSum(num_layers=3)
    >>> hidden = torch.rand(3, 2, 5, 8)
    >>> weighted_sum(hidden).shape
    torch.Size([2, 5, 8])
    >>> weighted_sum.layer_weights()
    [0.333..., 0.333..., 0.333...]
    >>> last = WeightedLayerSum(num_layers=3, last_layer_only=True)
    >>> torch.equal(last(hidden), hidden[-1]), last.layer_weights(), last.weights.requires_grad
    (True, [0.0, 0.0, 1.0], False)
    """

    def __init__(self, num_layers, layer_norm=False, last_layer_only=False):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.num_layers = num_layers
        self.layer_norm = layer_norm
        self.last_layer_only = last_layer_only
        self.weights = torch.nn.Parameter(torch.zeros(num_layers), requires_grad=not last_layer_only)

    def forward(self, hidden_states):
        """Returns the weighted sum of the hidden states.

        Arguments
        ---------
        hidden_states : torch.Tensor
            All hidden states of the encoder, ``[num_layers, batch, time, dim]``.

        Returns
        -------
        torch.Tensor
            ``[batch, time, dim]``.
        """
        if hidden_states.dim() != 4 or hidden_states.shape[0] != self.num_layers:
            raise ValueError(
                f"WeightedLayerSum expects hidden states [num_layers={self.num_layers}, batch, "
                f"time, dim], got shape {tuple(hidden_states.shape)}; set num_layers to the "
                "encoder's num_hidden"
            )
        if self.last_layer_only:
            hidden_states = hidden_states[-1:]
        if self.layer_norm:
            hidden_states = F.layer_norm(hidden_states, hidden_states.shape[-1:])
        if self.last_layer_only:
            return hidden_states[0]
        norm_weights = F.softmax(self.weights, dim=0).to(hidden_states.dtype)
        return torch.einsum("l,lbtd->btd", norm_weights, hidden_states)

    def layer_weights(self):
        """Returns the current normalised layer weights ``softmax(w)`` as a list of floats."""
        if self.last_layer_only:
            return [0.0] * (self.num_layers - 1) + [1.0]
        return F.softmax(self.weights.detach().float(), dim=0).tolist()


def format_layer_weights(weights_by_task):
    """Formats layer weights as a Markdown table, one row per task, one column per layer.

    Arguments
    ---------
    weights_by_task : dict
        Maps a task name to its list of normalised layer weights.

    Returns
    -------
    str
        The Markdown table; layer 0 is the encoder input.

    Example
    -------
    >>> print(format_layer_weights({"asr": [0.25, 0.75], "speaker": [0.6, 0.4]}))
    | task | L0 | L1 |
    |---|---|---|
    | asr | 0.250 | 0.750 |
    | speaker | 0.600 | 0.400 |
    """
    num_layers = max((len(weights) for weights in weights_by_task.values()), default=0)
    lines = [
        "| task | " + " | ".join(f"L{layer}" for layer in range(num_layers)) + " |",
        "|---|" + "---|" * num_layers,
    ]
    for task, weights in weights_by_task.items():
        cells = [f"{weight:.3f}" for weight in weights] + [""] * (num_layers - len(weights))
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_layer_weights(weights_by_task, path, title=None):
    """Plots the layer weights of several tasks as grouped bars and saves the figure.

    Needs matplotlib (``pip install summarymixing[plot]``).

    Arguments
    ---------
    weights_by_task : dict
        Maps a task name to its list of normalised layer weights.
    path : str
        Where to save the figure (the extension picks the format, e.g. ``.png``).
    title : str, optional
        Figure title.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("plot_layer_weights needs matplotlib: pip install 'summarymixing[plot]'") from error
    figure, axis = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / max(len(weights_by_task), 1)
    for index, (task, weights) in enumerate(weights_by_task.items()):
        positions = [layer + index * width for layer in range(len(weights))]
        axis.bar(positions, weights, width=width, label=task)
    axis.set_xlabel("hidden layer (0 = encoder input)")
    axis.set_ylabel("softmax weight")
    if title:
        axis.set_title(title)
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
