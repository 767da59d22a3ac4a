"""Shared checks: config round trip and `.keras` save/load without custom_objects."""

import keras
import numpy as np


def assert_config_round_trip(layer):
    """`from_config(get_config())` rebuilds an equal layer, also via the registry."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    # By registered name only: no custom_objects.
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"].startswith("keras_geomatch>")
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(layer)
    assert revived.get_config() == config
    return clone


def assert_saved_model_round_trip(model, inputs, tmp_path, name="model.keras"):
    """Saves `model` as .keras, loads it without custom_objects, same outputs."""
    path = tmp_path / name
    model.save(path)
    loaded = keras.models.load_model(path)
    before = model.predict(inputs, verbose=0)
    after = loaded.predict(inputs, verbose=0)
    if isinstance(before, dict):
        assert sorted(before) == sorted(after)
        for key in before:
            np.testing.assert_array_equal(after[key], before[key])
    else:
        np.testing.assert_array_equal(after, before)
    for original, revived in zip(model.layers, loaded.layers):
        assert type(revived) is type(original)
    return loaded
