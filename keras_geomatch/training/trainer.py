"""`train(config, workdir)`: one training run, from a `TrainConfig` to an export.

A run, step by step:

1. validate the config, create the `tf.distribute` strategy (first: a
   multi-worker strategy must exist before TensorFlow runs anything), find
   the image files and resolve the automatic values of the config;
2. write the resolved config to `workdir/config.json`; if one is there
   already (a restart), it must describe the same run (`RESUMABLE_CHANGES`
   aside), or the run stops with the differences;
3. build and compile the model (Adam, the learning-rate schedule, the
   transformed grid loss, `jit_compile`), under the dtype policy
   `mixed_precision` ('auto': mixed_bfloat16 where bf16 is native, else
   float32; see `models.mixed_precision`) and the strategy's scope;
4. restore the latest backup of `workdir/backup/` if any: weights,
   optimizer state and global step; the data stream restarts at that step;
5. train to `epochs · steps_per_epoch` steps: Keras `fit` (default and
   mirrored strategies; progress bar, TensorBoard in `workdir/logs`
   (`tensorboard --logdir WORKDIR/logs`, then http://localhost:6006), best
   checkpoint by validation loss in `workdir/checkpoints`, backups every
   `backup_every_steps` and at every epoch end), or `custom_loop` for
   multi-worker runs. A mid-epoch restart first finishes the interrupted
   epoch (a `fit` call of its remaining steps). With `feature_cache`, the
   pairs' correlation maps are stored first (`pair_feature_cache`, resumable)
   and only the regression is fitted, in float32, on them;
6. load the best checkpoint (if there was validation), measure the
   synthetic PCK of the model and of the identity on the validation pairs
   (`synthetic_pck`), write `workdir/metrics.json`, and export with
   `export.export_model` to `export_dir` (model.keras, serving/1/,
   config.json).

Running the same command again after a kill continues from the last backup;
after a finished run it redoes only step 6.

Example:
    >>> config = TrainConfig.from_dict(dict(
    ...     backbone="small", weights="none", train_backbone=True, image_size=(96, 96),
    ...     builtin_samples=True, epochs=2, steps_per_epoch=10))
    >>> result = train(config, workdir="/tmp/run")
    >>> result["metrics"]["pck@0.1"]
"""

import dataclasses
import logging
import os
import time

import keras

from keras_geomatch import export
from keras_geomatch.inference.split_model import split_head
from keras_geomatch.losses import TransformedGridLoss
from keras_geomatch.models import backbones
from keras_geomatch.models import build_geomatch_model
from keras_geomatch.models import mixed_precision
from keras_geomatch.training import atomic_files
from keras_geomatch.training import custom_loop
from keras_geomatch.training import pair_feature_cache
from keras_geomatch.training import run_datasets
from keras_geomatch.training import strategies
from keras_geomatch.training.best_checkpoint import BestCheckpoint
from keras_geomatch.training.learning_rate import make_learning_rate
from keras_geomatch.training.synthetic_pck import evaluate_synthetic_pck
from keras_geomatch.training.tensorboard_logs import LOG_DIR
from keras_geomatch.training.tensorboard_logs import tensorboard_callback
from keras_geomatch.training.train_config import RESUMABLE_CHANGES
from keras_geomatch.training.train_config import TrainConfig
from keras_geomatch.training.train_config import describe_differences
from keras_geomatch.training.training_backup import BackupCallback
from keras_geomatch.training.training_backup import TrainingBackup
from keras_geomatch.training.training_backup import read_step_counter

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
BACKUP_DIR = "backup"
CHECKPOINT_DIR = "checkpoints"

_JIT_COMPILE = {"auto": "auto", "true": True, "false": False}


