"""Smooth particle-mesh Ewald (SPME) of the k-space sum in TorchScript, as the Rust core's
``lode/mesh/`` computes it (read its module documentation for the derivation).

With the kernel K_c(k) = (4π/V) ĝ(|k|) iˡ Iₗₙ(|k|) Yₗₘ(k̂) of channel c = (l, m, n),

    ⟨a c|Vᵢ⟩ = Σ_{0<|k|<k_c} K_c(k) e^{ik·rᵢ} Σ_{j∈a} e^{-ik·rⱼ}  (+ the k = 0 term)
             ≈ Σ_g Mₚ(uᵢ - g) φ_ac(g),   φ_ac = F⁻¹[K_c |b|² F[Q_a]],   Q_a(g) = Σ_{j∈a} Mₚ(uⱼ - g)

on a mesh of K₁ × K₂ × K₃ points, Mₚ the cardinal B-spline of order p, u = K s the mesh
coordinates of the fractional coordinates s = r h⁻¹ and |b(m)|² the Euler factors. The radial
integrals, ĝ and the harmonics are those of the k-space sum (the tables of a
:py:class:`KSpaceSum`, shared with it); the mesh of a cell follows from the fractions x_d =
max |m_d|/K_d at the reach κ_d of each cell vector and the order that the Rust core chose
when the module was built:
K_d = fast_size(max(⌈m_d / x_d⌉, 2⌊m_d⌋ + 2, p)), m_d = κ_d |a_d| / 2π. Everything is
differentiable by autograd with respect to positions and cell (the B-spline weights through
the fractional coordinates, the kernel through k = m · 2π h⁻ᵀ and 1/V), to second order; the
interpolation keeps the weights' derivatives for autograd, not the mesh values at every
atom (:py:class:`_Interpolation`).

The k-set (``k_set``): 3D cells hold 0 < |k| < k_c (``"sphere"``: reach κ_d = k_c along
every cell vector). The k∥ ≠ 0 part of slabs (``"slab"``, on their internal cell
(a, b, L n̂)) holds the k-vectors of ``lode/slab/mod.rs``, 0 < |k∥| < k_c and |k| < K, K the
bound of the converged k_z sums: the reach is k_c along a and b and K along L n̂, each with
its own fraction x_d, and there is no k = 0 term. Open systems (``"open"``, in the box of
``_free_space.py``, whose mesh is given) hold |k| < k_c, k = 0 included, with ĝ replaced by
the transform of the windowed potential.
"""

import math
from typing import List, Optional, Tuple

import torch

from ._harmonics import spherical_harmonics
from ._kspace import KSpaceSum
from ._radial import hermite_spline


def bspline_weights(x: torch.Tensor, order: int) -> torch.Tensor:
    """Mₚ(x + q), q = 0..p-1, of x in [0, 1) (any shape), the cardinal B-spline of order p by
    the recurrence of ``mesh/spline.rs``: shape (..., p)"""
    values: List[torch.Tensor] = [x, 1.0 - x]
    for n in range(3, order + 1):
        scale = 1.0 / (n - 1)
        updated: List[torch.Tensor] = [scale * x * values[0]]
        for q in range(1, n - 1):
            y = x + q
            updated.append(scale * (y * values[q] + (n - y) * values[q - 1]))
        updated.append(scale * (1.0 - x) * values[n - 2])
        values = updated
    return torch.stack(values, dim=-1)


def _spline_weights_at(order: int, x: float) -> List[float]:
    """Mₚ(x + q), q = 0..p-1, with the recurrence of the Rust core (``mesh/spline.rs``)"""
    values = [x, 1.0 - x] + [0.0] * (order - 2)
    for n in range(3, order + 1):
        for q in range(n - 1, -1, -1):
            y = x + q
            previous = values[q - 1] if q > 0 else 0.0
            values[q] = (y * values[q] + (n - y) * previous) / (n - 1)
    return values


def _fast_size(minimum: int) -> int:
    """The smallest n ≥ ``minimum`` whose prime factors are 2, 3, 5 and 7"""
    n = max(minimum, 1)
    m = 0
    while m != 1:
        m = n
        for p in [2, 3, 5, 7]:
            while m % p == 0:
                m = m // p
        n += 1
    return n - 1


