"""TensorBoard logs: Keras's callback in `fit`, the same scalars from the custom loop."""

import glob

import keras
import numpy as np
import tensorflow as tf

from keras_geomatch.training.custom_loop import EpochScalars
from keras_geomatch.training.tensorboard_logs import tensorboard_callback


def read_events(folder):
    """`{tag: [(step, plugin, value or None)]}` of the event files in `folder`."""
    found = {}
    for path in sorted(glob.glob(f"{folder}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                number = float(tf.make_ndarray(value.tensor)) if plugin == "scalars" else None
                found.setdefault(value.tag, []).append((event.step, plugin, number))
    return found


def epoch_scalars(folder):
    return {tag: [(step, number) for step, _, number in entries]
            for tag, entries in read_events(folder).items() if tag.startswith("epoch_")}


def fit_with_tensorboard(workdir):
    keras.utils.set_random_seed(0)
    # Named: an automatic name ("sequential_3") depends on the models made before.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")],
                             name="sequential")
    model.compile(keras.optimizers.Adam(0.125), "mse")
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    return model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y),
                     callbacks=[tensorboard_callback(workdir)])


def test_fit_logs_scalars_histograms_and_the_graph(tmp_path):
    history = fit_with_tensorboard(tmp_path).history
    train = read_events(tmp_path / "logs" / "train")
    assert [(s, v) for s, _, v in train["epoch_loss"]] == [
        (0, history["loss"][0]), (1, history["loss"][1])]
    assert [(s, v) for s, _, v in train["epoch_learning_rate"]] == [(0, 0.125), (1, 0.125)]
    for weight in ("kernel", "bias"):
        assert [(s, p) for s, p, _ in train[f"sequential/dense/{weight}/histogram"]] == [
            (0, "histograms"), (1, "histograms")]
    assert [p for _, p, _ in train["keras"]] == ["graph_keras_model"]
    validation = epoch_scalars(tmp_path / "logs" / "validation")
    assert validation == {"epoch_loss": [(0, history["val_loss"][0]),
                                         (1, history["val_loss"][1])]}


def test_the_custom_loop_writes_the_scalars_as_keras_does(tmp_path):
    history = fit_with_tensorboard(tmp_path / "fit").history
    writer = EpochScalars(tmp_path / "loop")
    for epoch in range(2):
        writer.write(epoch, {"loss": history["loss"][epoch], "val_loss": history["val_loss"][epoch],
                             "learning_rate": 0.125})
    writer.close()
    for split in ("train", "validation"):
        expected = epoch_scalars(tmp_path / "fit" / "logs" / split)
        got = epoch_scalars(tmp_path / "loop" / split)
        assert got.keys() == expected.keys()
        for tag in expected:
            np.testing.assert_allclose(got[tag], expected[tag], rtol=1e-6, err_msg=tag)


def test_a_geomatch_model_gets_its_training_graph(tmp_path):
    # Keras writes its layer-level summary only for classes named Functional or
    # Sequential; the op graph of the train step is what TensorBoard's Graphs
    # tab shows, and it must be there for our model class too.
    from keras_geomatch import losses
    from tests.inference.tiny_models import tiny_model

    model = tiny_model("affine")
    model.compile(keras.optimizers.Adam(1e-3), losses.TransformedGridLoss("affine"))
    images = np.random.default_rng(0).uniform(0, 255, (2, 88, 88, 3)).astype("float32")
    theta = np.tile(np.asarray([[1, 0, 0, 0, 1, 0]], "float32"), (2, 1))
    model.fit({"source_image": images, "target_image": images[::-1]}, theta, epochs=1,
              verbose=0, callbacks=[tensorboard_callback(tmp_path)])
    graphs = []
    for path in glob.glob(f"{tmp_path}/logs/train/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            if event.graph_def:
                graph = tf.compat.v1.GraphDef()
                graph.ParseFromString(event.graph_def)
                graphs.append(graph)
    assert len(graphs) == 1
    assert any("feature_correlation" in node.name for node in graphs[0].node)
