"""Dataset, TensorDataset, Subset, random_split, DataLoader and default_collate.

Batch boundaries and split lengths are compared with torch.utils.data; contents with plain indexing
of the arrays the datasets were built from.
"""

import numpy as np
import pytest

import kernelwise as kw
from kernelwise.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def make_arrays(n=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 3, 3)).astype(np.float32)
    y = np.arange(n, dtype=np.int64)  # label = index, so a batch's labels name its samples
    return x, y


class PerSample(Dataset):
    """A dataset the DataLoader can only read one sample at a time (no fast path)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return kw.tensor(self.x[i]), int(self.y[i])


# ----------------------------------------------------------------------------- TensorDataset
def test_tensor_dataset_rows_and_len():
    x, y = make_arrays()
    ds = TensorDataset(kw.tensor(x), kw.tensor(y))
    assert len(ds) == 10
    xi, yi = ds[7]
    np.testing.assert_array_equal(xi.numpy(), x[7])
    assert int(yi) == 7
    assert xi.dtype == np.float32 and yi.dtype == np.int64


def test_tensor_dataset_accepts_numpy_arrays():
    x, y = make_arrays()
    xi, _ = TensorDataset(x, y)[2]
    assert isinstance(xi, kw.Tensor)
    np.testing.assert_array_equal(xi.numpy(), x[2])


def test_tensor_dataset_size_mismatch():
    with pytest.raises(ValueError, match=r"size mismatch .*\(10, 1, 3, 3\), \(9,\)"):
        TensorDataset(np.zeros((10, 1, 3, 3)), np.zeros(9))


def test_tensor_dataset_needs_a_tensor():
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


def test_tensor_dataset_rejects_scalars():
    with pytest.raises(ValueError, match=r"tensors\[1\] is 0-dimensional"):
        TensorDataset(np.zeros(3), np.array(1.0))


def test_tensor_dataset_rejects_lists():
    with pytest.raises(TypeError, match=r"tensors\[0\] must be a Tensor or numpy.ndarray, got list"):
        TensorDataset([1, 2, 3])


# ----------------------------------------------------------------------------- Subset, random_split
def test_subset_picks_in_order():
    x, y = make_arrays()
    part = Subset(TensorDataset(x, y), [9, 0, 4])
    assert len(part) == 3
    assert [int(part[i][1]) for i in range(3)] == [9, 0, 4]


def test_subset_index_out_of_range():
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 10\)"):
        Subset(TensorDataset(*make_arrays()), [3, 10])


@pytest.mark.parametrize(
    "n, lengths",
    [(10, [3, 7]), (10, [0.33, 0.33, 0.34]), (7, [0.5, 0.5]), (11, [0.1, 0.2, 0.3, 0.4]), (5, [5, 0])],
)
def test_random_split_lengths_match_torch(n, lengths):
    torch = pytest.importorskip("torch")
    ds = TensorDataset(np.arange(n))
    expected = [len(p) for p in torch.utils.data.random_split(range(n), lengths)]
    parts = random_split(ds, lengths, generator=0)
    assert [len(p) for p in parts] == expected
    indices = sorted(int(p[i][0]) for p in parts for i in range(len(p)))
    assert indices == list(range(n))  # disjoint and complete


def test_random_split_reproducible_per_seed():
    ds = TensorDataset(np.arange(50))
    a = [p.indices for p in random_split(ds, [30, 20], generator=5)]
    b = [p.indices for p in random_split(ds, [30, 20], generator=5)]
    c = [p.indices for p in random_split(ds, [30, 20], generator=6)]
    assert a == b
    assert a != c


def test_random_split_sum_mismatch():
    with pytest.raises(ValueError, match=r"sum of input lengths \(9\) does not equal .*\(10\)"):
        random_split(TensorDataset(np.arange(10)), [4, 5])


def test_random_split_negative_length():
    with pytest.raises(ValueError, match="non-negative integers or fractions"):
        random_split(TensorDataset(np.arange(10)), [12, -2])


# ----------------------------------------------------------------------------- DataLoader: batching
@pytest.mark.parametrize(
    "n, batch_size, drop_last",
    [(10, 4, False), (10, 4, True), (8, 4, False), (8, 4, True), (3, 5, False), (10, 1, False), (10, 10, True)],
)
def test_batch_sizes_and_len_match_torch(n, batch_size, drop_last):
    torch = pytest.importorskip("torch")
    x, y = make_arrays(n)
    expected = [
        len(b[1])
        for b in torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
            batch_size=batch_size,
            drop_last=drop_last,
        )
    ]
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, drop_last=drop_last)
    sizes = [len(b[1]) for b in loader]
    assert sizes == expected
    assert len(loader) == len(expected)


def test_batches_in_order_hold_the_right_samples():
    x, y = make_arrays(10)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(batches[2][0].numpy(), x[8:10])  # the last, partial batch
    for xb, yb in batches:
        assert isinstance(xb, kw.Tensor) and isinstance(yb, kw.Tensor)
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        assert xb.shape[1:] == (1, 3, 3)


def test_drop_last_leaves_out_partial_batch():
    x, y = make_arrays(10)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_single_tensor_dataset_gives_one_tuple():
    batch = next(iter(DataLoader(TensorDataset(np.arange(5)), batch_size=3)))
    assert isinstance(batch, tuple) and len(batch) == 1
    assert batch[0].tolist() == [0, 1, 2]


# ----------------------------------------------------------------------------- DataLoader: shuffling
def epoch_labels(loader):
    return [int(v) for _, yb in loader for v in yb.numpy()]


def test_shuffle_each_sample_once_per_epoch_and_new_order_each_epoch():
    x, y = make_arrays(50)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=123)
    first, second = epoch_labels(loader), epoch_labels(loader)
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert first != list(range(50))  # shuffled
    assert first != second  # a new permutation each epoch


def test_shuffle_same_seed_same_orders():
    x, y = make_arrays(50)
    a = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=123)
    b = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=123)
    c = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=124)
    orders_a = [epoch_labels(a) for _ in range(3)]
    assert orders_a == [epoch_labels(b) for _ in range(3)]
    assert orders_a[0] != epoch_labels(c)


def test_shuffle_draws_the_generators_permutation():
    x, y = make_arrays(20)
    loader = DataLoader(TensorDataset(x, y), batch_size=6, shuffle=True, generator=np.random.default_rng(9))
    expected = np.random.default_rng(9).permutation(20).tolist()
    assert epoch_labels(loader) == expected


def test_shuffle_default_generator_follows_manual_seed():
    x, y = make_arrays(30)
    loader = DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True)
    kw.manual_seed(11)
    first = epoch_labels(loader)
    kw.manual_seed(11)
    assert epoch_labels(loader) == first


def test_shuffle_keeps_images_with_their_labels():
    x, y = make_arrays(20)
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=6, shuffle=True, generator=3):
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])


# ----------------------------------------------------------------------------- fast path = per-sample path
def test_fast_path_equals_per_sample_path():
    x, y = make_arrays(23)
    fast = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True, generator=4)
    slow = DataLoader(PerSample(x, y), batch_size=5, shuffle=True, generator=4)
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())
        assert xs.dtype == np.float32 and ys.dtype == np.int64


def test_fast_path_through_nested_subsets():
    x, y = make_arrays(30)
    train, _ = random_split(TensorDataset(x, y), [20, 10], generator=1)
    inner = Subset(train, [19, 3, 3, 0])
    labels = epoch_labels(DataLoader(inner, batch_size=3))
    expected = [train.indices[i] for i in [19, 3, 3, 0]]  # label = original index
    assert labels == expected


def test_collate_fn_is_used():
    loader = DataLoader(TensorDataset(np.arange(6)), batch_size=4, collate_fn=lambda samples: len(samples))
    assert list(loader) == [4, 2]


# ----------------------------------------------------------------------------- default_collate
def test_default_collate_dtypes():
    x, y = default_collate([(np.ones(2, dtype=np.float32), 3), (np.zeros(2, dtype=np.float32), 4)])
    assert x.dtype == np.float32 and x.shape == (2, 2)
    assert y.dtype == np.int64 and y.tolist() == [3, 4]
    (f,) = default_collate([(0.5,), (1.5,)])
    assert f.dtype == np.float32 and f.tolist() == [0.5, 1.5]


def test_default_collate_dicts_and_strings():
    out = default_collate([{"x": np.ones(1), "name": "a"}, {"x": np.zeros(1), "name": "b"}])
    assert out["x"].shape == (2, 1) and out["name"] == ["a", "b"]


def test_default_collate_ragged_shapes():
    with pytest.raises(ValueError, match=r"different shapes \[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])


def test_default_collate_unequal_fields():
    with pytest.raises(ValueError, match="should have 2 fields"):
        default_collate([(1, 2), (1,)])


def test_default_collate_unknown_type():
    with pytest.raises(TypeError, match="cannot batch samples of type object"):
        default_collate([object(), object()])


# ----------------------------------------------------------------------------- DataLoader errors
@pytest.mark.parametrize("batch_size", [0, -3])
def test_batch_size_not_positive(batch_size):
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, got {batch_size}"):
        DataLoader(TensorDataset(np.arange(4)), batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [2.5, "4", True])  # None is PyTorch's "no batching": test_torch_data.py
def test_batch_size_not_an_int(batch_size):
    with pytest.raises(TypeError, match="batch_size must be a positive integer"):
        DataLoader(TensorDataset(np.arange(4)), batch_size=batch_size)


def test_empty_dataset():
    with pytest.raises(ValueError, match=r"dataset is empty \(0 samples\)"):
        DataLoader(TensorDataset(np.zeros((0, 3))), batch_size=2)


def test_drop_last_with_too_few_samples():
    with pytest.raises(ValueError, match="drop_last=True with batch_size=8 and only 5 samples"):
        DataLoader(TensorDataset(np.arange(5)), batch_size=8, drop_last=True)


def test_dataset_without_len():
    with pytest.raises(TypeError, match="dataset must have __len__ and __getitem__, got int"):
        DataLoader(5)


def test_collate_fn_not_callable():
    with pytest.raises(TypeError, match="collate_fn must be callable"):
        DataLoader(TensorDataset(np.arange(4)), collate_fn="stack")


def test_generator_of_wrong_type():
    with pytest.raises(TypeError, match="generator"):
        DataLoader(TensorDataset(np.arange(4)), shuffle=True, generator="seed")
