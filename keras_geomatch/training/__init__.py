"""Training on synthetic pairs (SPEC §3): config, loop, resume, metrics.

    from keras_geomatch import training
    config = training.TrainConfig.from_dict(dict(
        backbone="small", weights="none", train_backbone=True, image_size=(96, 96),
        builtin_samples=True, epochs=2))
    result = training.train(config, workdir="workdirs/try")

`trainers/train.py` is the command-line front end (absl flags → TrainConfig).
"""

from keras_geomatch.training.best_checkpoint import BestCheckpoint
from keras_geomatch.training.custom_loop import run_custom_loop
from keras_geomatch.training.learning_rate import make_learning_rate
from keras_geomatch.training.strategies import make_strategy
from keras_geomatch.training.synthetic_pck import evaluate_synthetic_pck
from keras_geomatch.training.synthetic_pck import synthetic_pck_per_pair
from keras_geomatch.training.train_config import TrainConfig
from keras_geomatch.training.trainer import build_model
from keras_geomatch.training.trainer import export_trained_model
from keras_geomatch.training.trainer import train
from keras_geomatch.training.training_backup import BackupCallback
from keras_geomatch.training.training_backup import TrainingBackup
