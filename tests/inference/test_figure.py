import sys

import numpy as np
import pytest
from PIL import Image

from keras_geomatch.inference import align
from keras_geomatch.inference import make_alignment_figure
from keras_geomatch.inference import save_alignment_figure
from tests.inference.tiny_models import constant_theta_model


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 255, (50, 70, 3)).astype(np.float32)
    target = rng.uniform(0, 255, (40, 60, 3)).astype(np.float32)
    model = constant_theta_model("affine", [0.9, 0.0, 0.05, 0.0, 0.9, 0.0])
    return align(model, source, target), source, target


def test_figure_has_six_titled_panels_and_points(case):
    result, source, target = case
    figure = make_alignment_figure(
        result, source, target, target_points=[[10, 10], [50, 30], [0, 39]]
    )
    titles = [ax.get_title() for ax in figure.axes]
    assert len(titles) == 6
    assert titles[0] == "Source A (3/3 points transferred inside)"
    assert titles[1:] == [
        "Target B (3 points)",
        "Source warped onto B",
        "Blend A, B before alignment",
        "Blend after alignment",
        "Checkerboard after alignment",
    ]
    # Transferred points on the source panel are where map_points says.
    offsets = figure.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, result.map_points([[10, 10], [50, 30], [0, 39]]))
    assert "affine" in figure._suptitle.get_text()


def test_saved_png_is_an_image(case, tmp_path):
    result, source, target = case
    path = save_alignment_figure(str(tmp_path / "fig.png"), result, source, target, dpi=50)
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100


def test_images_that_do_not_match_the_alignment_are_refused(case):
    result, source, target = case
    with pytest.raises(ValueError, match="Expected the source and target given to align"):
        make_alignment_figure(result, target, source)


def test_missing_matplotlib_says_how_to_install_it(case, monkeypatch):
    result, source, target = case
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    with pytest.raises(ImportError, match=r"pip install 'keras-geomatch\[plot\]'"):
        make_alignment_figure(result, source, target)
