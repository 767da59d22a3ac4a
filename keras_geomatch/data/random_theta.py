"""Random ground-truth θ for synthetic pairs, drawn statelessly (SPEC §3).

Stateless: the same seed always gives the same θ, whatever ran before, so
pairs are reproducible and validation pairs are fixed. Each geometric model
draws its own θ (`GeometricModel.random_theta`, in its geometry file); this
picks the model's ranges out of a `PairConfig`. TensorFlow is imported on
the first call (the package imports this module without starting it).
"""

from keras_geomatch import geometry
from keras_geomatch.data.pair_config import PairConfig


def random_theta(geometric_model, seed, config=None):
    """A random θgt of `geometric_model` with the ranges of `config`.

    Args:
        geometric_model: a name from `keras_geomatch.geometry.GEOMETRIC_MODELS`
            (it takes precedence over `config.geometric_model`).
        seed: shape `(2,)` int32/int64 tensor or pair of ints, the stateless
            seed (e.g. `(seed, element_index)`).
        config: a `PairConfig` giving the ranges; the defaults if None.

    Returns:
        `(num_params,)` float32 tensor, θ mapping target → source. The
        distributions are described by the ranges classes
        (`keras_geomatch.geometry.ranges`).

    Example:
        >>> theta = random_theta("affine", (0, 7))
    """
    model = geometry.get_geometric_model(geometric_model)
    config = config if config is not None else PairConfig(model.name)
    return model.random_theta(seed, config.ranges_for(model))