def train(config, workdir=None):
    """Runs (or resumes) the training described by `config`.

    Args:
        config: a `TrainConfig`.
        workdir: overrides `config.workdir` if given.

    Returns:
        A dict: `config` (the resolved `TrainConfig`), `metrics` (also in
        `workdir/metrics.json`; chief only, else empty), `history` (the
        epoch logs of this process's training), `start_step`, `export_dir`.

    Raises:
        ValueError: a bad config, or a workdir holding a different run.
    """
    if workdir is not None:
        config = dataclasses.replace(config, workdir=os.fspath(workdir))
    config.validate()
    strategy = strategies.make_strategy(config.strategy)
    chief = strategies.is_chief(strategy)
    replicas = strategy.num_replicas_in_sync
    logger.info("Strategy %r (%s) with %d replica(s)%s.", config.strategy,
                type(strategy).__name__, replicas,
                "" if chief else " (not the chief: this worker writes no files)")
    if config.batch_size % replicas:
        raise ValueError(
            f"Expected batch_size divisible by the number of replicas ({replicas}). "
            f"Received: batch_size={config.batch_size}"
        )
    train_files, val_files = run_datasets.resolve_files(config)
    # Resolved here rather than in `resolved()`, to log why (and detect once).
    policy, why = mixed_precision.resolve_dtype_policy(config.mixed_precision)
    logger.info("Computing in %s (%s); the export is float32.", policy, why)
    config = dataclasses.replace(config, mixed_precision=policy)
    config = config.resolved(len(train_files), len(val_files) if val_files else None)
    workdir = config.workdir
    if chief:
        _prepare_workdir(config)

    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.mixed_precision)
    try:
        return _run(config, strategy, chief, train_files, val_files, workdir)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _run(config, strategy, chief, train_files, val_files, workdir):
    keras.utils.set_random_seed(config.seed)
    multi_worker = strategies.is_multi_worker(strategy)
    backup = TrainingBackup(os.path.join(workdir, BACKUP_DIR))
    cache = None
    with strategy.scope():
        # A restart overwrites every weight from its backup: no need to load
        # (or download) the backbone's weights first. From a feature cache
        # the backup holds the head only: the backbone is loaded for the
        # export (and to finish the cache).
        model = build_model(config, random_init=bool(backup.list()) and not config.feature_cache)
        trainee = model
        if config.feature_cache:
            cache = pair_feature_cache.prepare(config, model, train_files, val_files)
            # Only the head trains now, about 1 % of a forward pass: float32
            # costs little, and the bf16 head was seen to diverge to NaN.
            mixed_precision.set_compute_dtype_policy(model, "float32")
            _, trainee = split_head(model)  # shares the model's regression layer
        loss = TransformedGridLoss(
            config.geometric_model,
            grid_size=config.loss_grid_size,
            reduction="none" if multi_worker else "sum_over_batch_size",
        )
        optimizer = keras.optimizers.Adam(make_learning_rate(config, config.steps_per_epoch))
        trainee.compile(
            optimizer=optimizer,
            loss=loss,
            jit_compile=False if multi_worker else _JIT_COMPILE[config.jit_compile],
        )
        state = backup.restore(trainee)
    start_step = int(state["global_step"]) if state else 0
    total_steps = config.epochs * config.steps_per_epoch
    if start_step > total_steps:
        raise ValueError(
            f"The backup in {backup.directory} is at step {start_step}, past the end of this "
            f"run ({config.epochs} epochs × {config.steps_per_epoch} steps = {total_steps})."
        )
    if state:
        epoch, step_in_epoch = divmod(start_step, config.steps_per_epoch)
        logger.info(
            "Resuming from %s: epoch %d/%d, step %d/%d (global step %d of %d).",
            backup.directory, epoch + 1, config.epochs, step_in_epoch,
            config.steps_per_epoch, start_step, total_steps,
        )
    else:
        logger.info("Starting a new run in %s: %d steps.", workdir, total_steps)

    if cache is None:
        val_dataset = run_datasets.validation_dataset(config, val_files) if val_files else None

        def train_dataset(first_step, num_steps):
            return run_datasets.training_dataset(config, train_files, first_step, num_steps)
    else:
        val_dataset = None
        if val_files:
            val_dataset = pair_feature_cache.validation_dataset(
                *cache.load(pair_feature_cache.VAL), config.batch_size
            )
        stored = cache.load(pair_feature_cache.TRAIN)

        def train_dataset(first_step, num_steps):
            return pair_feature_cache.training_dataset(
                *stored, config.batch_size, config.seed, first_step, num_steps
            )
    best = BestCheckpoint(os.path.join(workdir, CHECKPOINT_DIR)) if val_files and chief else None
    elapsed_before = float(state.get("train_seconds", 0.0)) if state else 0.0
    started = time.time()

    def backup_state():
        return {"train_seconds": round(elapsed_before + time.time() - started, 3)}

    history = {}
    if start_step < total_steps:
        if multi_worker:
            history = custom_loop.run_custom_loop(
                model, loss, config, strategy, train_files, start_step, chief,
                val_dataset=val_dataset if chief else None,
                backup=backup if chief else None,
                best=best,
                log_dir=os.path.join(workdir, LOG_DIR) if chief else None,
                state_fn=backup_state,
            )
        else:
            history = _fit(trainee, config, train_dataset, val_dataset, backup, best, start_step,
                           backup_state)
    final_step = read_step_counter(trainee.optimizer.iterations)
    if final_step != total_steps:
        raise RuntimeError(
            f"Training stopped at step {final_step} of {total_steps} (a NaN loss?). "
            f"The last good backup is in {backup.directory}."
        )
    train_seconds = elapsed_before + time.time() - started
    result = {"config": config, "history": history, "start_step": start_step,
              "metrics": {}, "export_dir": None}
    if chief:
        result["metrics"] = _finish(trainee, config, val_dataset, best, train_seconds)
        if config.export_at_end:
            exported = export_trained_model(model, config)
            result["export_dir"] = exported
    return result


