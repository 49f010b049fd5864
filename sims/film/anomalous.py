"""Anomalous supercurrents of an in-plane surface magnetisation (docs/physics.md, "Layer C").

Per surface, the stream function g_a of the anomalous currents minimises the
integral over the film of |grad g_a + kappa m|^2: inside the film
lap g_a = -kappa div m, on its boundary dg_a/dn = -kappa m.n, and g_a = 0 outside.
Its jump at the boundary is the edge current; the bulk carries the counter-flow.
With kappa > 0, m along +y (a bias along +x on the top surface, M_J ~ n x J_s) gives
g_a = -kappa y + const: positive flux over the lower half.

The constant, which the currents inside do not fix, sets how much current runs along
the edge: the least, with g_a averaging zero along the film's edge. The edge then
carries only what the magnetisation's own boundary needs: the return of the bulk
counter-flow of a uniform m (half on each side of a symmetric film), and nothing for
a radial texture (such as a Meissner current leaves), whose azimuthal counter-flow
closes on itself and keeps its moment. (A zero mean over the film, the other natural
choice, agrees for symmetric uniform textures but would send a radial texture's whole
moment back along the edge.)

Discretisation: finite volumes on the film cells. For every face between two film
cells the energy has the term (g_j - g_i + kappa dx m_face . e_ij)^2; its
minimum is the graph-Laplacian system L g = kappa dx div_h m, whose natural
boundary condition is the Neumann one above. The Laplacian is factorised once per
film shape (sparse LU), so each new magnetisation costs one back-substitution.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg


class AnomalousCurrentSolver:
    """Stream function (A) of the anomalous currents of a magnetisation on a film mask.

    `film_mask` is a bool array (ny, nx), one connected film; `dx` the cell size (m).
    """

    def __init__(self, film_mask: np.ndarray, dx: float) -> None:
        self.mask = np.asarray(film_mask, dtype=bool)
        if not self.mask.any():
            raise ValueError("the film mask is empty")
        self.dx = dx
        index = -np.ones(self.mask.shape, dtype=np.int64)
        index[self.mask] = np.arange(self.mask.sum())
        self._index = index
        # Faces between horizontally and vertically adjacent film cells: (i, j, axis)
        right = self.mask[:, :-1] & self.mask[:, 1:]
        up = self.mask[:-1, :] & self.mask[1:, :]
        self._faces_x = (index[:, :-1][right], index[:, 1:][right], right)
        self._faces_y = (index[:-1, :][up], index[1:, :][up], up)
        n = int(self.mask.sum())
        rows, cols = [], []
        for i, j, _ in (self._faces_x, self._faces_y):
            rows += [i, j, i, j]
            cols += [i, j, j, i]
        weights = []
        for i, _, _ in (self._faces_x, self._faces_y):
            ones = np.ones(i.size)
            weights += [ones, ones, -ones, -ones]
        laplacian = scipy.sparse.csc_matrix(
            (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )
        # The constant is the null space: pin the first cell, then shift (see the module docstring).
        laplacian = laplacian.tolil()
        laplacian[0, :] = 0
        laplacian[0, 0] = 1
        self._solve = scipy.sparse.linalg.factorized(laplacian.tocsc())
        # film cells with a non-film neighbour (or on the array's border): the film's edge
        padded = np.pad(self.mask, 1, constant_values=False)
        interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        self._on_edge = (self.mask & ~interior)[self.mask]

    def stream_function(self, mx: np.ndarray, my: np.ndarray, kappa: float = 1.0) -> np.ndarray:
        """g_a (A) on the full (ny, nx) array, zero outside the film.

        mx, my: in-plane magnetisation components on the cells (any units: g_a is
        linear in kappa * m, so kappa carries the units, A/[m]).
        """
        mx = np.where(self.mask, mx, 0.0)
        my = np.where(self.mask, my, 0.0)
        rhs = np.zeros(int(self.mask.sum()))
        # (g_j - g_i) = -kappa dx m_face . e_ij at the minimum of each face term
        for (i, j, faces), component, axis in ((self._faces_x, mx, 1), (self._faces_y, my, 0)):
            if axis == 1:
                face_m = 0.5 * (component[:, :-1] + component[:, 1:])[faces]
            else:
                face_m = 0.5 * (component[:-1, :] + component[1:, :])[faces]
            drive = -kappa * self.dx * face_m  # preferred g_j - g_i
            np.add.at(rhs, i, -drive)
            np.add.at(rhs, j, drive)
        rhs[0] = 0.0
        values = self._solve(rhs)
        values -= values[self._on_edge].mean()  # the least edge current (module docstring)
        g = np.zeros(self.mask.shape)
        g[self.mask] = values
        return g
