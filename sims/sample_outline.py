"""The shapes of a sample file: outlines and regions as polygons or two-colour mask
images, and leads attached to an outline. Lengths in m.

Errors a user can make (an outline that crosses itself, a lead off the outline, a
mask with three colours) are UserInputError with the value described; the sample
file reader adds the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.ndimage
from matplotlib.path import Path as MplPath

from sqm.errors import UserInputError

UM = 1e-6
EDGES = {"top": (0.0, 1.0), "bottom": (0.0, -1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}


def _um(value: float) -> str:
    return f"{value / UM:.3g}"


def _point(point: tuple[float, float]) -> str:
    return f"({_um(point[0])}, {_um(point[1])}) um"


@dataclass(frozen=True)
class Polygon:
    """A simple polygon; `vertices` (m) in order, the first not repeated at the end."""

    vertices: tuple[tuple[float, float], ...]

    def _edges(self):
        points = np.asarray(self.vertices)
        return points, np.roll(points, -1, axis=0)

    def contains(self, xs, ys) -> np.ndarray:
        xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        inside = MplPath(np.asarray(self.vertices)).contains_points(np.column_stack([xs.ravel(), ys.ravel()]))
        return inside.reshape(xs.shape)

    def bounds(self) -> tuple[float, float, float, float]:
        points = np.asarray(self.vertices)
        (xmin, ymin), (xmax, ymax) = points.min(axis=0), points.max(axis=0)
        return float(xmin), float(xmax), float(ymin), float(ymax)

    def area(self) -> float:
        x, y = np.asarray(self.vertices).T
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)

    def _nearest(self, x: float, y: float) -> tuple[float, int]:
        """Distance (m) to the nearest edge and that edge's index."""
        starts, ends = self._edges()
        d = ends - starts
        t = np.clip(((x - starts[:, 0]) * d[:, 0] + (y - starts[:, 1]) * d[:, 1]) / np.sum(d * d, axis=1), 0, 1)
        distances = np.hypot(starts[:, 0] + t * d[:, 0] - x, starts[:, 1] + t * d[:, 1] - y)
        index = int(np.argmin(distances))
        return float(distances[index]), index

    def distance_to_boundary(self, x: float, y: float) -> float:
        return self._nearest(x, y)[0]

    def outward_normal_at(self, x: float, y: float) -> tuple[float, float]:
        """Unit outward normal of the edge nearest to (x, y)."""
        starts, ends = self._edges()
        index = self._nearest(x, y)[1]
        dx, dy = ends[index] - starts[index]
        length = np.hypot(dx, dy)
        normal = np.array([dy, -dx]) / length  # outward for counter-clockwise vertices
        if _signed_area(np.asarray(self.vertices)) < 0:
            normal = -normal
        return float(normal[0]), float(normal[1])


def _signed_area(points: np.ndarray) -> float:
    x, y = points.T
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


