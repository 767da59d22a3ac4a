"""Independent numpy references of SPEC §2, written from the formulas.

Used by the geometry, layer and loss tests; they share nothing with the
package's TensorFlow code (float64 throughout).
"""

import numpy as np

# SPEC §2, copied from the text rather than imported from the package.
SPEC_TPS_PX = np.array([-1, -1, -1, 0, 0, 0, 1, 1, 1], dtype=np.float64)
SPEC_TPS_PY = np.array([-1, 0, 1, -1, 0, 1, -1, 0, 1], dtype=np.float64)
SPEC_HOM_CORNERS_X = np.array([-1, -1, 1, 1], dtype=np.float64)
SPEC_HOM_CORNERS_Y = np.array([-1, 1, -1, 1], dtype=np.float64)


def affine_map(theta, points):
    """θ (6,) row-major [a11, a12, tx, a21, a22, ty]; points (n, 2) → (n, 2)."""
    matrix = np.asarray(theta, np.float64).reshape(2, 3)
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def _tps_kernel(squared):
    out = np.zeros_like(squared)
    positive = squared > 0
    out[positive] = squared[positive] * np.log(squared[positive])
    return out


def tps_solve(theta, reg_factor=0.0):
    """[w; a] for x and y by solving L·[w; a] = [x'; 0] (SPEC §2). Two (12,) arrays."""
    theta = np.asarray(theta, np.float64)
    n = 9
    d2 = (SPEC_TPS_PX[:, None] - SPEC_TPS_PX[None]) ** 2 + (
        SPEC_TPS_PY[:, None] - SPEC_TPS_PY[None]
    ) ** 2
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = _tps_kernel(d2) + reg_factor * np.eye(n)
    p = np.stack([np.ones(n), SPEC_TPS_PX, SPEC_TPS_PY], axis=1)
    system[:n, n:] = p
    system[n:, :n] = p.T
    rhs_x = np.concatenate([theta[:n], np.zeros(3)])
    rhs_y = np.concatenate([theta[n:], np.zeros(3)])
    return np.linalg.solve(system, rhs_x), np.linalg.solve(system, rhs_y)


def tps_map(theta, points, reg_factor=0.0):
    """TPS θ (18,) applied to points (n, 2) → (n, 2)."""
    coef_x, coef_y = tps_solve(theta, reg_factor)
    points = np.asarray(points, np.float64)
    x, y = points[:, :1], points[:, 1:]
    u = _tps_kernel((x - SPEC_TPS_PX) ** 2 + (y - SPEC_TPS_PY) ** 2)
    basis = np.concatenate([u, np.ones_like(x), x, y], axis=1)
    return np.stack([basis @ coef_x, basis @ coef_y], axis=1)


def homography_from_4pt(theta):
    """3×3 H with h33 = 1 from the 8×8 linear system of the 4 corners (SPEC §2)."""
    theta = np.asarray(theta, np.float64)
    rows, rhs = [], []
    for x, y, u, v in zip(SPEC_HOM_CORNERS_X, SPEC_HOM_CORNERS_Y, theta[:4], theta[4:]):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    h = np.linalg.solve(np.array(rows), np.array(rhs))
    return np.append(h, 1.0).reshape(3, 3)


def homography_map(matrix, points):
    """H (3, 3) or (9,) applied to points (n, 2) with homogeneous division."""
    matrix = np.asarray(matrix, np.float64).reshape(3, 3)
    points = np.asarray(points, np.float64)
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1) @ matrix.T
    return homogeneous[:, :2] / homogeneous[:, 2:]


def map_points(theta, points, geometric_model, reg_factor=0.0):
    """One sample's θ applied to (n, 2) points, for any geometric model."""
    if geometric_model == "affine":
        return affine_map(theta, points)
    if geometric_model == "tps":
        return tps_map(theta, points, reg_factor)
    if geometric_model == "hom":
        return homography_map(homography_from_4pt(theta), points)
    if geometric_model == "hom_matrix":
        return homography_map(theta, points)
    raise ValueError(f"Unknown geometric model {geometric_model!r}")


def random_theta(geometric_model, rng, batch_size, scale=0.3):
    """Random θ near the identity (SPEC §3 style), float32 `(batch, P)`."""
    if geometric_model == "affine":
        identity = np.array([1, 0, 0, 0, 1, 0], np.float64)
    elif geometric_model == "tps":
        identity = np.concatenate([SPEC_TPS_PX, SPEC_TPS_PY])
    elif geometric_model == "hom":
        identity = np.concatenate([SPEC_HOM_CORNERS_X, SPEC_HOM_CORNERS_Y])
    elif geometric_model == "hom_matrix":
        theta = np.stack(
            [
                homography_from_4pt(random_theta("hom", rng, 1, scale)[0]).reshape(9)
                for _ in range(batch_size)
            ]
        )
        return theta.astype(np.float32)
    else:
        raise ValueError(f"Unknown geometric model {geometric_model!r}")
    noise = rng.uniform(-scale, scale, size=(batch_size, identity.size))
    return (identity + noise).astype(np.float32)


def bilinear_sample(image, x, y):
    """Bilinear sampling from the definition: each neighbour outside reads 0.

    Args:
        image: (H, W, C).
        x, y: arrays of 0-based pixel coordinates (column, row), same shape.

    Returns:
        (*x.shape, C).
    """
    image = np.asarray(image, np.float64)
    height, width = image.shape[:2]
    out = np.zeros(x.shape + image.shape[2:])
    for index in np.ndindex(x.shape):
        px, py = float(x[index]), float(y[index])
        x0, y0 = np.floor(px), np.floor(py)
        for cx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            for cy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
                if 0 <= cx <= width - 1 and 0 <= cy <= height - 1:
                    out[index] += wx * wy * image[int(cy), int(cx)]
    return out
