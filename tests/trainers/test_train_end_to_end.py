"""trainers/train.py end to end: a tiny run, its files, and the exported model."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_geomatch  # noqa: F401  (registers the layers for load_model)
from keras_geomatch.training import TrainConfig
from tests.trainers.cli import TINY_FLAGS
from tests.trainers.cli import run_train


@pytest.mark.slow
def test_tiny_run_trains_evaluates_and_exports(tmp_path):
    workdir, export_dir = tmp_path / "work", tmp_path / "export"
    result = run_train(
        *TINY_FLAGS, "--epochs=2", "--steps_per_epoch=2", "--validation_steps=1",
        "--model_name=tiny", f"--workdir={workdir}", f"--export_dir={export_dir}",
    )
    assert result.returncode == 0, result.stderr[-4000:]
    output = result.stdout + result.stderr
    assert "Starting a new run" in output
    assert "Synthetic PCK on 2 validation pairs" in output

    # The work directory.
    config = TrainConfig.load(workdir / "config.json")
    assert (config.model_name, config.image_size, config.steps_per_epoch) == ("tiny", (88, 88), 2)
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["global_step"] == 4 and metrics["weights"] == "best"
    pck = metrics["synthetic_pck"]
    assert pck["num_pairs"] == 2
    for key in ("pck@0.05", "pck@0.1", "identity_pck@0.05", "identity_pck@0.1"):
        assert 0.0 <= pck[key] <= 1.0
    assert os.listdir(workdir / "logs") and os.listdir(workdir / "checkpoints")
    # Backups at the two epoch ends (backup_every_steps=100 > 2 steps per epoch).
    assert sorted(os.listdir(workdir / "backup")) == ["step-0000000002", "step-0000000004"]

    # The export: .keras and SavedModel give the same θ.
    assert json.loads((export_dir / "config.json").read_text())["model_name"] == "tiny"
    model = keras.models.load_model(export_dir / "model.keras")
    serving = tf.saved_model.load(str(export_dir / "serving" / "1"))
    signature = serving.signatures["serving_default"]
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (2, 88, 88, 3), dtype=np.uint8)
    target = np.roll(source, 5, axis=2)
    served = signature(source_image=tf.constant(source), target_image=tf.constant(target))
    theta = model({"source_image": source.astype("float32"),
                   "target_image": target.astype("float32")})
    np.testing.assert_allclose(served["theta"].numpy(), keras.ops.convert_to_numpy(theta),
                               atol=1e-4)

    # The export holds the best checkpoint's weights.
    best_dir = os.path.join(workdir, "checkpoints", os.listdir(workdir / "checkpoints")[0])
    for exported, trained in zip(model.get_weights(), _best_weights(config, best_dir)):
        np.testing.assert_array_equal(exported, trained)


def _best_weights(config, best_dir):
    from keras_geomatch.training import build_model

    model = build_model(config, random_init=True)
    model.compile(keras.optimizers.Adam(), keras_geomatch.TransformedGridLoss())
    model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(best_dir, "model.weights.h5"))
    return model.get_weights()
