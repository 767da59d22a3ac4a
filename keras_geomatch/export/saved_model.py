"""Writing the serving SavedModel (TF Serving layout: `<model_base_path>/<version>/`)."""

import os

import keras

from keras_geomatch.export import serving_signatures


def write_saved_model(stages, path):
    """Writes the SavedModel of a chain of stages to `path`.

    Uses Keras's `ExportArchive`: the models' variables are tracked, each
    serving function becomes a signature of the same name, and the graph holds
    only TensorFlow ops (loading it needs neither Keras nor keras_geomatch).

    Args:
        stages: sequence of `inference.chain.StageModel`.
        path: the directory to create (e.g. `.../serving/1`).
    """
    archive = keras.export.ExportArchive()
    for stage in stages:
        archive.track(stage.model)
    for name, (function, input_signature) in serving_signatures.make_signatures(stages).items():
        archive.add_endpoint(name, function, input_signature=input_signature)
    archive.write_out(os.fspath(path), verbose=False)