def build_model(config, random_init=False):
    """The model of a `TrainConfig`; `random_init` skips loading the
    backbone's weights (for a copy that receives trained weights)."""
    return build_geomatch_model(
        geometric_model=config.geometric_model,
        backbone=config.backbone,
        weights=None if random_init else config.weights_argument,
        image_size=config.image_size,
        train_backbone=config.train_backbone,
        # Resolved from the config's weights, not the (maybe random) ones
        # loaded here: a copy must normalise as the trained model does.
        preprocessing=(
            backbones.default_preprocessing(config.backbone, config.weights)
            if config.preprocessing == "auto"
            else config.preprocessing
        ),
        name=f"geomatch_{config.model_name}".replace("-", "_").replace(".", "_"),
    )


def _prepare_workdir(config):
    os.makedirs(config.workdir, exist_ok=True)
    path = os.path.join(config.workdir, CONFIG_FILE)
    if os.path.exists(path) and not TrainingBackup(os.path.join(config.workdir, BACKUP_DIR)).list():
        # A run that stopped before its first backup (a failed download, a
        # typo) computed nothing to keep: a retry may change any setting.
        logger.info("Replacing the config of a run that never trained in %s.", config.workdir)
    elif os.path.exists(path):
        previous = TrainConfig.load(path)
        _check_resumable_policy(previous.mixed_precision, config.mixed_precision, config.workdir)
        differences = {
            name: values
            for name, values in previous.differences(config).items()
            if name not in RESUMABLE_CHANGES
        }
        if differences:
            listed = describe_differences(differences, "workdir")
            raise ValueError(
                f"The workdir {config.workdir!r} holds a different run. Use a new workdir, "
                f"or the same flags to resume it. Differences:\n  {listed}"
            )
    atomic_files.write_json_atomic(path, config.to_dict())


