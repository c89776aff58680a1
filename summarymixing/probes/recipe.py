"""The step every MP3S probing recipe shares after the experiment set-up (``summarymixing.experiment``): training
the probe.

Authors
 * SummaryMixing contributors 2026
"""


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