def _segments_meet(p1, p2, q1, q2) -> bool:
    """Whether the closed segments p1-p2 and q1-q2 intersect or touch."""
    def orientation(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    def on_segment(a, b, c) -> bool:
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    o1, o2, o3, o4 = orientation(p1, p2, q1), orientation(p1, p2, q2), orientation(q1, q2, p1), orientation(q1, q2, p2)
    if (o1 > 0) != (o2 > 0) and (o3 > 0) != (o4 > 0) and o1 * o2 < 0 and o3 * o4 < 0:
        return True
    return any(o == 0 and on_segment(a, b, c) for o, a, b, c in
               ((o1, p1, p2, q1), (o2, p1, p2, q2), (o3, q1, q2, p1), (o4, q1, q2, p2)))


def polygon_from_points(points) -> Polygon:
    """A checked simple polygon from (x, y) points (m); a closing vertex equal to the first is dropped."""
    vertices = [(float(x), float(y)) for x, y in points]
    if len(vertices) > 1 and vertices[0] == vertices[-1]:
        vertices = vertices[:-1]
    if not all(np.isfinite(v).all() for v in vertices):
        raise UserInputError("the outline has a point that is not a finite number")
    if len(set(vertices)) < 3:
        raise UserInputError(f"an outline needs at least 3 distinct points to close, got {len(set(vertices))}")
    n = len(vertices)
    for i in range(n):
        if vertices[i] == vertices[(i + 1) % n]:
            raise UserInputError(f"points {i} and {(i + 1) % n} are the same point")
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbouring edges share a vertex
            if _segments_meet(vertices[i], vertices[(i + 1) % n], vertices[j], vertices[(j + 1) % n]):
                raise UserInputError(
                    f"the outline crosses itself: its side from point {i} {_point(vertices[i])} to point "
                    f"{(i + 1) % n} meets the side from point {j} {_point(vertices[j])} to point {(j + 1) % n}")
    polygon = Polygon(tuple(vertices))
    if polygon.area() <= 0:
        raise UserInputError("the outline encloses no area")
    return polygon


@dataclass(frozen=True, eq=False)
class Mask:
    """A sample drawn as pixels: `cells` (ny, nx), row 0 the lowest y; `origin` (m) the
    centre of cell [0, 0]; `pixel_size` (m)."""

    cells: np.ndarray
    pixel_size: float
    origin: tuple[float, float]

    def _indices(self, xs, ys):
        columns = np.rint((np.asarray(xs, dtype=float) - self.origin[0]) / self.pixel_size).astype(int)
        rows = np.rint((np.asarray(ys, dtype=float) - self.origin[1]) / self.pixel_size).astype(int)
        return rows, columns

    def contains(self, xs, ys) -> np.ndarray:
        xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        rows, columns = self._indices(xs, ys)
        ny, nx = self.cells.shape
        inside = (rows >= 0) & (rows < ny) & (columns >= 0) & (columns < nx)
        result = np.zeros(xs.shape, dtype=bool)
        result[inside] = self.cells[rows[inside], columns[inside]]
        return result

    def bounds(self) -> tuple[float, float, float, float]:
        rows, columns = np.nonzero(self.cells)
        half = self.pixel_size / 2
        x0, y0 = self.origin
        return (x0 + columns.min() * self.pixel_size - half, x0 + columns.max() * self.pixel_size + half,
                y0 + rows.min() * self.pixel_size - half, y0 + rows.max() * self.pixel_size + half)

    def area(self) -> float:
        return float(self.cells.sum()) * self.pixel_size**2

    def distance_to_boundary(self, x: float, y: float) -> float:
        """Distance (m) from a point to the nearest pixel edge between sample and not."""
        edges = self.cells ^ scipy.ndimage.binary_erosion(self.cells, border_value=0)
        rows, columns = np.nonzero(edges)
        px = self.origin[0] + columns * self.pixel_size
        py = self.origin[1] + rows * self.pixel_size
        return float(max(np.min(np.hypot(px - x, py - y)) - self.pixel_size / 2, 0.0))

    def outward_normal_at(self, x: float, y: float) -> tuple[float, float]:
        """Unit vector from the middle of the sample pixels within 3 pixels of (x, y)
        towards (x, y): away from the sample, whichever side of the edge the point falls on."""
        radius = 3 * self.pixel_size
        rows, columns = np.nonzero(self.cells)
        px = self.origin[0] + columns * self.pixel_size
        py = self.origin[1] + rows * self.pixel_size
        near = np.hypot(px - x, py - y) <= radius
        if not near.any():
            raise UserInputError(f"({_um(x)}, {_um(y)}) um is not next to the sample")
        away = np.array([x - px[near].mean(), y - py[near].mean()])
        length = float(np.hypot(*away))
        if length == 0.0:
            raise UserInputError(f"({_um(x)}, {_um(y)}) um is inside the sample, not on its edge")
        return float(away[0] / length), float(away[1] / length)


def mask_from_png(path, pixel_size: float, centre: tuple[float, float] = (0.0, 0.0)) -> Mask:
    """A two-colour PNG as a mask: the darker colour is the sample, the picture's top row
    the highest y, the middle of the sample's bounding box at `centre` (m)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not pixel_size > 0:
        raise UserInputError(f"pixel size must be positive, got {pixel_size!r}")
    try:
        with Image.open(path) as image:
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            grey = np.asarray(image.convert("L"))
    except FileNotFoundError:
        raise UserInputError(f"no mask image {str(path)!r}") from None
    except (OSError, UnidentifiedImageError) as error:
        raise UserInputError(f"cannot read the mask image {str(path)!r} ({error})") from None
    levels = np.unique(grey)
    if levels.size != 2:
        raise UserInputError(f"{path.name} is not a two-colour image: {levels.size} grey levels")
    cells = (grey == levels[0])[::-1]  # image row 0 is the top of the picture
    _, pieces = scipy.ndimage.label(cells)
    if pieces != 1:
        raise UserInputError(f"the sample in {path.name} has {pieces} separate pieces; draw it as one")
    rows, columns = np.nonzero(cells)
    middle_x = (columns.min() + columns.max()) / 2 * pixel_size
    middle_y = (rows.min() + rows.max()) / 2 * pixel_size
    return Mask(cells, float(pixel_size), (centre[0] - middle_x, centre[1] - middle_y))


@dataclass(frozen=True)
class LeadPlacement:
    """A lead leaving along `edge` ("top", "bottom", "left", "right"); `position` (m) is
    its centre line (x for top and bottom leads, y for left and right); `width` (m)."""

    edge: str
    position: float
    width: float


def place_lead(outline: Polygon | Mask, point: tuple[float, float], width: float, tolerance: float) -> LeadPlacement:
    """A lead attached to `outline` at `point` (m), `width` (m) wide, leaving along the
    axis direction nearest to the outline's outward normal there."""
    if not width > 0:
        raise UserInputError(f"a lead's width must be positive, got {width!r}")
    x, y = point
    distance = outline.distance_to_boundary(x, y)
    if distance > tolerance:
        raise UserInputError(f"({_um(x)}, {_um(y)}) um is not on the outline (nearest edge {_um(distance)} um away)")
    nx, ny = outline.outward_normal_at(x, y)
    edge = max(EDGES, key=lambda name: EDGES[name][0] * nx + EDGES[name][1] * ny)
    return LeadPlacement(edge, float(x if edge in ("top", "bottom") else y), float(width))


def leads_overlap(a: LeadPlacement, b: LeadPlacement) -> bool:
    """Two leads leaving the same way whose strips overlap."""
    return a.edge == b.edge and abs(a.position - b.position) < (a.width + b.width) / 2


def rasterise(shape: Polygon | Mask, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The shape on a mesh (bool)."""
    return shape.contains(xs, ys)
