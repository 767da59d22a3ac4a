"""Using trained models: load them, align two images, transfer points, draw.

`align` runs the models as an `AlignmentChain` (`chain`), the code the
exported serving graph and the evaluation share.

    from keras_geomatch.inference import align
    result = align("saved_models/NAME/model.keras", "source.jpg", "target.jpg")
    result.theta, result.warped_source, result.map_points([[x, y]])

The program `trainers/align.py` wraps `align` and
`save_alignment_figure` (the figure needs matplotlib, the `plot` extra).
"""

from keras_geomatch.inference.align import Alignment
from keras_geomatch.inference.align import align
from keras_geomatch.inference.chain import AlignmentChain
from keras_geomatch.inference.chain import StageModel
from keras_geomatch.inference.figure import make_alignment_figure
from keras_geomatch.inference.figure import save_alignment_figure
from keras_geomatch.inference.images import load_image
from keras_geomatch.inference.model_loading import find_geomatch_model
from keras_geomatch.inference.model_loading import load_geomatch_model
from keras_geomatch.inference.point_transfer import transfer_points
from keras_geomatch.inference.split_model import SplitGeomatchModel
from keras_geomatch.inference.split_model import split_geomatch_model
from keras_geomatch.inference.warp import resize_image
from keras_geomatch.inference.warp import warp_images
