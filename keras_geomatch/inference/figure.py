"""The alignment figure: what a person wants to see after `align`.

    Source (+ transferred points) | Target (+ points)       | Warped source (+ target points)
    Blend before alignment        | Blend after alignment   | Checkerboard after alignment

"Before" is the source simply resized onto the target (the identity θ, the
evaluation's floor); "after" is the warped source. Where the alignment is
good, the blend after alignment is sharp and the checkerboard's edges are
continuous. Keypoints given on the target are drawn with the same colour
and number in every panel that shows them.

Drawn with matplotlib's Agg canvas (no display, no global pyplot state).
matplotlib is an optional dependency: `pip install "keras-geomatch[plot]"`.
"""

import numpy as np

from keras_geomatch.inference import images as image_io
from keras_geomatch.inference import warp

_PANEL_INCHES = 4.0
# The most pixels a panel image keeps on its longer side (enough for dpi 300).
_PANEL_PIXELS = 1200


def _import_matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "The alignment figure needs matplotlib, which is not installed. Install it with: "
            "pip install 'keras-geomatch[plot]' (or: pip install matplotlib)"
        ) from None
    return Figure, FigureCanvasAgg


def make_alignment_figure(alignment, source, target, target_points=None, title=None):
    """Draws source, target, warped source, blends and a checkerboard.

    Args:
        alignment: the `Alignment` returned by `align` for these images.
        source: the source image given to `align` (path, array or tensor).
        target: the target image given to `align`.
        target_points: optional `(N, 2)` 0-based `(x, y)` pixels of the
            target; drawn on the target and the warped source, and
            transferred to the source with `alignment.map_points`.
        title: figure title; default names the geometric model(s).

    Returns:
        A `matplotlib.figure.Figure` with an Agg canvas (save it with
        `figure.savefig(path)`).

    Raises:
        ImportError: matplotlib is not installed (the message says how to
            install it).
    """
    Figure, FigureCanvasAgg = _import_matplotlib()
    # align() already applied its size limit to these images.
    source = image_io.load_image(source, "source", max_megapixels=None, keep_uint8=True)
    target = image_io.load_image(target, "target", max_megapixels=None, keep_uint8=True)
    if tuple(target.shape[:2]) != tuple(alignment.target_size) or tuple(source.shape[:2]) != tuple(
        alignment.source_size
    ):
        raise ValueError(
            "Expected the source and target given to align(). Received sizes "
            f"source={source.shape[:2]}, target={target.shape[:2]}; the alignment has "
            f"source={alignment.source_size}, target={alignment.target_size}"
        )
    source_size, target_size = source.shape[:2], target.shape[:2]
    height, width = target_size
    # Panels are drawn from copies at most _PANEL_PIXELS on a side (a figure
    # shows no more), so that a large photograph costs no full-size float copy;
    # `extent` keeps the axes in the images' own pixel coordinates.
    source_extent = _extent(source.shape[:2])
    target_extent = _extent(target.shape[:2])
    shown_size = _display_size(target.shape[:2])
    shown_source = warp.resize_image(source, _display_size(source.shape[:2]))
    target = warp.resize_image(target, shown_size)
    warped = warp.resize_image(alignment.warped_source, shown_size)
    resized = warp.resize_image(source, shown_size)

    panel_height = _PANEL_INCHES * min(2.0, max(0.4, height / width))
    figure = Figure(figsize=(3 * _PANEL_INCHES, 2 * panel_height + 0.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 3)
    panels = [
        (shown_source, "Source A", source_extent),
        (target, "Target B", target_extent),
        (warped, "Source warped onto B", target_extent),
        (0.5 * resized + 0.5 * target, "Blend A, B before alignment", target_extent),
        (0.5 * warped + 0.5 * target, "Blend after alignment", target_extent),
        (_checkerboard(warped, target), "Checkerboard after alignment", target_extent),
    ]
    for ax, (image, label, extent) in zip(axes.flat, panels):
        ax.imshow(_to_uint8(image), interpolation="bilinear", extent=extent)
        ax.set_title(label, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])

    if target_points is not None:
        points = np.asarray(target_points, dtype=np.float64).reshape(-1, 2)
        transferred = alignment.map_points(points)
        _draw_points(axes[0, 0], transferred, source_size)
        _draw_points(axes[0, 1], points, target_size)
        _draw_points(axes[0, 2], points, target_size)
        inside = np.sum(
            np.all(
                (transferred >= 0) & (transferred <= (source_size[1] - 1, source_size[0] - 1)),
                axis=1,
            )
        )
        axes[0, 0].set_title(
            f"Source A ({inside}/{len(points)} points transferred inside)", fontsize=11
        )
        axes[0, 1].set_title(f"Target B ({len(points)} points)", fontsize=11)
    figure.suptitle(title or f"keras-geomatch alignment: {alignment.description}", fontsize=13)
    return figure


def save_alignment_figure(path, alignment, source, target, target_points=None, title=None, dpi=100):
    """`make_alignment_figure` written to `path` (format from the extension, e.g. .png)."""
    figure = make_alignment_figure(alignment, source, target, target_points, title)
    figure.savefig(path, dpi=dpi)
    return path


def _display_size(size):
    """`size` scaled down to at most `_PANEL_PIXELS` on its longer side."""
    scale = min(1.0, _PANEL_PIXELS / max(size))
    return tuple(max(2, int(round(s * scale))) for s in size)


def _extent(size):
    """imshow's extent that puts pixel (x, y) of an image of `size` at (x, y)."""
    height, width = size
    return (-0.5, width - 0.5, height - 0.5, -0.5)


def _to_uint8(image):
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _checkerboard(first, second, tiles=8):
    height, width = first.shape[:2]
    tile = max(2, min(height, width) // tiles)
    rows = (np.arange(height) // tile)[:, None]
    cols = (np.arange(width) // tile)[None, :]
    mask = ((rows + cols) % 2 == 0)[..., None]
    return np.where(mask, first, second)


def _draw_points(ax, points, image_size):
    colors = _colors(len(points))
    ax.scatter(
        points[:, 0], points[:, 1], s=36, c=colors, edgecolors="white", linewidths=1.0, zorder=3
    )
    if len(points) <= 30:
        for index, (x, y) in enumerate(points):
            ax.annotate(
                str(index + 1),
                (x, y),
                xytext=(4, 4),
                textcoords="offset points",
                color="white",
                fontsize=8,
                fontweight="bold",
                zorder=4,
                bbox={"boxstyle": "round,pad=0.1", "fc": colors[index], "ec": "none", "alpha": 0.8},
            )
    # Points transferred outside the image are not drawn (the axes stay on the image).
    height, width = image_size
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)


def _colors(count):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "hsv"]
    if count <= 10:
        return [cmap(i) for i in range(count)]
    return [cmap(i / count) for i in range(count)]
