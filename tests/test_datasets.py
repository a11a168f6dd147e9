"""The built-in datasets: digits, MNIST (IDX reader, downloads), MNIST-1D, CIFAR-10 binary, image folders.

Expected values come from the raw files, parsed here independently with gzip and struct, from the
packages that provide the data (scikit-learn, mnist1d), or from images written here with Pillow.
Nothing is downloaded: the network function is replaced by fakes.
"""

import gzip
import hashlib
import io
import struct
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import kernelwise.data.cifar as cifar_module
import kernelwise.data.download as download_module
import kernelwise.data.mnist as mnist_module
from kernelwise.data import (
    DataLoader,
    DownloadError,
    TensorDataset,
    load_cifar10,
    load_dataset,
    load_digits,
    load_image_folder,
    load_mnist,
    load_mnist1d,
)
from kernelwise.data.download import cache_dir, download, safe_extract
from kernelwise.data.idx import read_idx

MNIST_5K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-5k"
MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


# ----------------------------------------------------------------------------- helpers
def idx_bytes(array, code=0x08):
    """An IDX file: 0x0000, dtype code, ndim, big-endian uint32 sizes, then the values."""
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1" if code == 0x08 else array.dtype).tobytes()


def write_mnist(folder, n_train=6, n_test=4, size=4, gz=True, seed=0):
    """A tiny MNIST-format set; returns the raw uint8 arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        data = idx_bytes(array)
        (folder / (f"{stem}.gz" if gz else stem)).write_bytes(gzip.compress(data) if gz else data)
    return arrays


def no_network(url, *args, **kwargs):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture(autouse=True)
def never_download(monkeypatch, tmp_path):
    """No test reaches the network, and none writes to the real cache folder."""
    monkeypatch.setattr(download_module, "fetch", no_network)
    monkeypatch.setenv("KERNELWISE_DATA", str(tmp_path / "cache"))


# ----------------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def sk_digits():
    return pytest.importorskip("sklearn.datasets").load_digits()


def test_digits_shapes_counts_and_labels(sk_digits):
    train, test, info = load_digits()
    assert len(train) + len(test) == 1797
    expected_test = sum(round(c * 0.2) for c in np.bincount(sk_digits.target))  # stratified 20 %
    assert len(test) == expected_test and 350 <= len(test) <= 370
    for ds in (train, test):
        x, y = ds.tensors
        assert x.shape[1:] == (1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
        assert set(np.unique(y.numpy())) == set(range(10))
    assert np.bincount(test.tensors[1].numpy()).tolist() == [round(c * 0.2) for c in np.bincount(sk_digits.target)]
    assert info.num_classes == 10 and info.input_shape == (1, 8, 8) and info.classes[3] == "3"


def test_digits_split_is_a_disjoint_cover_of_the_raw_images(sk_digits):
    train, test, _ = load_digits(normalize=False)
    raw = sk_digits.images.reshape(1797, 64) / 16.0
    ours = np.concatenate([train.tensors[0].numpy(), test.tensors[0].numpy()]).reshape(1797, 64)
    labels = np.concatenate([train.tensors[1].numpy(), test.tensors[1].numpy()])
    # Every raw image appears exactly once overall (rows sorted lexicographically, with their label).
    key = lambda x, y: np.lexsort(np.column_stack([x, y]).T[::-1])  # noqa: E731
    order_raw, order_ours = key(raw, sk_digits.target), key(ours, labels)
    np.testing.assert_allclose(ours[order_ours], raw[order_raw], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(labels[order_ours], sk_digits.target[order_raw])


def test_digits_split_deterministic_per_seed(sk_digits):
    a, b, c = (load_digits(seed=s, normalize=False)[1].tensors[0].numpy() for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_digits_normalised_with_train_statistics(sk_digits):
    raw_train, raw_test, raw_info = load_digits(normalize=False)
    train, test, info = load_digits()
    x = raw_train.tensors[0].numpy().astype(np.float64)
    assert raw_info.mean == (0.0,) and raw_info.std == (1.0,)
    assert info.mean[0] == pytest.approx(x.mean(), rel=1e-5) and info.std[0] == pytest.approx(x.std(), rel=1e-5)
    np.testing.assert_allclose(train.tensors[0].numpy().mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.tensors[0].numpy().std(), 1.0, rtol=1e-4)
    back = test.tensors[0].numpy() * info.std[0] + info.mean[0]  # x = x_hat · std + mean
    np.testing.assert_allclose(back, raw_test.tensors[0].numpy(), rtol=0, atol=1e-5)


def test_digits_through_load_dataset_and_dataloader(sk_digits):
    train, _, _ = load_dataset("digits", seed=0)
    xb, yb = next(iter(DataLoader(train, batch_size=32, shuffle=True, generator=0)))
    assert xb.shape == (32, 1, 8, 8) and xb.dtype == np.float32 and yb.dtype == np.int64


# ----------------------------------------------------------------------------- the real MNIST sample
needs_mnist_5k = pytest.mark.skipif(not MNIST_5K.is_dir(), reason=f"{MNIST_5K} is absent")


def raw_idx(path):
    """Parse a gzipped IDX file with gzip + struct only."""
    data = gzip.decompress(path.read_bytes())
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return zero, code, dims, data[4 + 4 * ndim :]


@needs_mnist_5k
def test_mnist_5k_counts_shapes_and_dtypes():
    train, test, info = load_mnist(MNIST_5K)
    assert (len(train), len(test)) == (4000, 1000)
    for ds in (train, test):
        x, y = ds.tensors
        assert x.shape[1:] == (1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert info.input_shape == (1, 28, 28) and info.num_classes == 10 and info.name == "mnist"


@needs_mnist_5k
def test_mnist_5k_label_distribution():
    train, test, _ = load_mnist(MNIST_5K)
    train_counts = np.bincount(train.tensors[1].numpy(), minlength=10)
    test_counts = np.bincount(test.tensors[1].numpy(), minlength=10)
    assert train_counts.sum() == 4000 and all(300 <= c <= 500 for c in train_counts)
    assert test_counts.sum() == 1000 and all(60 <= c <= 140 for c in test_counts)


@needs_mnist_5k
def test_mnist_5k_pixels_before_normalisation():
    train, _, info = load_mnist(MNIST_5K, normalize=False)
    x = train.tensors[0].numpy()
    assert x.min() == 0.0 and x.max() == 1.0
    assert 0.05 < x.mean() < 0.25  # MNIST is mostly black background (about 0.13)
    assert info.mean == (0.0,) and info.std == (1.0,)


@needs_mnist_5k
def test_mnist_5k_matches_raw_bytes():
    zero, code, dims, payload = raw_idx(MNIST_5K / "train-labels-idx1-ubyte.gz")
    assert (zero, code, dims) == (0, 0x08, (4000,))
    _, _, image_dims, pixels = raw_idx(MNIST_5K / "train-images-idx3-ubyte.gz")
    assert image_dims == (4000, 28, 28)
    train, _, info = load_mnist(MNIST_5K)
    assert int(train[0][1]) == payload[0]
    assert [int(v) for v in train.tensors[1].numpy()[:20]] == list(payload[:20])
    first = np.array(list(pixels[: 28 * 28]), dtype=np.float64).reshape(28, 28) / 255.0
    restored = train[0][0].numpy()[0] * info.std[0] + info.mean[0]
    np.testing.assert_allclose(restored, first, rtol=0, atol=1e-5)


@needs_mnist_5k
def test_mnist_5k_through_load_dataset():
    train, test, info = load_dataset("mnist", data_dir=MNIST_5K, download=False)
    assert (len(train), len(test), info.name) == (4000, 1000, "mnist")


# ----------------------------------------------------------------------------- IDX reader
def test_idx_reads_uncompressed_and_gzipped(tmp_path):
    arrays = write_mnist(tmp_path / "gz")
    write_mnist(tmp_path / "raw", gz=False)
    a = read_idx(tmp_path / "gz" / "train-images-idx3-ubyte.gz")
    b = read_idx(tmp_path / "raw" / "train-images-idx3-ubyte")
    np.testing.assert_array_equal(a, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(b, arrays["train-images-idx3-ubyte"])


def test_idx_big_endian_values(tmp_path):
    path = tmp_path / "values-idx1-int"
    path.write_bytes(struct.pack(">BBBBI", 0, 0, 0x0C, 1, 2) + struct.pack(">ii", -5, 70000))
    assert read_idx(path).tolist() == [-5, 70000]


def test_load_mnist_uncompressed_files(tmp_path):
    arrays = write_mnist(tmp_path, gz=False)
    train, test, _ = load_mnist(tmp_path, download=False, normalize=False)
    np.testing.assert_array_equal(test.tensors[1].numpy(), arrays["t10k-labels-idx1-ubyte"])
    np.testing.assert_allclose(train.tensors[0].numpy()[:, 0], arrays["train-images-idx3-ubyte"] / 255.0, atol=1e-7)


def test_idx_bad_magic(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[0] = 0x12
    path.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: bad IDX magic number 0x12000801"):
        load_mnist(tmp_path, download=False)


def test_idx_unknown_dtype_code(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(struct.pack(">BBBBI", 0, 0, 0x07, 1, 1) + b"\x00")
    with pytest.raises(ValueError, match=r"x-idx1-ubyte: bad IDX magic number"):
        read_idx(path)


def test_idx_truncated_payload(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-5]))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: truncated: header declares shape \(4, 4, 4\)"):
        load_mnist(tmp_path, download=False)


def test_idx_trailing_bytes(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.arange(3, dtype=np.uint8)) + b"\x00")
    with pytest.raises(ValueError, match="labels-idx1-ubyte: has trailing bytes"):
        read_idx(path)


def test_idx_truncated_gzip_stream(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: damaged or truncated gzip"):
        load_mnist(tmp_path, download=False)


def test_idx_count_mismatch_between_images_and_labels(tmp_path):
    write_mnist(tmp_path)
    labels = np.zeros(5, dtype=np.uint8)  # the images file holds 6
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz holds 6 images but .*train-labels-idx1-ubyte"):
        load_mnist(tmp_path, download=False)


def test_idx_wrong_dims(tmp_path):
    write_mnist(tmp_path)
    labels = np.zeros((6, 1), dtype=np.uint8)  # labels must be 1-d
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: has 2 dimensions in its header, expected 1"):
        load_mnist(tmp_path, download=False)


def test_idx_wrong_value_type(tmp_path):
    write_mnist(tmp_path)
    images = np.zeros((6, 4, 4), dtype=">f4")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images, code=0x0D)))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: holds float32 values .* expected uint8"):
        load_mnist(tmp_path, download=False)


def test_idx_label_out_of_range(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.full(4, 10, np.uint8))))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: label 10 is out of range 0\.\.9"):
        load_mnist(tmp_path, download=False)


# ----------------------------------------------------------------------------- missing files and downloads
def test_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mnist: missing train-images-idx3-ubyte\.gz, .*put the files"):
        load_mnist(tmp_path / "empty", download=False)


def test_missing_files_offline_names_files_and_folder(tmp_path):
    folder = tmp_path / "mnist-here"
    with pytest.raises(DownloadError) as excinfo:
        load_mnist(folder, download=True)
    message = str(excinfo.value)
    assert isinstance(excinfo.value, RuntimeError)
    for stem in MNIST_FILES:
        assert f"{stem}.gz" in message
    assert str(folder) in message and "Temporary failure in name resolution" in message
    assert not folder.exists() or not any(folder.iterdir())  # nothing half-written


def test_cache_dir_resolution(tmp_path, monkeypatch):
    assert cache_dir("mnist", tmp_path / "given") == tmp_path / "given"
    monkeypatch.setenv("KERNELWISE_DATA", str(tmp_path / "root"))
    assert cache_dir("fashion-mnist") == tmp_path / "root" / "fashion-mnist"
    monkeypatch.delenv("KERNELWISE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("cifar10") == tmp_path / "home" / ".cache" / "kernelwise" / "cifar10"


def fake_server(files, calls):
    """A stand-in for fetch: serves ``files`` (name -> bytes) at any mirror, records every URL asked for."""

    def fetch(url, *args, **kwargs):
        calls.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in files:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
        return files[name]

    return fetch


def test_download_good_checksum_keeps_file(tmp_path, monkeypatch):
    payload = b"some dataset bytes"
    calls = []
    monkeypatch.setattr(download_module, "fetch", fake_server({"f.gz": payload}, calls))
    path = download("f.gz", ["https://mirror.example/data/"], hashlib.sha256(payload).hexdigest(), tmp_path)
    assert path == tmp_path / "f.gz" and path.read_bytes() == payload
    assert calls == ["https://mirror.example/data/f.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.gz"]  # no temporary file left


def test_download_bad_checksum_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(download_module, "fetch", fake_server({"f.gz": b"tampered"}, []))
    with pytest.raises(DownloadError, match=r"f\.gz: SHA-256 mismatch"):
        download(
            "f.gz", ["https://a.example/", "https://b.example/"], hashlib.sha256(b"original").hexdigest(), tmp_path
        )
    assert list(tmp_path.iterdir()) == []


def test_download_falls_back_to_next_mirror(tmp_path, monkeypatch):
    payload = b"payload"
    calls = []
    good = fake_server({"f.gz": payload}, calls)

    def flaky(url, *args, **kwargs):
        if "first" in url:
            calls.append(url)
            raise urllib.error.URLError("connection refused")
        return good(url)

    monkeypatch.setattr(download_module, "fetch", flaky)
    path = download(
        "f.gz", ["https://first.example/", "https://second.example/"], hashlib.sha256(payload).hexdigest(), tmp_path
    )
    assert path.read_bytes() == payload
    assert calls == ["https://first.example/f.gz", "https://second.example/f.gz"]


def test_load_mnist_downloads_missing_files_once(tmp_path, monkeypatch):
    source_dir = tmp_path / "server"
    arrays = write_mnist(source_dir)
    files = {p.name: p.read_bytes() for p in source_dir.iterdir()}
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    monkeypatch.setattr(
        mnist_module,
        "MNIST",
        mnist_module.IdxSource("mnist", ("https://m.example/",), sums, mnist_module.MNIST.classes),
    )
    calls = []
    monkeypatch.setattr(download_module, "fetch", fake_server(files, calls))
    target = tmp_path / "data"
    train, _, _ = load_mnist(target, normalize=False)
    assert sorted(calls) == sorted(f"https://m.example/{name}" for name in files)
    assert sorted(p.name for p in target.iterdir()) == sorted(files)
    np.testing.assert_array_equal(train.tensors[1].numpy(), arrays["train-labels-idx1-ubyte"])
    load_mnist(target)  # everything is there now: no second download
    assert len(calls) == len(files)


def test_load_mnist_download_with_wrong_checksum(tmp_path, monkeypatch):
    source_dir = tmp_path / "server"
    write_mnist(source_dir)
    files = {p.name: p.read_bytes() for p in source_dir.iterdir()}
    monkeypatch.setattr(download_module, "fetch", fake_server(files, []))  # real published sums: no match
    target = tmp_path / "data"
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        load_mnist(target)
    assert not target.exists() or list(target.iterdir()) == []


def test_fashion_mnist_alias_and_offline_message(tmp_path):
    with pytest.raises(DownloadError, match=r"(?s)fashion-mnist: could not download .*fashion-mnist"):
        load_dataset("fashion_mnist", data_dir=tmp_path / "f")


# ----------------------------------------------------------------------------- MNIST-1D
@pytest.fixture(scope="module")
def mnist1d_default(tmp_path_factory):
    pytest.importorskip("mnist1d")
    folder = tmp_path_factory.mktemp("mnist1d")
    return folder, load_mnist1d(folder)


def test_mnist1d_shapes_counts_dtypes(mnist1d_default):
    _, (train, test, info) = mnist1d_default
    assert (len(train), len(test)) == (4000, 1000)
    for ds in (train, test):
        x, y = ds.tensors
        assert x.shape[1:] == (1, 40) and x.dtype == np.float32 and y.dtype == np.int64
        assert set(np.unique(y.numpy())) == set(range(10))
    assert info.input_shape == (1, 40) and info.num_classes == 10 and info.mean == (0.0,)


def test_mnist1d_cache_is_plain_npz_and_reused(mnist1d_default, monkeypatch):
    folder, (train, _, _) = mnist1d_default
    (cached,) = folder.glob("*.npz")
    with np.load(cached, allow_pickle=False) as f:
        np.testing.assert_allclose(f["x"][:, None], train.tensors[0].numpy(), rtol=1e-6)
    import kernelwise.data.datasets as datasets_module

    def must_not_generate(*args):
        raise AssertionError("generated again despite the cache")

    monkeypatch.setattr(datasets_module, "_generate_mnist1d", must_not_generate)
    again, _, _ = load_mnist1d(folder)
    np.testing.assert_array_equal(again.tensors[0].numpy(), train.tensors[0].numpy())


def test_mnist1d_matches_the_packages_generator():
    m1d = pytest.importorskip("mnist1d.data")
    args = m1d.get_dataset_args()
    args.num_samples = 200
    expected = m1d.make_dataset(args)
    train, test, _ = load_mnist1d(num_samples=200, cache=False)
    np.testing.assert_allclose(train.tensors[0].numpy()[:, 0], expected["x"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(test.tensors[1].numpy(), expected["y_test"])
    assert (len(train), len(test)) == (160, 40)


def test_mnist1d_deterministic_per_seed_and_leaves_global_state():
    pytest.importorskip("mnist1d")
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = load_mnist1d(num_samples=100, cache=False)[0].tensors[0].numpy()
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    b = load_mnist1d(num_samples=100, cache=False)[0].tensors[0].numpy()
    c = load_mnist1d(seed=1, num_samples=100, cache=False)[0].tensors[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_mnist1d_bad_num_samples():
    with pytest.raises(ValueError, match="num_samples: must be an integer of at least 20"):
        load_mnist1d(num_samples=5, cache=False)


# ----------------------------------------------------------------------------- CIFAR-10 binary
def cifar_records(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    raw = b"".join(bytes([labels[i]]) + images[i].tobytes() for i in range(n))  # label byte + R, G, B planes
    return labels, images, raw


def write_cifar(folder, n=2):
    """Five training batches of n records and a test batch of n + 1, plus the class-name file."""
    folder.mkdir(parents=True, exist_ok=True)
    train_labels, train_images = [], []
    for i in range(1, 6):
        labels, images, raw = cifar_records(n, seed=i)
        (folder / f"data_batch_{i}.bin").write_bytes(raw)
        train_labels.append(labels)
        train_images.append(images)
    test_labels, test_images, raw = cifar_records(n + 1, seed=99)
    (folder / "test_batch.bin").write_bytes(raw)
    (folder / "batches.meta.txt").write_text("\n".join(f"class{c}" for c in range(10)) + "\n\n")
    return (np.concatenate(train_images), np.concatenate(train_labels)), (test_images, test_labels)


def test_cifar10_round_trip(tmp_path):
    (train_x, train_y), (test_x, test_y) = write_cifar(tmp_path / "cifar-10-batches-bin")
    train, test, info = load_cifar10(tmp_path, download=False, normalize=False)
    assert (len(train), len(test)) == (10, 3)
    np.testing.assert_allclose(train.tensors[0].numpy(), train_x / 255.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(train.tensors[1].numpy(), train_y)
    np.testing.assert_allclose(test.tensors[0].numpy(), test_x / 255.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(test.tensors[1].numpy(), test_y)
    assert info.classes == tuple(f"class{c}" for c in range(10)) and info.input_shape == (3, 32, 32)


def test_cifar10_red_plane_first(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar(folder)
    record = bytes([7]) + bytes([255] * 1024) + bytes([0] * 2048)  # a pure red picture of class 7
    (folder / "test_batch.bin").write_bytes(record)
    _, test, _ = load_cifar10(tmp_path, download=False, normalize=False)
    x, y = test[0]
    assert int(y) == 7
    assert x.numpy()[0].min() == 1.0 and x.numpy()[1:].max() == 0.0


def test_cifar10_normalised_per_channel(tmp_path):
    (train_x, _), _ = write_cifar(tmp_path / "cifar-10-batches-bin")
    train, _, info = load_cifar10(tmp_path, download=False)
    expected_mean = (train_x / 255.0).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(info.mean, expected_mean, rtol=1e-5)
    np.testing.assert_allclose(train.tensors[0].numpy().mean(axis=(0, 2, 3)), 0.0, atol=1e-5)


def test_cifar10_truncated_record(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar(folder)
    path = folder / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"data_batch_3\.bin: 6046 bytes is not a whole number of 3073-byte"):
        load_cifar10(tmp_path, download=False)


def test_cifar10_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar10: no batch files .*put cifar-10-binary\.tar\.gz"):
        load_cifar10(tmp_path, download=False)


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def cifar_tar_members(tmp_path):
    write_cifar(tmp_path / "src")
    return {f"cifar-10-batches-bin/{p.name}": p.read_bytes() for p in sorted((tmp_path / "src").iterdir())}


@pytest.mark.parametrize("bad_name", ["../evil.bin", "/tmp/evil.bin", "cifar-10-batches-bin/../../evil.bin"])
def test_unsafe_tar_member_rejected(tmp_path, bad_name):
    members = cifar_tar_members(tmp_path)
    members[bad_name] = b"payload"
    archive = tmp_path / "cifar-10-binary.tar.gz"
    make_tar(archive, members)
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match="refusing to extract an archive with unsafe member names"):
        safe_extract(archive, ["cifar-10-batches-bin/test_batch.bin"], dest)
    assert not dest.exists()
    assert not (tmp_path / "evil.bin").exists()


def test_tar_member_that_is_a_link_rejected(tmp_path):
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match=r"test_batch\.bin is not a regular file"):
        safe_extract(archive, ["cifar-10-batches-bin/test_batch.bin"], tmp_path / "out")


def test_cifar10_from_archive_in_data_dir(tmp_path, monkeypatch):
    archive = tmp_path / "data" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    members = cifar_tar_members(tmp_path)
    members["cifar-10-batches-bin/readme.html"] = b"<html></html>"  # present in the real archive, not extracted
    make_tar(archive, members)
    monkeypatch.setattr(cifar_module, "ARCHIVE_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    train, test, _ = load_cifar10(tmp_path / "data", download=False)
    assert (len(train), len(test)) == (10, 3)
    assert not (tmp_path / "data" / "cifar-10-batches-bin" / "readme.html").exists()


def test_cifar10_archive_with_wrong_checksum(tmp_path):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    make_tar(archive, cifar_tar_members(tmp_path))
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz: SHA-256 .* differs from the published"):
        load_cifar10(tmp_path, download=False)


def test_cifar10_download_extracts_and_removes_archive(tmp_path, monkeypatch):
    archive = tmp_path / "server.tar.gz"
    make_tar(archive, cifar_tar_members(tmp_path))
    payload = archive.read_bytes()
    monkeypatch.setattr(cifar_module, "ARCHIVE_SHA256", hashlib.sha256(payload).hexdigest())
    calls = []
    monkeypatch.setattr(download_module, "fetch", fake_server({"cifar-10-binary.tar.gz": payload}, calls))
    target = tmp_path / "cache-cifar"
    train, _, _ = load_cifar10(target)
    assert calls == ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"]
    assert len(train) == 10 and not (target / "cifar-10-binary.tar.gz").exists()


# ----------------------------------------------------------------------------- image folders
@pytest.fixture
def Image():
    return pytest.importorskip("PIL.Image")


def save_gray(Image, path, value, size=(6, 5)):
    """A gray PNG of height size[0], width size[1], pixel (i, j) = value + i + j."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    pixels = (value + np.add.outer(np.arange(h), np.arange(w))).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(path)
    return pixels


