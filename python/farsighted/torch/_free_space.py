"""Open systems on the mesh in TorchScript: the wide part of the Ewald split in free space, by
smooth PME on a periodic box that holds the cluster with room to spare, as the Rust core's
``lode/mesh/open.rs`` computes it (read its module documentation for the derivation).

The potential v_w of the wide density is cut by the window W(y) = Π_d ½ erfc((|y_d| - c_d)/δ),
1 within τ where pairs of the cluster read it, and the box of sides L_d ≥ 2(c_d + tδ) holds
v_w W without images reaching any pair (Hockney's zero padding). The periodic smooth PME of
:py:class:`MeshSum` on the box, with ĝ replaced by the transform of v_w W (one forward FFT of
its samples, times the volume element) and k = 0 kept, is the free-space sum. The layout
(mesh spacing h, δ, t, the margins ρ and d_c) comes from the Rust core
(``LodeCalculator.free_space_layout``); per cluster of extents e_d along the Cartesian axes,

    c_d = h ⌈(e_d + ρ + tδ)/h⌉,   K_d = fast_size(max(⌈max(2(c_d + tδ), e_d + d_c)/h⌉, p)),

whole steps of one lattice, so that the features are smooth functions of the positions
(the box changes only by whole steps) and autograd through the B-spline weights gives their
derivatives. The box is not a cell of the system: the cell is ignored, as for any open system.
"""

import math
from typing import Any, Dict, List, Optional, Tuple

import torch

from ._mesh import MeshSum, _fast_size
from ._radial import DensityRealSpace


class FreeSpaceSum(torch.nn.Module):
    """The free-space sum of the wide density over the atoms of open systems, by ``mesh`` (a
    :py:class:`MeshSum` of ``k_set="open"``) on the box of each cluster sized by ``layout``
    (None: a placeholder that is never evaluated)"""

    def __init__(
        self,
        mesh: MeshSum,
        layout: Optional[Dict[str, Any]],
        smearing: float,
        exponent: float,
    ):
        super().__init__()
        if mesh.k_set != "open":
            raise ValueError("the free-space sum needs a mesh of the open k-set")
        self.mesh = mesh
        self.available = layout is not None
        if layout is None:
            layout = {"spacing": 1.0, "edge": 1.0, "reach": 1.0, "support": 0.0}
            layout["remainder_cutoff"] = 0.0
        self.spacing = float(layout["spacing"])
        self.edge = float(layout["edge"])
        self.reach = float(layout["reach"])
        self.support = float(layout["support"])
        self.remainder_cutoff = float(layout["remainder_cutoff"])
        self.potential = DensityRealSpace(smearing, exponent)

    @torch.jit.export
    def box(self, positions: torch.Tensor) -> Tuple[List[int], List[float]]:
        """The mesh (K₁, K₂, K₃) of the box of the cluster at ``positions`` and the half
        widths c_d of its window"""
        detached = positions.detach().to(torch.float64).cpu()
        h = self.spacing
        margin = self.reach * self.edge
        dims: List[int] = []
        half_widths: List[float] = []
        for d in range(3):
            extent = 0.0
            if detached.shape[0] > 0:
                extent = float(detached[:, d].max() - detached[:, d].min())
            half = math.ceil((extent + self.support + margin) / h) * h
            length = max(2.0 * (half + margin), extent + self.remainder_cutoff)
            dims.append(_fast_size(max(int(math.ceil(length / h)), self.mesh.order)))
            half_widths.append(half)
        return dims, half_widths

    def windowed_fourier(
        self, dims: List[int], half_widths: List[float], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """The transform of v_w W on the half spectrum (K₁, K₂, K₃/2 + 1) of the box: real,
        v_w W being even along each direction"""
        h = self.spacing
        windows: List[torch.Tensor] = []
        distances: List[torch.Tensor] = []
        for d in range(3):
            g = torch.arange(dims[d], dtype=torch.float64, device=device)
            # |y_d| of mesh index g: the nearest image
            y = torch.minimum(g, dims[d] - g) * h
            distances.append(y)
            windows.append(0.5 * torch.special.erfc((y - half_widths[d]) / self.edge))
        r = torch.sqrt(
            distances[0].reshape(-1, 1, 1) ** 2
            + distances[1].reshape(1, -1, 1) ** 2
            + distances[2].reshape(1, 1, -1) ** 2
        )
        window = windows[0].reshape(-1, 1, 1) * windows[1].reshape(1, -1, 1)
        window = window * windows[2].reshape(1, 1, -1)
        samples = window * self.potential(r)
        return (torch.fft.rfftn(samples).real * (h * h * h)).to(dtype)

    def forward(self, positions: torch.Tensor, type_masks: torch.Tensor) -> torch.Tensor:
        """(n_atoms, n_types, (max_angular + 1)², n_radial): Σ_{j∈a} ⟨b_c(· - rᵢ)|v_w(· - rⱼ)⟩
        over every atom j of each neighbour type, j = i included"""
        with torch.no_grad():
            dims, half_widths = self.box(positions)
            windowed = self.windowed_fourier(dims, half_widths, positions.dtype, positions.device)
        # K_d h from integers: TorchScript builds tensors of float lists in float32
        counts = torch.tensor(dims, dtype=torch.long, device=positions.device)
        lengths = counts.to(positions.dtype) * self.spacing
        return self.mesh(positions, torch.diag(lengths), type_masks, dims, windowed)
