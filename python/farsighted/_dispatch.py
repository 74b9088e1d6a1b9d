"""The few array operations the tensor products need, for numpy arrays and torch tensors alike,
so that metatensor TensorMaps holding either kind of array can be combined (and torch's autograd
flows through the products)."""

from typing import Any, List, Sequence

import numpy as np

try:
    import torch
except ImportError:  # torch is optional
    torch = None


def is_torch(array: Any) -> bool:
    return torch is not None and isinstance(array, torch.Tensor)


def einsum(subscripts: str, *operands):
    if is_torch(operands[0]):
        return torch.einsum(subscripts, *operands)
    return np.einsum(subscripts, *operands, optimize=True)


def like(values: np.ndarray, reference):
    """``values`` (a numpy array) as an array of the same kind, dtype and device as ``reference``"""
    if is_torch(reference):
        return torch.as_tensor(values, dtype=reference.dtype, device=reference.device)
    return np.asarray(values, dtype=reference.dtype)


def zeros(shape: Sequence[int], reference):
    if is_torch(reference):
        return torch.zeros(tuple(shape), dtype=reference.dtype, device=reference.device)
    return np.zeros(tuple(shape), dtype=reference.dtype)


def take_rows(array, rows: np.ndarray):
    """``array[rows]`` for an integer numpy index"""
    if is_torch(array):
        return array[torch.as_tensor(rows, dtype=torch.long, device=array.device)]
    return array[rows]


def add_rows(target, rows: np.ndarray, values):
    """``target[rows] += values`` for distinct ``rows``; returns the new array (out of place for
    torch, so that autograd can follow it)"""
    if is_torch(target):
        index = torch.as_tensor(rows, dtype=torch.long, device=target.device)
        return target.index_add(0, index, values)
    target[rows] += values
    return target


def concatenate(arrays: List, axis: int):
    if is_torch(arrays[0]):
        return torch.cat(arrays, dim=axis)
    return np.concatenate(arrays, axis=axis)


def reshape(array, shape: Sequence[int]):
    return array.reshape(tuple(shape))


def scatter_columns(n_rows: int, parts: List, reference):
    """Join ``parts`` — (rows, values) pairs, values of shape (len(rows), ..., columns) — along
    the last axis, into an array of ``n_rows`` rows that is zero where a part has no row"""
    inner = tuple(parts[0][1].shape[1:-1])
    if is_torch(reference):
        # out of place, so that autograd can follow
        blocks = []
        for rows, values in parts:
            blocks.append(
                add_rows(zeros((n_rows,) + tuple(values.shape[1:]), values), rows, values)
            )
        return torch.cat(blocks, dim=-1)
    total = sum(values.shape[-1] for _, values in parts)
    result = np.zeros((n_rows,) + inner + (total,), dtype=reference.dtype)
    start = 0
    for rows, values in parts:
        result[rows, ..., start : start + values.shape[-1]] = values
        start += values.shape[-1]
    return result
