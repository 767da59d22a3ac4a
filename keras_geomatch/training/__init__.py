"""Training on synthetic pairs (SPEC §3): config, loop, resume, metrics.

    from keras_geomatch import training
    config = training.TrainConfig.from_dict(dict(
        backbone="small", weights="none", train_backbone=True, image_size=(96, 96),
        builtin_samples=True, epochs=2))
    result = training.train(config, workdir="workdirs/try")

`trainers/train.py` is the command-line front end (absl flags → TrainConfig).

`TrainConfig` is imported here (it does not start TensorFlow); the rest on
first use, so that the programs read their flags before TensorFlow starts.
"""

from keras_geomatch.lazy_names import lazy_names
from keras_geomatch.training.train_config import TrainConfig

# Public name -> the submodule defining it (these import TensorFlow).
_LAZY = {
    "BestCheckpoint": "best_checkpoint",
    "run_custom_loop": "custom_loop",
    "make_learning_rate": "learning_rate",
    "make_strategy": "strategies",
    "evaluate_synthetic_pck": "synthetic_pck",
    "synthetic_pck_per_pair": "synthetic_pck",
    "build_model": "trainer",
    "export_trained_model": "trainer",
    "train": "trainer",
    "BackupCallback": "training_backup",
    "TrainingBackup": "training_backup",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
