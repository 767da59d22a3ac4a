"""Keras's TensorBoard callback, with the model graph for every functional model."""

import os

import keras
import tensorflow as tf

# Where the run's TensorBoard logs go inside its workdir.
LOG_DIR = "logs"


class GraphTensorBoard(keras.callbacks.TensorBoard):
    """`keras.callbacks.TensorBoard` that also writes the graph of subclassed models.

    Keras writes the model graph only for classes named `Functional` or
    `Sequential`, so a `GeomatchModel` (a functional model under its own
    class) would have none. For those, the forward pass is traced once on the
    model's input signature and its op graph written with `tf.summary.graph`
    (TensorBoard's Graphs tab).
    """

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if not self.write_graph or type(self.model).__name__ in ("Functional", "Sequential"):
            return
        inputs = getattr(self.model, "_inputs_struct", None)
        if inputs is None:
            return  # not a functional model: no input signature to trace
        specs = tf.nest.map_structure(
            lambda tensor: tf.TensorSpec(tensor.shape, tensor.dtype, name=tensor.name), inputs
        )
        forward = tf.function(lambda batch: self.model(batch, training=False))
        graph = forward.get_concrete_function(specs).graph
        writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))
        with writer.as_default():
            tf.summary.graph(graph)
        writer.close()


def tensorboard_callback(workdir):
    """The TensorBoard callback of a run, writing to `workdir/logs`.

    Per epoch: scalars (`epoch_loss`, `epoch_learning_rate` in `train/`,
    `epoch_loss` in `validation/`) and weight histograms; once, the model's
    graph. `custom_loop` writes the same scalars. Open with
    `tensorboard --logdir WORKDIR/logs`.
    """
    return GraphTensorBoard(os.path.join(workdir, LOG_DIR), histogram_freq=1)