def _check_resumable_policy(old, new, workdir):
    # float32 and mixed_bfloat16 keep the same float32 variables and optimizer
    # state (a run may resume under the other, e.g. on another machine with
    # mixed_precision='auto'); mixed_float16 adds a loss-scaling optimizer.
    if old != new and "mixed_float16" in (old, new):
        raise ValueError(
            f"The workdir {workdir!r} holds a run trained with mixed_precision={old!r}; "
            f"it cannot resume with mixed_precision={new!r} (mixed_float16 adds loss "
            "scaling to the optimizer). Use the same mixed_precision, or a new workdir."
        )


def _fit(model, config, train_dataset, val_dataset, backup, best, start_step, state_fn):
    steps = config.steps_per_epoch
    epoch, step_in_epoch = divmod(start_step, steps)
    # (initial_epoch, epochs, steps_per_epoch, first global step)
    segments = []
    if step_in_epoch:
        segments.append((epoch, epoch + 1, steps - step_in_epoch, start_step))
        epoch += 1
    if epoch < config.epochs:
        segments.append((epoch, config.epochs, steps, epoch * steps))
    history = {}
    for initial_epoch, epochs, segment_steps, first_step in segments:
        dataset = train_dataset(first_step, (epochs - initial_epoch) * segment_steps)
        callbacks = [
            keras.callbacks.TerminateOnNaN(),
            tensorboard_callback(config.workdir),
        ]
        if best is not None:
            callbacks.append(best)
        callbacks.append(
            BackupCallback(backup, steps, every_steps=config.backup_every_steps,
                           state_fn=lambda: {**state_fn(), **_best_state(best)})
        )
        fitted = model.fit(
            dataset,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=segment_steps,
            validation_data=val_dataset,
            shuffle=False,  # the pair stream is already in a seeded random order
            callbacks=callbacks,
            verbose=config.verbose,
        )
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(values)
        if model.stop_training:
            break
    return history


def _best_state(best):
    if best is None or best.best_epoch is None:
        return {}
    return {"best_epoch": best.best_epoch, "best_val_loss": best.best}


def _finish(model, config, val_dataset, best, train_seconds):
    """Loads the best weights, writes metrics.json, returns the metrics.

    `model` is what was trained: the geomatch model, or its regression
    alone when training from the feature cache (validation pairs then are
    stored correlation maps)."""
    metrics = {
        "global_step": read_step_counter(model.optimizer.iterations),
        "epochs": config.epochs,
        "steps_per_epoch": config.steps_per_epoch,
        "train_seconds": round(train_seconds, 1),
        "weights": "last",
    }
    if best is not None and best.weights_path is not None:
        model.load_weights(best.weights_path)
        metrics.update(weights="best", best_epoch=best.best_epoch + 1, best_val_loss=best.best)
    if val_dataset is not None:
        pck = evaluate_synthetic_pck(
            model, val_dataset, config.geometric_model, config.image_size
        )
        metrics["synthetic_pck"] = pck
        logger.info(
            "Synthetic PCK on %d validation pairs: model %s, identity %s",
            pck["num_pairs"],
            ", ".join(f"@{a:g} {pck[f'pck@{a:g}']:.3f}" for a in pck["alphas"]),
            ", ".join(f"@{a:g} {pck[f'identity_pck@{a:g}']:.3f}" for a in pck["alphas"]),
        )
    atomic_files.write_json_atomic(os.path.join(config.workdir, METRICS_FILE), metrics)
    return metrics


def export_trained_model(model, config):
    """Exports a float32, strategy-free copy of `model` to `config.export_dir`.

    Returns:
        The absolute export directory.
    """
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        # Random initial weights (no download): every weight is copied over.
        plain = build_model(config, random_init=True)
        plain.set_weights(model.get_weights())
    finally:
        keras.config.set_dtype_policy(previous_policy)
    path = export.export_model(plain, config.export_dir, config=config.to_dict(), version=1)
    logger.info("Exported the model to %s", path)
    return path
