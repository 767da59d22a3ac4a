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
    """`GridGen(geometric_model, output_size, **kwargs)`, kept for its callers."""
    return GridGen(geometric_model, output_size, **kwargs)
