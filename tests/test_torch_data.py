"""kernelwise.utils.data against torch.utils.data: the same loaders, samplers and splits built in both.

Orders that involve no randomness (sequential, custom samplers and batch samplers, drop_last, batch
counts, len) must equal torch's exactly. Random samplers draw from another generator than torch's,
so their properties are tested instead (permutations, sizes, with or without replacement, the
frequencies of weighted draws within sampling error), on both libraries' samplers alike.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch

import kernelwise as kw
from kernelwise.utils import data as kdata

tdata = torch.utils.data


def tensors(n: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return x, np.arange(n) * 10


def datasets(n: int) -> tuple[Any, Any]:
    x, y = tensors(n)
    return kdata.TensorDataset(kw.tensor(x), kw.tensor(y)), tdata.TensorDataset(torch.tensor(x), torch.tensor(y))


def batches(loader: Any) -> list[Any]:
    """Each batch as plain lists (of the label field when the batch is a tuple)."""
    out = []
    for batch in loader:
        out.append(batch[1].tolist() if isinstance(batch, tuple | list) else batch.tolist())
    return out


class Squares(kdata.Dataset):
    """A map-style dataset read sample by sample (no arrays behind it)."""

    def __len__(self) -> int:
        return 7

    def __getitem__(self, i: int) -> tuple[float, int]:
        return float(i * i), i


class TorchSquares(tdata.Dataset):
    def __len__(self) -> int:
        return 7

    def __getitem__(self, i: int) -> tuple[float, int]:
        return float(i * i), i


def test_torch_import_paths() -> None:
    assert kw.utils.data.DataLoader is kw.data.DataLoader is kdata.DataLoader
    for name in [
        "BatchSampler", "DataLoader", "Dataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
        "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "default_collate", "get_worker_info",
        "random_split",
    ]:  # fmt: skip
        assert hasattr(kdata, name) and hasattr(tdata, name), name
    assert kdata.get_worker_info() is tdata.get_worker_info() is None  # the main process


# --------------------------------------------------------------------------- orders without randomness
GRID = [
    (n, batch_size, drop_last)
    for n in (1, 7, 8, 10)
    for batch_size in (1, 3, 4, 10)
    for drop_last in (False, True)
    if not (drop_last and n < batch_size)  # no batch at all: torch yields nothing, kernelwise refuses (test_data.py)
]


@pytest.mark.parametrize(("n", "batch_size", "drop_last"), GRID)
def test_sequential_batches_and_len_equal_torch(n: int, batch_size: int, drop_last: bool) -> None:
    k_ds, t_ds = datasets(n)
    loader = kdata.DataLoader(k_ds, batch_size=batch_size, drop_last=drop_last)
    t_loader = tdata.DataLoader(t_ds, batch_size=batch_size, drop_last=drop_last)
    assert batches(loader) == batches(t_loader)
    assert len(loader) == len(t_loader) and len(loader.batch_sampler) == len(t_loader.batch_sampler)
    assert type(loader.sampler).__name__ == type(t_loader.sampler).__name__ == "SequentialSampler"
    assert type(loader.batch_sampler).__name__ == type(t_loader.batch_sampler).__name__ == "BatchSampler"
    assert loader.batch_size == t_loader.batch_size and loader.drop_last == t_loader.drop_last


class EveryOther(kdata.Sampler):
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Any:
        return iter(list(range(0, self.n, 2)) + list(range(1, self.n, 2)))

    def __len__(self) -> int:
        return self.n


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize(
    "make_sampler",
    [
        lambda lib, n: lib.SequentialSampler(range(n)),
        lambda lib, n: EveryOther(n),
        lambda lib, n: [9, 0, 3, 3, 5],  # any iterable of indices, repeats included
        lambda lib, n: range(n - 1, -1, -1),
    ],
    ids=["sequential", "custom", "list", "range"],
)
def test_given_samplers_give_torchs_batches(make_sampler: Any, drop_last: bool) -> None:
    k_ds, t_ds = datasets(10)
    loader = kdata.DataLoader(k_ds, batch_size=3, sampler=make_sampler(kdata, 10), drop_last=drop_last)
    t_loader = tdata.DataLoader(t_ds, batch_size=3, sampler=make_sampler(tdata, 10), drop_last=drop_last)
    assert batches(loader) == batches(t_loader) and len(loader) == len(t_loader)


@pytest.mark.parametrize(
    "make_batch_sampler",
    [
        lambda lib: [[3, 1], [0], [9, 8, 7]],
        lambda lib: lib.BatchSampler(lib.SequentialSampler(range(10)), 4, False),
        lambda lib: lib.BatchSampler(range(10), 4, True),
        lambda lib: lib.BatchSampler(EveryOther(10), 3, False),
    ],
    ids=["lists", "sequential", "range_drop_last", "custom"],
)
def test_batch_samplers_give_torchs_batches(make_batch_sampler: Any) -> None:
    k_ds, t_ds = datasets(10)
    loader = kdata.DataLoader(k_ds, batch_sampler=make_batch_sampler(kdata))
    t_loader = tdata.DataLoader(t_ds, batch_sampler=make_batch_sampler(tdata))
    assert batches(loader) == batches(t_loader) and len(loader) == len(t_loader)
    assert loader.batch_size is t_loader.batch_size is None


@pytest.mark.parametrize(("batch_size", "drop_last"), [(2, False), (3, True), (7, False)])
def test_batch_sampler_lists_equal_torchs(batch_size: int, drop_last: bool) -> None:
    for sampler in (range(7), [4, 4, 2], EveryOther(7)):
        ours = kdata.BatchSampler(sampler, batch_size, drop_last)
        theirs = tdata.BatchSampler(sampler, batch_size, drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    ours = kdata.BatchSampler(kdata.SequentialSampler(range(7)), batch_size, drop_last)
    assert list(ours) == list(tdata.BatchSampler(tdata.SequentialSampler(range(7)), batch_size, drop_last))
    assert all(type(i) is int for batch in ours for i in batch)


def test_map_style_dataset_with_sampler_and_collate_fn() -> None:
    def collate(samples: list[tuple[float, int]]) -> list[int]:
        return [label for _, label in samples]

    loader = kdata.DataLoader(Squares(), batch_size=2, sampler=EveryOther(7), collate_fn=collate)
    t_loader = tdata.DataLoader(TorchSquares(), batch_size=2, sampler=EveryOther(7), collate_fn=collate)
    assert list(loader) == list(t_loader)
    k_values = [b[0].tolist() for b in kdata.DataLoader(Squares(), batch_size=3)]
    t_values = [b[0].tolist() for b in tdata.DataLoader(TorchSquares(), batch_size=3)]
    assert k_values == t_values


def test_batch_size_none_yields_samples_one_by_one() -> None:
    k_ds, t_ds = datasets(4)
    samples = list(kdata.DataLoader(k_ds, batch_size=None))
    t_samples = list(tdata.DataLoader(t_ds, batch_size=None))
    assert len(samples) == len(t_samples) == len(kdata.DataLoader(k_ds, batch_size=None)) == 4
    assert [(x.tolist(), y.tolist()) for x, y in samples] == [(x.tolist(), y.tolist()) for x, y in t_samples]
    arrays = list(kdata.DataLoader([np.ones(2, np.float32), np.zeros(2, np.float32)], batch_size=None))
    assert [type(a).__name__ for a in arrays] == ["Tensor", "Tensor"]  # NumPy arrays become tensors, as in torch


def test_worker_arguments_are_accepted_and_change_nothing() -> None:
    k_ds, _ = datasets(9)
    plain = batches(kdata.DataLoader(k_ds, batch_size=4))
    loader = kdata.DataLoader(
        k_ds,
        batch_size=4,
        num_workers=2,
        pin_memory=True,
        timeout=5,
        worker_init_fn=lambda worker_id: None,
        multiprocessing_context="spawn",
        prefetch_factor=4,
        persistent_workers=True,
        pin_memory_device="",
        in_order=True,
    )
    assert batches(loader) == plain and loader.num_workers == 2 and loader.prefetch_factor == 4
    assert (
        kdata.DataLoader(k_ds, num_workers=1).prefetch_factor == tdata.DataLoader(k_ds, num_workers=1).prefetch_factor
    )


BAD_ARGUMENTS = [
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified in multiprocessing"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(multiprocessing_context="spawn"), "multiprocessing_context can only be used with multi-process loading"),
    (dict(shuffle=True, sampler=[0, 1]), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive with batch_size"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], shuffle=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], sampler=[0]), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGUMENTS, ids=[str(c[0]) for c in BAD_ARGUMENTS])
def test_bad_arguments_are_value_errors_as_in_torch(kwargs: dict, message: str) -> None:
    k_ds, t_ds = datasets(4)
    with pytest.raises(ValueError):
        tdata.DataLoader(t_ds, **kwargs)
    with pytest.raises(ValueError, match=message):
        kdata.DataLoader(k_ds, **kwargs)


def test_sampler_argument_errors_as_in_torch() -> None:
    for lib in (kdata, tdata):
        with pytest.raises(TypeError, match="replacement should be a boolean value"):
            lib.RandomSampler(range(3), replacement=1)
        with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
            lib.RandomSampler(range(3), num_samples=0)
        with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
            lib.BatchSampler(range(3), 0, False)
        with pytest.raises(ValueError, match="drop_last should be a boolean value"):
            lib.BatchSampler(range(3), 2, drop_last="yes")
        with pytest.raises(ValueError, match="weights should be a 1d sequence"):
            lib.WeightedRandomSampler([[1.0, 2.0]], 2)
        with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
            lib.WeightedRandomSampler([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="cannot draw num_samples=3 indices without replacement from 2 non-zero"):
        kdata.WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False)  # torch: a RuntimeError at iteration
    with pytest.raises(ValueError, match="finite, non-negative and not all zero"):
        kdata.WeightedRandomSampler([1.0, -1.0], 2)


# --------------------------------------------------------------------------- random orders: properties
def epochs(sampler: Any, count: int = 3) -> list[list[int]]:
    return [list(sampler) for _ in range(count)]


@pytest.mark.parametrize("lib", [kdata, tdata], ids=["kernelwise", "torch"])
def test_random_sampler_without_replacement_gives_a_new_permutation_each_epoch(lib: Any) -> None:
    sampler = lib.RandomSampler(range(50))
    draws = epochs(sampler)
    assert all(sorted(d) == list(range(50)) for d in draws) and len(sampler) == 50
    assert draws[0] != draws[1] != draws[2]


@pytest.mark.parametrize("lib", [kdata, tdata], ids=["kernelwise", "torch"])
def test_random_sampler_more_samples_than_items_repeats_whole_permutations(lib: Any) -> None:
    draws = list(lib.RandomSampler(range(4), num_samples=11))
    assert len(draws) == len(lib.RandomSampler(range(4), num_samples=11)) == 11
    assert sorted(draws[:4]) == sorted(draws[4:8]) == [0, 1, 2, 3] and len(set(draws[8:])) == 3


@pytest.mark.parametrize("lib", [kdata, tdata], ids=["kernelwise", "torch"])
def test_random_sampler_with_replacement_draws_uniformly(lib: Any) -> None:
    n, draws = 5, 20_000
    values = list(lib.RandomSampler(range(n), replacement=True, num_samples=draws))
    assert len(values) == draws and set(values) <= set(range(n)) and all(type(v) is int for v in values)
    counts = Counter(values)
    se = math.sqrt(draws * (1 / n) * (1 - 1 / n))  # binomial standard deviation of each count
    assert all(abs(counts[i] - draws / n) < 5 * se for i in range(n))
    assert len(set(list(lib.RandomSampler(range(100), replacement=True)))) < 100  # repeats (P(none) = 100!/100¹⁰⁰)


def test_random_sampler_seed_and_default_generator() -> None:
    assert epochs(kdata.RandomSampler(range(20), generator=5)) == epochs(kdata.RandomSampler(range(20), generator=5))
    kw.manual_seed(1)
    first = list(kdata.RandomSampler(range(20)))
    kw.manual_seed(1)
    assert list(kdata.RandomSampler(range(20))) == first


@pytest.mark.parametrize("lib", [kdata, tdata], ids=["kernelwise", "torch"])
def test_subset_random_sampler_permutes_its_indices(lib: Any) -> None:
    indices = [11, 4, 7, 30, 2]
    sampler = lib.SubsetRandomSampler(indices)
    draws = epochs(sampler, 6)
    assert all(sorted(d) == sorted(indices) for d in draws) and len(sampler) == 5
    assert len({tuple(d) for d in draws}) > 1


def test_subset_random_sampler_in_a_loader_reads_those_samples() -> None:
    k_ds, _ = datasets(40)
    loader = kdata.DataLoader(k_ds, batch_size=4, sampler=kdata.SubsetRandomSampler(range(10, 20), generator=0))
    labels = [label for batch in batches(loader) for label in batch]
    assert sorted(labels) == [10 * i for i in range(10, 20)] and len(loader) == 3


@pytest.mark.parametrize("lib", [kdata, tdata], ids=["kernelwise", "torch"])
def test_weighted_sampler_frequencies_follow_the_weights(lib: Any) -> None:
    weights, draws = [0.0, 1.0, 3.0, 0.0, 4.0], 40_000
    values = list(lib.WeightedRandomSampler(weights, draws))
    counts = Counter(values)
    assert len(values) == draws and counts[0] == counts[3] == 0
    for i, w in enumerate(weights):
        p = w / sum(weights)
        assert abs(counts[i] - draws * p) <= 5 * math.sqrt(draws * p * (1 - p)) + 1e-9, i


@pytest.mark.parametrize("lib", [kdata, tdata], ids=["kernelwise", "torch"])
def test_weighted_sampler_without_replacement_draws_each_index_once(lib: Any) -> None:
    for _ in range(5):
        values = list(lib.WeightedRandomSampler([1.0, 0.0, 5.0, 2.0, 1.0], 4, replacement=False))
        assert sorted(values) == [0, 2, 3, 4]


def test_shuffled_loader_keeps_its_generator_and_gathers_arrays() -> None:
    k_ds, _ = datasets(30)
    loader = kdata.DataLoader(k_ds, batch_size=7, shuffle=True, generator=3)
    assert isinstance(loader.generator, np.random.Generator)  # kernelwise.trainstate saves and restores it
    assert loader.sampler.generator is loader.generator
    state = loader.generator.bit_generator.state
    expected = np.random.default_rng(3).permutation(30) * 10  # the loader's draw: one permutation per epoch
    assert [label for batch in batches(loader) for label in batch] == expected.tolist()
    loader.generator.bit_generator.state = state
    again = [label for batch in batches(loader) for label in batch]
    assert again == expected.tolist() and len(loader) == 5


# --------------------------------------------------------------------------- random_split and Subset
@pytest.mark.parametrize(
    ("n", "lengths"), [(10, [0.8, 0.2]), (11, [0.5, 0.3, 0.2]), (7, [0.34, 0.33, 0.33]), (10, [3, 7]), (5, [0.2, 0.8])]
)
def test_random_split_sizes_equal_torchs_and_parts_partition(n: int, lengths: list) -> None:
    k_ds, t_ds = datasets(n)
    parts = kdata.random_split(k_ds, lengths, generator=0)
    t_parts = tdata.random_split(t_ds, lengths)
    assert [len(p) for p in parts] == [len(p) for p in t_parts]
    labels = sorted(int(p[i][1]) for p in parts for i in range(len(p)))
    assert labels == [10 * i for i in range(n)]
    assert all(type(p).__name__ == "Subset" for p in parts)


def test_subset_reads_the_indices_in_order_as_torch() -> None:
    k_ds, t_ds = datasets(10)
    part, t_part = kdata.Subset(k_ds, [7, 2, 2, 9]), tdata.Subset(t_ds, [7, 2, 2, 9])
    assert batches(kdata.DataLoader(part, batch_size=3)) == batches(tdata.DataLoader(t_part, batch_size=3))
    assert len(part) == len(t_part) == 4
