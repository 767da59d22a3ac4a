"""Converting the reference's PyTorch checkpoints to Keras (SPEC §5).

Needs PyTorch only to read the file (``pip install 'keras-geomatch[convert]'``);
importing this package does not import torch.

    python trainers/convert_checkpoint.py best_affine_vgg.pth.tar affine_vgg.keras
"""

from keras_geomatch.convert.converter import convert_checkpoint
from keras_geomatch.convert.converter import load_reference_weights
from keras_geomatch.convert.torch_checkpoint import read_state_dict
from keras_geomatch.convert.weights_mapping import infer_backbone
from keras_geomatch.convert.weights_mapping import infer_geometric_model
from keras_geomatch.convert.weights_mapping import infer_layout
