"""The steps every MP3S probing recipe shares: experiment set-up and probe training.

Authors
 * SummaryMixing contributors 2026
"""

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import run_on_main

from summarymixing.data import mini


def setup_experiment(argv):
    """Parses a recipe's command line, starts DDP if launched by torchrun, loads the hparams file and
    creates the experiment folder; lays the bundled mini corpus out if the hparams name one.

    The mini corpus is laid out (once, cached) when the hparams file has ``mini_corpus`` (a
    ``summarymixing.data.mini`` format) and ``mini_folder`` (where to lay it out).

    Arguments
    ---------
    argv : list of str
        ``[hparams_file, --option=value ...]`` as SpeechBrain recipes take them.

    Returns
    -------
    hparams : dict
        The loaded hyperparameters.
    run_opts : dict
        SpeechBrain's run options (device, DDP, precision, ...).
    hparams_file : str
        The hparams file.
    overrides : str
        The command-line overrides (YAML).
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    if "mini_corpus" in hparams:
        run_on_main(mini.layout, args=[hparams["mini_corpus"], hparams["mini_folder"]])
    return hparams, run_opts, hparams_file, overrides


def fit_probe(brain_class, hparams, run_opts, train_set, valid_set):
    """Builds a probe ``Brain`` from the hparams and trains it (resuming from its last checkpoint).

    Arguments
    ---------
    brain_class : type
        A :class:`summarymixing.probes.ProbeBrain` subclass.
    hparams : dict
        Hyperparameters with ``modules``, ``checkpointer``, ``epoch_counter`` and the
        ``train_dataloader_opts`` / ``valid_dataloader_opts``.
    run_opts : dict
        SpeechBrain's run options.
    train_set, valid_set : DynamicItemDataset
        The training and validation data.

    Returns
    -------
    ProbeBrain
        The trained probe.
    """
    probe = brain_class(
        modules=hparams["modules"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    probe.fit(
        probe.hparams.epoch_counter,
        train_set,
        valid_set,
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    return probe
