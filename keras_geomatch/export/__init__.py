"""Export of trained models: `.keras` files and a SavedModel for TF Serving.

    from keras_geomatch import export
    export.export_model(model, "exports/affine", config=config, version=1)
    export.export_model(affine, "exports/two_stage", second_stage_model=tps)

See `export_model` for the directory layout and `serving_signatures` for the
signatures a serving client calls (`serving_default`, `map_points`).
"""

from keras_geomatch.export.atomic_dir import atomic_directory
from keras_geomatch.export.exporter import CONFIG_FILE
from keras_geomatch.export.exporter import MODEL_FILE
from keras_geomatch.export.exporter import SERVING_DIR
from keras_geomatch.export.exporter import STAGE2_MODEL_FILE
from keras_geomatch.export.exporter import export_model
from keras_geomatch.geometry import resize_images
from keras_geomatch.export.saved_model import write_saved_model
from keras_geomatch.export.serving_signatures import MAP_POINTS
from keras_geomatch.export.serving_signatures import SERVING_DEFAULT
