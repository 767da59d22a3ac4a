"""Keras layers of the geometric matching CNN (all registered serializable)."""

from keras_geomatch.layers.affine_grid_gen import AffineGridGen
from keras_geomatch.layers.bilinear_sampler import BilinearSampler
from keras_geomatch.layers.feature_correlation import FeatureCorrelation
from keras_geomatch.layers.feature_l2_norm import FeatureL2Norm
from keras_geomatch.layers.feature_regression import FeatureRegression
from keras_geomatch.layers.grid_gen import GridGen
from keras_geomatch.layers.homography_grid_gen import HomographyGridGen
from keras_geomatch.layers.image_normalization import ImageNormalization
from keras_geomatch.layers.pair_split import PairSplit
from keras_geomatch.layers.tps_grid_gen import TpsGridGen


def make_grid_gen(geometric_model, output_size, **kwargs):
    """The grid generator layer of a geometric model name."""
    from keras_geomatch.geometry import get_geometric_model

    name = get_geometric_model(geometric_model).name
    if name == "affine":
        return AffineGridGen(output_size, **kwargs)
    if name == "tps":
        return TpsGridGen(output_size, **kwargs)
    return HomographyGridGen(output_size, matrix_form=(name == "hom_matrix"), **kwargs)