def test_image_folder_gray_classes_split_and_values(tmp_path, Image):
    pixels = {}
    for c, name in enumerate(["zebra", "ant"]):
        for i in range(5):
            pixels[(name, i)] = save_gray(Image, tmp_path / name / f"{i}.png", value=40 * c + i)
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    train, test, info = load_image_folder(tmp_path, normalize=False)
    assert info.classes == ("ant", "zebra") and info.num_classes == 2  # sorted folder names
    assert info.input_shape == (1, 6, 5)
    assert (len(train), len(test)) == (8, 2)
    assert sorted(test.tensors[1].tolist()) == [0, 1]  # one test image per class (20 % of 5)
    for image, label in zip(test.tensors[0].numpy(), test.tensors[1].numpy()):
        name = info.classes[int(label)]
        written = [pixels[(name, i)] / 255.0 for i in range(5)]  # each test image is one of its class's files
        assert any(np.allclose(image[0], w, rtol=0, atol=1e-7) for w in written)


def test_image_folder_split_deterministic(tmp_path, Image):
    for name in ("a", "b"):
        for i in range(10):
            save_gray(Image, tmp_path / name / f"{i:02d}.png", value=10 * i + (name == "b"))
    a = load_image_folder(tmp_path, seed=3)[1].tensors[0].numpy()
    b = load_image_folder(tmp_path, seed=3)[1].tensors[0].numpy()
    c = load_image_folder(tmp_path, seed=4)[1].tensors[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_image_folder_train_test_subfolders_and_resizing(tmp_path, Image):
    save_gray(Image, tmp_path / "train" / "cat" / "a.png", 10)
    save_gray(Image, tmp_path / "train" / "cat" / "b.png", 20)
    save_gray(Image, tmp_path / "train" / "dog" / "c.png", 30, size=(9, 9))  # resized to the common (6, 5)
    expected = save_gray(Image, tmp_path / "test" / "dog" / "d.png", 40)
    train, test, info = load_image_folder(tmp_path, normalize=False)
    assert (len(train), len(test)) == (3, 1) and info.classes == ("cat", "dog")
    assert train.tensors[0].shape == (3, 1, 6, 5)
    assert test.tensors[1].tolist() == [1]
    np.testing.assert_allclose(test.tensors[0].numpy()[0, 0], expected / 255.0, rtol=0, atol=1e-7)


def test_image_folder_rgb_when_any_image_is_colour(tmp_path, Image):
    save_gray(Image, tmp_path / "gray" / "a.png", 10)
    save_gray(Image, tmp_path / "gray" / "b.png", 20)
    rgb = np.zeros((6, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # red
    for name in ("c.png", "d.png"):
        (tmp_path / "red").mkdir(exist_ok=True)
        Image.fromarray(rgb, mode="RGB").save(tmp_path / "red" / name)
    train, test, info = load_image_folder(tmp_path, normalize=False)
    assert info.input_shape == (3, 6, 5)
    x = np.concatenate([train.tensors[0].numpy(), test.tensors[0].numpy()])
    y = np.concatenate([train.tensors[1].numpy(), test.tensors[1].numpy()])
    red = x[y == info.classes.index("red")]
    np.testing.assert_allclose(red[:, 0], 200 / 255.0, atol=1e-7)
    np.testing.assert_allclose(red[:, 1:], 0.0, atol=0)
    gray = x[y == info.classes.index("gray")]
    np.testing.assert_array_equal(gray[:, 0], gray[:, 1])  # a gray picture has equal channels


def test_image_folder_given_size_and_channels(tmp_path, Image):
    for name in ("a", "b"):
        for i in range(3):
            save_gray(Image, tmp_path / name / f"{i}.png", 10 * i)
    train, _, info = load_image_folder(tmp_path, image_size=(4, 7), channels=3)
    assert train.tensors[0].shape[1:] == (3, 4, 7) and info.input_shape == (3, 4, 7)
    assert len(info.mean) == 3


def test_image_folder_palette_gif_counts_as_gray(tmp_path, Image):
    for name in ("a", "b"):
        for i in range(2):
            path = tmp_path / name / f"{i}.gif"
            path.parent.mkdir(exist_ok=True)
            save_gray(Image, tmp_path / "tmp.png", 50 * i)
            Image.open(tmp_path / "tmp.png").convert("P").save(path)
    (tmp_path / "tmp.png").unlink()
    _, _, info = load_image_folder(tmp_path)
    assert info.input_shape[0] == 1


def test_image_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"images: folder .*nowhere does not exist"):
        load_image_folder(tmp_path / "nowhere")


def test_image_folder_without_class_folders(tmp_path):
    (tmp_path / "loose.png").write_bytes(b"")
    with pytest.raises(ValueError, match="no class folders"):
        load_image_folder(tmp_path)


def test_image_folder_class_without_images(tmp_path, Image):
    save_gray(Image, tmp_path / "cats" / "a.png", 1)
    (tmp_path / "dogs").mkdir()
    (tmp_path / "dogs" / "readme.txt").write_text("no pictures yet")
    with pytest.raises(ValueError, match="class 'dogs' has no image files"):
        load_image_folder(tmp_path)


def test_image_folder_unreadable_image(tmp_path, Image):
    for name in ("a", "b"):
        save_gray(Image, tmp_path / name / "0.png", 1)
        save_gray(Image, tmp_path / name / "1.png", 2)
    (tmp_path / "b" / "broken.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match=r"broken\.jpg: cannot read this image"):
        load_image_folder(tmp_path)


def test_image_folder_bad_channels(tmp_path, Image):
    save_gray(Image, tmp_path / "a" / "0.png", 1)
    with pytest.raises(ValueError, match=r"channels: must be 1 .* got 2"):
        load_image_folder(tmp_path, channels=2)


def test_image_folder_too_few_images_for_a_test_split(tmp_path, Image):
    save_gray(Image, tmp_path / "a" / "0.png", 1)
    save_gray(Image, tmp_path / "b" / "0.png", 2)
    with pytest.raises(ValueError, match="too few images for a test split"):
        load_image_folder(tmp_path)


def test_image_folder_test_class_unknown_to_train(tmp_path, Image):
    save_gray(Image, tmp_path / "train" / "a" / "0.png", 1)
    save_gray(Image, tmp_path / "test" / "b" / "0.png", 2)
    with pytest.raises(ValueError, match=r"class folders \['b'\] do not exist in the training folder"):
        load_image_folder(tmp_path)


# ----------------------------------------------------------------------------- load_dataset
def test_load_dataset_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; known datasets: digits, mnist, fashion-mnist"):
        load_dataset("imagenet")


def test_load_dataset_images_needs_a_folder():
    with pytest.raises(ValueError, match="images: give the folder of pictures"):
        load_dataset("images")


def test_load_dataset_images_forwards_options(tmp_path, Image):
    for name in ("a", "b"):
        for i in range(3):
            save_gray(Image, tmp_path / name / f"{i}.png", 5 * i)
    train, test, info = load_dataset("images", data_dir=tmp_path, image_size=4)
    assert info.input_shape == (1, 4, 4) and isinstance(train, TensorDataset) and len(test) == 2


# ----------------------------------------------------------------------------- optional packages
def test_digits_fallback_through_scikit_learn(sk_digits, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)  # no bundled file found
    train, test, _ = load_digits(normalize=False)
    assert len(train) + len(test) == 1797
    np.testing.assert_allclose(np.sort(train.tensors[0].numpy().ravel())[-5:], 1.0)


def test_digits_without_scikit_learn(monkeypatch):
    import importlib.util
    import sys

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # importing it now fails
    with pytest.raises(ImportError, match=r"the 'digits' dataset needs the 'scikit-learn' package"):
        load_digits()


def test_mnist1d_without_the_package(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"the 'mnist1d' dataset needs the 'mnist1d' package"):
        load_mnist1d(tmp_path, num_samples=100, cache=False)


def test_image_folder_without_pillow(monkeypatch, tmp_path):
    import sys

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "0.png").write_bytes(b"")
    (tmp_path / "a" / "1.png").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match=r"loading an image folder needs the 'pillow' package"):
        load_image_folder(tmp_path)
