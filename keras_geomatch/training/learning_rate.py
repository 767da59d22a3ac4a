"""The learning rate of a run: a float or a Keras schedule of the step.

Schedules are functions of the optimizer's `iterations`, which is saved in
every backup, so a resumed run continues the schedule where it stopped.
"""

import keras


def make_learning_rate(config, steps_per_epoch):
    """The learning rate (or schedule) of a resolved `TrainConfig`.

    Args:
        config: a `TrainConfig` after `resolved()` (decay rates filled in).
        steps_per_epoch: training steps per epoch (> 0).

    Returns:
        A float for 'constant', else a `keras.optimizers.schedules`
        schedule:

        * 'cosine': `CosineDecay` from `learning_rate` to
          `lr_min_ratio · learning_rate` over all `epochs · steps_per_epoch`.
        * 'step': `PiecewiseConstantDecay`, multiplied by `lr_decay_rate` at
          the first step of each epoch in `lr_step_epochs`.
        * 'exponential': `learning_rate · lr_decay_rate^(step / steps_per_epoch)`.

    Example:
        >>> lr = make_learning_rate(config.resolved(), steps_per_epoch=100)
        >>> keras.optimizers.Adam(lr)
    """
    if steps_per_epoch < 1:
        raise ValueError(f"Expected steps_per_epoch >= 1. Received: steps_per_epoch={steps_per_epoch}")
    rate = float(config.learning_rate)
    schedule = config.lr_schedule
    if schedule == "constant":
        return rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            rate,
            decay_steps=config.epochs * steps_per_epoch,
            alpha=float(config.lr_min_ratio or 0.0),
        )
    if schedule == "step":
        boundaries = [int(epoch) * steps_per_epoch for epoch in config.lr_step_epochs]
        values = [rate * config.lr_decay_rate**i for i in range(len(boundaries) + 1)]
        # PiecewiseConstantDecay uses values[i] while step <= boundaries[i];
        # shifting by one makes the drop happen at the first step of an epoch.
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [b - 1 for b in boundaries], values
        )
    if schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            rate, decay_steps=steps_per_epoch, decay_rate=config.lr_decay_rate
        )
    raise ValueError(
        f"Unknown lr_schedule. Expected one of ['constant', 'cosine', 'step', 'exponential']. "
        f"Received: lr_schedule={schedule!r}"
    )
