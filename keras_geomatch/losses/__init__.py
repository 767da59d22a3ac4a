"""Losses."""

from keras_geomatch.losses.transformed_grid_loss import TransformedGridLoss