class MeshSum(torch.nn.Module):
    """The k-space sum of ``kspace`` (a :py:class:`KSpaceSum` of a 3D cell, or of the
    internal cells of slabs, or of the boxes of open systems, as ``k_set`` says; its tables are
    shared, not copied) by smooth PME
    with B-splines of ``order`` on meshes of largest frequencies ``fractions`` = max |m_d|/K_d
    at the reach of each cell vector (``LodeCalculator.mesh_fractions``). ``max_chunk``: the
    inverse FFTs run over chunks of channels whose meshes hold at most about this many
    numbers (one channel at least), and each chunk is interpolated over blocks of atoms whose
    p³ mesh values hold as many (one atom at least); on the CPU, 2²² numbers (32 MB): glibc
    gives larger blocks back to the kernel when they are freed, and each new one costs a page
    fault per 4 kB (the mesh's values of 10⁴ atoms took 8.2 s of operators' time with blocks
    of 2²⁴ numbers, 3.9 s with 2²²); on other devices, whose allocators keep what they
    freed, 16 times as many."""

    def __init__(
        self,
        kspace: KSpaceSum,
        fractions: List[float],
        order: int,
        k_set: str = "sphere",
        max_chunk: int = 1 << 22,
    ):
        super().__init__()
        if order < 4 or order % 2 != 0:
            raise ValueError(f"the B-spline order of the mesh must be even and ≥ 4, got {order}")
        if len(fractions) != 3 or not all(0.0 < x <= 0.5 for x in fractions):
            raise ValueError(f"the mesh fractions must be 3 numbers in (0, 1/2], got {fractions}")
        self.kspace = kspace
        self.fractions: List[float] = [float(x) for x in fractions]
        if k_set not in ("sphere", "slab", "open"):
            raise ValueError(f"the k-set of a mesh is 'sphere', 'slab' or 'open', got {k_set}")
        self.k_set = k_set
        # κ_d: k_c along every vector, K along the normal of slabs
        self.reach: List[float] = [kspace.k_cutoff, kspace.k_cutoff, kspace.k_cutoff]
        if k_set == "slab":
            self.reach[2] = kspace.slab_k_bound
        self.order = int(order)
        self.max_chunk = int(max_chunk)
        # Mₚ(q + 1), q = 0..p-2: the sums of the Euler factors
        self.at_integers: List[float] = _spline_weights_at(self.order, 0.0)[1:]
        # iˡ = α + iβ per feature (l, m, n)
        n_radial = kspace.n_radial
        phases = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]
        alpha: List[float] = []
        beta: List[float] = []
        for l in range(kspace.max_angular + 1):
            for _ in range((2 * l + 1) * n_radial):
                alpha.append(phases[l % 4][0])
                beta.append(phases[l % 4][1])
        self.register_buffer("phase_real", torch.tensor(alpha, dtype=torch.float64))
        self.register_buffer("phase_imag", torch.tensor(beta, dtype=torch.float64))

    @torch.jit.export
    def mesh_dims(self, cell: torch.Tensor) -> List[int]:
        """(K₁, K₂, K₃) of ``cell`` (rows), as the Rust core sizes it (``mesh/size.rs``)"""
        rows = cell.detach().to(torch.float64).cpu()
        dims: List[int] = []
        for d in range(3):
            a0 = float(rows[d, 0])
            a1 = float(rows[d, 1])
            a2 = float(rows[d, 2])
            m_max = self.reach[d] * math.sqrt(a0 * a0 + a1 * a1 + a2 * a2) / (2.0 * math.pi)
            minimum = max(
                max(int(math.ceil(m_max / self.fractions[d])), 2 * int(math.floor(m_max)) + 2),
                self.order,
            )
            dims.append(_fast_size(minimum))
        return dims

    def forward(
        self,
        positions: torch.Tensor,
        cell: torch.Tensor,
        type_masks: torch.Tensor,
        box_dims: Optional[List[int]] = None,
        windowed: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """(n_atoms, n_types, (max_angular + 1)², n_radial) for the atoms at ``positions`` in
        the 3D cell ``cell`` (rows; non-singular; the internal cell of slabs), ``type_masks``
        (n_types, n_atoms) the atoms of each neighbour type: :py:meth:`KSpaceSum.forward` of
        the cell (``in_plane`` for slabs), by the mesh. Open systems: ``cell`` is their box,
        ``box_dims`` its mesh and ``windowed`` the transform of the windowed potential on its
        half spectrum (:py:class:`FreeSpaceSum`)"""
        dtype = positions.dtype
        device = positions.device
        n_atoms = positions.shape[0]
        n_types = type_masks.shape[0]
        kspace = self.kspace
        n_lm = (kspace.max_angular + 1) * (kspace.max_angular + 1)
        n_features = kspace.n_features
        volume = torch.abs(torch.linalg.det(cell))
        dims = self.mesh_dims(cell) if box_dims is None else box_dims
        k1 = dims[0]
        k2 = dims[1]
        k3 = dims[2]
        size = k1 * k2 * k3
        p = self.order
        # the atoms in the order of a Morton curve through the mesh, so that the p³ points of
        # consecutive atoms overlap and their interpolations read and write cached mesh rows
        # (the values are returned in the atoms' order)
        u = _mesh_coordinates(positions, cell, dims)
        morton = _morton_order(torch.floor(u.detach()).to(torch.long), dims)
        u = u.index_select(0, morton)
        type_masks = type_masks.index_select(1, morton)
        points, spline = self._assignment(u, dims)
        weights = _tensor_product(spline[:, 0], spline[:, 1], spline[:, 2])

        # F[Q_a] of each neighbour type's density, on the half spectrum (K₁, K₂, K₃/2 + 1)
        source = (type_masks.unsqueeze(2) * weights.unsqueeze(0)).reshape(n_types, -1)
        density = torch.zeros((n_types, size), dtype=dtype, device=device)
        density = density.index_add(1, points.reshape(-1), source)
        spectra = torch.fft.rfftn(density.reshape(n_types, k1, k2, k3), dim=[1, 2, 3])
        half = spectra.shape[3]
        spectra = spectra.reshape(n_types, -1)

        # the kernel K_c |b|² / iˡ (points, features) on the points with 0 < |k| < k_c
        kernel, inside = self._kernel(cell, volume, dims, windowed)
        spectra_real = torch.real(spectra)[:, inside]
        spectra_imag = torch.imag(spectra)[:, inside]
        phase_real = self.phase_real.to(dtype)
        phase_imag = self.phase_imag.to(dtype)
        interpolation = _Interpolation(u, points, spline.detach(), p)

        # one inverse FFT per channel (type, l, m, n), interpolated at the atoms; the chunks of
        # channels are sized by the mesh, and the interpolation takes blocks of atoms (chunks
        # sized by the p³ values of all atoms held 3 channels at 10⁴ atoms, and the products
        # and scatters of the interpolation ran over rows of 3 numbers)
        n_channels = n_types * n_features
        budget = self.max_chunk if device.type == "cpu" else 16 * self.max_chunk
        chunk = max(1, budget // size)
        columns: List[torch.Tensor] = []
        for start in range(0, n_channels, chunk):
            channels = torch.arange(start, min(start + chunk, n_channels), device=device)
            t = torch.div(channels, n_features, rounding_mode="floor")
            f = channels - t * n_features
            alpha = phase_real[f].unsqueeze(1)
            beta = phase_imag[f].unsqueeze(1)
            x = spectra_real[t]
            y = spectra_imag[t]
            w = kernel[:, f].T
            # iˡ (x + iy) K
            real = (alpha * x - beta * y) * w
            imag = (alpha * y + beta * x) * w
            n = channels.shape[0]
            full_real = torch.zeros((n, k1 * k2 * half), dtype=dtype, device=device)
            full_imag = torch.zeros((n, k1 * k2 * half), dtype=dtype, device=device)
            spectrum = torch.complex(
                full_real.index_copy(1, inside, real), full_imag.index_copy(1, inside, imag)
            ).reshape(n, k1, k2, half)
            mesh = torch.fft.irfftn(spectrum, s=[k1, k2, k3], dim=[1, 2, 3], norm="forward")
            columns.append(interpolation.at_atoms(mesh.reshape(n, size), budget))
        values = torch.cat(columns, dim=1)
        values = values.index_select(0, torch.argsort(morton))
        values = values.reshape(n_atoms, n_types, n_lm, kspace.n_radial)
        if self.k_set != "sphere":
            return values
        return kspace.add_zero_term(values, type_masks, volume)

    def _assignment(self, u: torch.Tensor, dims: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """The p³ mesh points (flat indices) each atom touches (n_atoms, p³) and the B-spline
        weights Mₚ(u_d - g_d) along each axis (n_atoms, 3, p), whose products weigh the
        points, of the atoms at the mesh coordinates ``u`` (:py:func:`_mesh_coordinates`)"""
        device = u.device
        n_atoms = u.shape[0]
        p = self.order
        sizes = torch.tensor(dims, dtype=torch.long, device=device)
        floor = torch.floor(u.detach())
        spline = bspline_weights(u - floor, p)
        # weight q belongs to the point ⌊u⌋ - q (modulo K)
        q = torch.arange(p, device=device)
        index = torch.remainder(floor.to(torch.long).unsqueeze(2) - q, sizes.view(1, 3, 1))
        points = (index[:, 0, :, None, None] * dims[1] + index[:, 1, None, :, None]) * dims[
            2
        ] + index[:, 2, None, None, :]
        return points.reshape(n_atoms, -1), spline

    def _euler_factors(self, size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """|b(m)|² for m = 0..size (``mesh/spline.rs``)"""
        m = torch.arange(size, dtype=torch.long, device=device)
        real = torch.zeros(size, dtype=dtype, device=device)
        imag = torch.zeros(size, dtype=dtype, device=device)
        for q in range(self.order - 1):
            angle = (2.0 * math.pi) * (m * q).to(dtype) / size
            real = real + self.at_integers[q] * torch.cos(angle)
            imag = imag + self.at_integers[q] * torch.sin(angle)
        norm = real * real + imag * imag
        safe = torch.where(norm < 1e-30, torch.ones_like(norm), norm)
        return torch.where(norm < 1e-30, torch.zeros_like(norm), 1.0 / safe)

    def _kernel(
        self,
        cell: torch.Tensor,
        volume: torch.Tensor,
        dims: List[int],
        windowed: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(4π/V) ĝ |b|² Iₗₙ Yₗₘ (points, features) on the points of the half spectrum in the
        k-set (0 < |k| < k_c; for slabs 0 < |k∥| < k_c, |k| < K; for open systems |k| < k_c,
        with ``windowed`` instead of ĝ), and their flat indices in the half spectrum
        (K₁, K₂, K₃/2 + 1)"""
        kspace = self.kspace
        dtype = cell.dtype
        device = cell.device
        half = dims[2] // 2 + 1
        reciprocal = 2.0 * math.pi * torch.linalg.inv(cell).T
        # |m_d| ≤ κ_d |a_d| / 2π inside the set, and K_d > 2 max |m_d| (mesh_dims)
        lengths = torch.linalg.norm(cell.detach().to(torch.float64), dim=1).cpu()
        bounds: List[int] = []
        for d in range(3):
            bound = int(math.floor(self.reach[d] * float(lengths[d]) / (2.0 * math.pi)))
            bounds.append(min(bound, (dims[d] - 1) // 2))
        n1 = torch.arange(-bounds[0], bounds[0] + 1, device=device)
        n2 = torch.arange(-bounds[1], bounds[1] + 1, device=device)
        n3 = torch.arange(0, min(bounds[2], half - 1) + 1, device=device)
        indices = torch.cartesian_prod(n1, n2, n3).reshape(-1, 3)
        with torch.no_grad():
            k = indices.to(dtype) @ reciprocal.detach()
            norm2 = k.pow(2).sum(dim=1)
            if self.k_set == "slab":
                parallel = indices[:, :2].to(dtype) @ reciprocal.detach()[:2]
                parallel2 = parallel.pow(2).sum(dim=1)
                selected = (
                    (parallel2 > 0.0)
                    & (parallel2 < kspace.k_cutoff**2)
                    & (norm2 < kspace.slab_k_bound**2)
                )
            elif self.k_set == "open":
                selected = norm2 < kspace.k_cutoff**2
            else:
                selected = (norm2 > 0.0) & (norm2 < kspace.k_cutoff**2)
        indices = indices[selected]
        m1 = torch.remainder(indices[:, 0], dims[0])
        m2 = torch.remainder(indices[:, 1], dims[1])
        m3 = indices[:, 2]
        flat = (m1 * dims[1] + m2) * half + m3

        k = indices.to(dtype) @ reciprocal
        norms = torch.linalg.norm(k, dim=1)
        directions = k / norms.unsqueeze(1)
        if self.k_set == "open":
            # k = 0 has l = 0 only, in any direction (as the Rust core: n̂ = z)
            zero = (norms == 0.0).unsqueeze(1)
            axis = torch.tensor([0.0, 0.0, 1.0], dtype=dtype, device=device).expand_as(k)
            directions = torch.where(zero, axis, directions)
        harmonics = spherical_harmonics(
            directions,
            kspace.max_angular,
            kspace.harmonics_normalization.to(dtype),
        )
        radial = hermite_spline(
            norms,
            kspace.step,
            kspace.radial_values.to(dtype),
            kspace.radial_derivatives.to(dtype),
        ).reshape(-1, kspace.max_angular + 1, kspace.n_radial)
        euler = (
            self._euler_factors(dims[0], dtype, device)[m1]
            * self._euler_factors(dims[1], dtype, device)[m2]
            * self._euler_factors(dims[2], dtype, device)[m3]
        )
        if windowed is None:
            fourier = kspace.fourier(norms)
        else:
            fourier = windowed.reshape(-1)[flat].to(dtype)
        factor = (4.0 * math.pi / volume) * fourier * euler
        kernel = (factor.unsqueeze(1) * harmonics).unsqueeze(2) * radial[:, kspace.l_of_lm, :]
        return kernel.reshape(k.shape[0], -1), flat


class _Interpolation:
    """Σ_g Mₚ(u - g) X_g at the atoms' mesh coordinates u, for meshes X of many channels.

    Autograd through the weights would keep the p³ values of every channel at every atom
    (what the derivative with respect to the weights reads): O(N p³) per channel. Instead, the
    channels are contracted with the weights and their derivatives along u, all detached, and
    the derivatives restored by δu = u - u.detach() (zero, of derivative one):

        Σ_g W X + Σ_α δu_α Σ_g ∂_α W X + ½ Σ_αβ δu_α δu_β Σ_g ∂_α ∂_β W X,

    whose value is the interpolation and whose first and second derivatives (with respect to
    u directly, and through X, which autograd follows) are those of Σ_g W(u) X: autograd keeps
    the B-spline weights and 10 contracted rows per atom and channel, not the p³ mesh values.
    W is a product of one B-spline per axis, so the contractions run axis after axis, over
    the derivative orders 0, 1, 2 of each axis' B-spline (3p³ + 9p² + 27p products per atom
    and channel, against 10p³ for the 10 products of the three B-splines). Without gradients,
    the B-splines alone. Reverse mode only: forward-mode AD (dual tensors) sees no derivative
    through the detached weights."""

    def __init__(self, u: torch.Tensor, points: torch.Tensor, spline: torch.Tensor, order: int):
        """``points`` and the detached B-spline weights ``spline`` of ``MeshSum._assignment``
        at the mesh coordinates ``u`` (:py:func:`_mesh_coordinates`)"""
        self.points = points.reshape(-1)
        self.n_atoms = u.shape[0]
        self.order = order
        self.with_derivatives = u.requires_grad
        splines = [spline]
        if self.with_derivatives:
            x = u.detach() - torch.floor(u.detach())
            # Mₚ' = Mₚ₋₁(·) - Mₚ₋₁(· - 1), Mₚ'' = Mₚ₋₂(·) - 2 Mₚ₋₂(· - 1) + Mₚ₋₂(· - 2)
            lower = _pad(bspline_weights(x, order - 1), 0, 1)
            splines.append(lower - _pad(lower[..., :-1], 1, 0))
            lowest = _pad(bspline_weights(x, order - 2), 0, 2)
            shifted = _pad(lowest[..., :-1], 1, 0)
            splines.append(lowest - 2.0 * shifted + _pad(shifted[..., :-1], 1, 0))
        # per axis, the B-spline and its derivatives: (n_atoms, orders, p) along the first;
        # repeated for each order along the axes before along the second (n_atoms · orders,
        # orders, p) and the third (n_atoms · orders², orders, p), once for all chunks of
        # channels, which autograd keeps
        n = self.n_atoms
        o = len(splines)
        self.n_orders = o
        axes = [torch.stack([s[:, d] for s in splines], dim=1) for d in range(3)]
        self.axes: List[torch.Tensor] = [
            axes[0],
            axes[1].unsqueeze(1).expand(n, o, o, order).reshape(n * o, o, order),
            axes[2].unsqueeze(1).expand(n, o * o, o, order).reshape(n * o * o, o, order),
        ]
        # the rows kept, among the (o₁, o₂, o₃) at o₁·9 + o₂·3 + o₃: the orders (0, 0, 0),
        # then (1, 0, 0), (0, 1, 0), (0, 0, 1), (2, 0, 0), (0, 2, 0), (0, 0, 2), (1, 1, 0),
        # (1, 0, 1) and (0, 1, 1) with gradients
        self.rows = torch.tensor([0, 9, 3, 1, 18, 6, 2, 12, 10, 4], device=u.device)
        self.delta = u - u.detach()

    def at_atoms(self, mesh: torch.Tensor, max_chunk: int) -> torch.Tensor:
        """(n_atoms, channels) of ``mesh`` (channels, K₁K₂K₃), over blocks of atoms whose p³
        values of all channels hold at most about ``max_chunk`` numbers"""
        n = mesh.shape[0]
        p = self.order
        n_points = p * p * p
        o = self.n_orders
        block = max(1, max_chunk // (n_points * n))
        # the p³ points of each atom, channels contiguous
        table = mesh.T.contiguous()
        blocks: List[torch.Tensor] = []
        for start in range(0, self.n_atoms, block):
            stop = min(start + block, self.n_atoms)
            b = stop - start
            points = self.points[start * n_points : stop * n_points]
            gathered = table.index_select(0, points).reshape(b, p, p * p * n)
            # along q₁, then q₂ for each order along the first axis, then q₃
            first = torch.bmm(self.axes[0][start:stop], gathered)
            weights = self.axes[1][start * o : stop * o]
            second = torch.bmm(weights, first.reshape(b * o, p, p * n))
            weights = self.axes[2][start * o * o : stop * o * o]
            third = torch.bmm(weights, second.reshape(b * o * o, p, n))
            blocks.append(third.reshape(b, o * o * o, n))
        rows = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=0)
        values = rows[:, 0]
        if not self.with_derivatives:
            return values
        rows = rows.index_select(1, self.rows)
        d = self.delta.unsqueeze(2)
        values = values + (d * rows[:, 1:4]).sum(dim=1)
        second = rows[:, 4:7] * d * d
        mixed = torch.stack([d[:, 0] * d[:, 1], d[:, 0] * d[:, 2], d[:, 1] * d[:, 2]], dim=1)
        return values + 0.5 * second.sum(dim=1) + (mixed * rows[:, 7:10]).sum(dim=1)


def _mesh_coordinates(positions: torch.Tensor, cell: torch.Tensor, dims: List[int]) -> torch.Tensor:
    """The mesh coordinates u = K s of the atoms (n_atoms, 3), s their fractional coordinates
    in [0, 1), differentiable with respect to positions and cell"""
    fractional = positions @ torch.linalg.inv(cell)
    fractional = fractional - torch.floor(fractional.detach())
    sizes = torch.tensor(dims, dtype=positions.dtype, device=positions.device)
    return fractional * sizes


def _morton_order(cells: torch.Tensor, dims: List[int]) -> torch.Tensor:
    """The permutation of the atoms that sorts the mesh cells ⌊u⌋ holding them (n_atoms, 3)
    along a Morton (Z-order) curve, 10 bits per axis (along larger meshes the cells wrap
    around: still a permutation, less local)"""
    largest = torch.tensor(dims, dtype=torch.long, device=cells.device) - 1
    cells = torch.minimum(torch.clamp(cells, min=0), largest.unsqueeze(0)) % 1024
    code = torch.zeros_like(cells[:, 0])
    for bit in range(10):
        for d in range(3):
            digit = torch.bitwise_and(torch.bitwise_right_shift(cells[:, d], bit), 1)
            code = torch.bitwise_or(code, torch.bitwise_left_shift(digit, 3 * bit + d))
    return torch.argsort(code)


def _tensor_product(first: torch.Tensor, second: torch.Tensor, third: torch.Tensor) -> torch.Tensor:
    """a(q₁) b(q₂) c(q₃) of three (n, p) weights along the axes: (n, p³), q₃ fastest as the
    mesh points of ``MeshSum._assignment``"""
    product = first[:, :, None, None] * second[:, None, :, None] * third[:, None, None, :]
    return product.reshape(first.shape[0], -1)


def _pad(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """``x`` with ``before`` and ``after`` zeros along its last dimension"""
    return torch.nn.functional.pad(x, [before, after])
