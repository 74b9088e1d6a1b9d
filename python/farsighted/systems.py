"""Conversion of the systems users pass (``ase.Atoms`` and look-alikes) to the arrays the Rust
core reads."""

from typing import Any, List, Sequence, Tuple, Union

import numpy as np

SystemArrays = Tuple[np.ndarray, np.ndarray, np.ndarray, List[bool]]


def to_system_arrays(system: Any, index: int = 0) -> SystemArrays:
    """Types, positions, cell and periodicity of one system.

    Accepts ``ase.Atoms`` and any object with ``numbers`` (or ``types``), ``positions``,
    ``cell`` and ``pbc`` attributes. Systems are periodic in all three directions, slabs
    (``pbc`` true along two cell vectors, the third one ignored), or open (``pbc`` all False:
    molecules, clusters), in which case the cell is ignored and may be zero or ``None``.
    """
    try:
        import ase

        if isinstance(system, ase.Atoms):
            types = system.numbers
            positions = system.positions
            cell = system.cell.array
            pbc = system.pbc
        else:
            raise TypeError
    except (ImportError, TypeError):
        types = getattr(system, "numbers", getattr(system, "types", None))
        positions = getattr(system, "positions", None)
        cell = getattr(system, "cell", None)
        pbc = getattr(system, "pbc", None)
        if cell is None and pbc is not None and not np.any(pbc):
            cell = np.zeros((3, 3))
        if types is None or positions is None or cell is None or pbc is None:
            raise TypeError(
                f"system {index} has type {type(system).__name__}, expected ase.Atoms or an object "
                "with numbers/types, positions, cell and pbc attributes"
            ) from None

    types = np.ascontiguousarray(np.asarray(types), dtype=np.int32)
    positions = np.ascontiguousarray(np.asarray(positions, dtype=np.float64))
    cell = np.ascontiguousarray(np.asarray(cell, dtype=np.float64))
    pbc = [bool(p) for p in np.broadcast_to(np.asarray(pbc), (3,))]
    if positions.shape != (len(types), 3):
        raise ValueError(f"system {index}: positions must have shape ({len(types)}, 3)")
    if cell.shape != (3, 3):
        raise ValueError(f"system {index}: cell must have shape (3, 3), got {cell.shape}")
    return types, positions, cell, pbc


def to_systems_arrays(systems: Union[Any, Sequence[Any]]) -> List[SystemArrays]:
    """Convert a single system or a sequence of systems."""
    if not isinstance(systems, (list, tuple)):
        systems = [systems]
    return [to_system_arrays(system, i) for i, system in enumerate(systems)]


def slab_thickness(systems: Union[Any, Sequence[Any]]) -> float:
    """The largest extent along their normal of the slabs among ``systems`` (``pbc`` true
    along exactly two cell vectors), as the Rust core measures it: the spread of the atoms'
    heights n̂·r, n̂ the unit normal of the two periodic vectors. 0 when there is no slab.
    This is what ``max_slab_thickness`` of :py:class:`farsighted.torch.LodeSphericalExpansion`
    must cover."""
    thickness = 0.0
    for _, positions, cell, pbc in to_systems_arrays(systems):
        if sum(pbc) != 2 or len(positions) == 0:
            continue
        a, b = cell[np.asarray(pbc)]
        normal = np.cross(a, b)
        heights = positions @ (normal / np.linalg.norm(normal))
        thickness = max(thickness, float(heights.max() - heights.min()))
    return thickness


def with_vacuum_for_slabs(frames: Sequence[Any], cutoff: float) -> List[Any]:
    """``frames`` (``ase.Atoms``) where every slab is replaced by a 3D-periodic copy whose
    non-periodic cell vector is along the normal, longer than the slab's thickness plus
    ``cutoff``: for features of range ``cutoff`` (SOAP, local densities) the copy sees the
    same neighbours, and its positions and strain gradients are those of the slab (no pair
    crosses the added boundary). featomic refuses mixed periodic boundary conditions."""
    result = []
    for atoms in frames:
        if sum(bool(p) for p in atoms.pbc) != 2:
            result.append(atoms)
            continue
        periodic = np.asarray(atoms.pbc, dtype=bool)
        a, b = atoms.cell.array[periodic]
        normal = np.cross(a, b)
        normal /= np.linalg.norm(normal)
        copy = atoms.copy()
        cell = copy.cell.array.copy()
        cell[~periodic] = (slab_thickness(atoms) + cutoff + 1.0) * normal
        copy.set_cell(cell, scale_atoms=False)
        copy.pbc = True
        result.append(copy)
    return result
