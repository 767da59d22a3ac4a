"""Learning-rate schedules: values at given steps, against closed forms."""

import math

import keras
import numpy as np
import pytest

from keras_geomatch.training import TrainConfig
from keras_geomatch.training import make_learning_rate


def config(**changes):
    values = dict(backbone="small", weights="none", train_backbone=True, image_size=(88, 88),
                  builtin_samples=True, epochs=10, learning_rate=0.01)
    values.update(changes)
    return TrainConfig.from_dict(values).resolved()


def rate_at(rate, step):
    if isinstance(rate, float):
        return rate
    return float(keras.ops.convert_to_numpy(rate(step)))


def test_constant():
    assert make_learning_rate(config(), steps_per_epoch=5) == 0.01


def test_cosine_goes_from_rate_to_min_ratio():
    rate = make_learning_rate(config(lr_schedule="cosine", lr_min_ratio=0.1), steps_per_epoch=5)
    assert rate_at(rate, 0) == pytest.approx(0.01)
    total = 50
    middle = 0.01 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert rate_at(rate, total // 2) == pytest.approx(middle, rel=1e-5)
    assert rate_at(rate, total) == pytest.approx(0.001, rel=1e-5)


def test_step_drops_at_the_first_step_of_each_listed_epoch():
    rate = make_learning_rate(
        config(lr_schedule="step", lr_step_epochs=(2, 5), lr_decay_rate=0.5), steps_per_epoch=4
    )
    expected = {0: 0.01, 7: 0.01, 8: 0.005, 19: 0.005, 20: 0.0025, 39: 0.0025}
    for step, value in expected.items():
        assert rate_at(rate, step) == pytest.approx(value), step


def test_exponential_per_epoch():
    rate = make_learning_rate(config(lr_schedule="exponential", lr_decay_rate=0.5),
                              steps_per_epoch=4)
    assert rate_at(rate, 0) == pytest.approx(0.01)
    assert rate_at(rate, 4) == pytest.approx(0.005)
    assert rate_at(rate, 6) == pytest.approx(0.01 * 0.5**1.5, rel=1e-5)


def test_the_optimizer_follows_the_schedule_through_its_step_counter():
    rate = make_learning_rate(
        config(lr_schedule="step", lr_step_epochs=(1,), lr_decay_rate=0.1), steps_per_epoch=2
    )
    optimizer = keras.optimizers.Adam(rate)
    variable = keras.Variable(np.zeros(2, "float32"))
    optimizer.build([variable])
    seen = []
    for _ in range(3):
        seen.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        optimizer.apply_gradients([(np.ones(2, "float32"), variable)])
    assert seen == pytest.approx([0.01, 0.01, 0.001])


def test_rejects_zero_steps():
    with pytest.raises(ValueError, match="steps_per_epoch"):
        make_learning_rate(config(), steps_per_epoch=0)
