"""Build a competition from Fashion-MNIST (or any 28x28 grey, 10-class stand-in).

:func:`prepare_competition` takes plain uint8 arrays, so another component (the
demo) can build a competition from a synthetic dataset. :func:`load_fashion_mnist`
reads torchvision's raw IDX layout (``ROOT/FashionMNIST/raw/``) through
``torchvision.datasets.FashionMNIST``; :func:`download_fashion_mnist` tries the
internet with a short timeout and fails with a message saying to pass ``--data``.

The test rows are shuffled and given Ids 0..N-1 after the shuffle, and the
public/private split is drawn, with a seed derived from the course secret
(:mod:`leaderboard.secret`, ``competition/private/secret.txt``, made here when
missing), never from anything in ``course.toml``. Fashion-MNIST's
test labels are public, so this only stops casual copying of the answer key;
the plausibility flag (integrity.py) is the real guard.
"""
from __future__ import annotations

import gzip
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leaderboard.competition import CompetitionPaths
from leaderboard.records import LeaderboardError
from leaderboard.secret import load_secret, new_secret, secret_path, split_seed, write_secret

RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
N_CLASSES = 10
SIDE = 28
_CELLS = np.array([str(v) for v in range(256)], dtype=object)   # uint8 -> text without formatting


@dataclass(frozen=True)
class Competition:
    """What :func:`prepare_competition` wrote."""
    paths: CompetitionPaths
    n_train: int
    n_test: int
    n_public: int

    @property
    def n_private(self) -> int:
        return self.n_test - self.n_public


def shuffle_and_split(n: int, public_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The secret row order of the test set and its public mask (pure).

    Returns ``order`` (test row ``Id`` = ``i`` is original image ``order[i]``) and a
    boolean ``public`` mask over Ids with ``round(n * public_fraction)`` True values.
    """
    if n < 2:
        raise ValueError(f"the test set needs at least 2 rows to have a public and a private part, got {n}")
    if not 0 < public_fraction < 1:
        raise ValueError(f"public_fraction must be between 0 and 1, got {public_fraction}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_public = min(max(int(round(n * public_fraction)), 1), n - 1)
    public = np.zeros(n, dtype=bool)
    public[rng.permutation(n)[:n_public]] = True
    return order, public


def _check_images(name: str, images: np.ndarray, labels: np.ndarray) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 3 \
            or images.shape[1:] != (SIDE, SIDE):
        shape = getattr(images, "shape", None)
        dtype = getattr(images, "dtype", type(images).__name__)
        raise ValueError(f"images_{name} must be a uint8 array of shape (N, 28, 28), got {dtype} {shape}")
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"labels_{name} must be a 1-D array with one label per image "
                         f"({images.shape[0]}), got shape {getattr(labels, 'shape', None)}")
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise ValueError(f"labels_{name} must be classes 0..9, found {labels.min()}..{labels.max()}")


def _write_csv(path: Path, header: str, first: np.ndarray, pixels: np.ndarray) -> None:
    """Write ``first`` + flattened pixels as CSV, atomically (temp file, then rename)."""
    flat = pixels.reshape(pixels.shape[0], -1)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(header + "\n")
        for value, row in zip(first.tolist(), flat):
            fh.write(f"{value},{','.join(_CELLS[row])}\n")
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def prepare_competition(out_dir, images_train, labels_train, images_test, labels_test,
                        public_fraction: float, seed: int | None = None, force: bool = False,
                        secret: str | None = None) -> Competition:
    """Write ``out_dir/public/{train,test,sample_submission}.csv`` and ``out_dir/private/solution.csv``.

    The split comes from ``secret`` (default: the secret already in ``out_dir/private``,
    else a new random one, written there); an explicit ``seed`` overrides it for the
    split only (a seed that others know makes the split public: tests only).
    Images are uint8 arrays (N, 28, 28); labels 1-D ints 0..9. Raises ``ValueError``
    for bad arrays and :class:`LeaderboardError` when a different competition is
    already there and ``force`` is False (students may already have its files).
    """
    _check_images("train", images_train, labels_train)
    _check_images("test", images_test, labels_test)
    paths = CompetitionPaths(Path(out_dir))
    had_secret = os.path.lexists(secret_path(paths.private))
    if secret is None:
        secret = load_secret(paths.private) if had_secret else new_secret()
    order, public = shuffle_and_split(images_test.shape[0], public_fraction,
                                      split_seed(secret) if seed is None else seed)
    ids = np.arange(images_test.shape[0])
    truth = np.asarray(labels_test)[order].astype(np.int64)
    usage = np.where(public, "Public", "Private")
    solution = "Id,Category,Usage\n" + "".join(f"{i},{c},{u}\n" for i, c, u in zip(ids, truth, usage))
    if paths.solution.exists() and not force and paths.solution.read_text(encoding="utf-8") != solution:
        raise LeaderboardError(f"{paths.solution} already holds a different competition. Students may "
                               f"have its files and the leaderboard its scores; pass --force to replace it.")
    paths.public.mkdir(parents=True, exist_ok=True)
    paths.private.mkdir(parents=True, exist_ok=True)
    if not had_secret or load_secret(paths.private) != secret:
        write_secret(paths.private, secret)
    pixel_header = ",".join(f"pixel{i}" for i in range(1, SIDE * SIDE + 1))
    _write_csv(paths.train, "label," + pixel_header, np.asarray(labels_train, dtype=np.int64), images_train)
    _write_csv(paths.test, "Id," + pixel_header, ids, images_test[order])
    _write_text(paths.sample, "Id,Category\n" + "".join(f"{i},0\n" for i in ids))
    _write_text(paths.solution, solution)
    return Competition(paths, int(images_train.shape[0]), int(images_test.shape[0]), int(public.sum()))


def _raw_root(root: Path, workdir: Path) -> Path:
    """A root torchvision can read: it wants the four files uncompressed in FashionMNIST/raw/.

    When only ``.gz`` files are there, they are unpacked into ``workdir`` so the
    user's data folder is never written to.
    """
    raw = root / "FashionMNIST" / "raw"
    if all((raw / name).is_file() for name in RAW_FILES):
        return root
    missing = [name for name in RAW_FILES
               if not (raw / name).is_file() and not (raw / f"{name}.gz").is_file()]
    if missing:
        raise LeaderboardError(f"{raw} lacks {', '.join(m + '[.gz]' for m in missing)}. Put the four "
                               f"Fashion-MNIST IDX files there (torchvision's layout) and run again.")
    target = workdir / "FashionMNIST" / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        if (raw / name).is_file():
            os.symlink((raw / name).resolve(), target / name)
        else:
            with gzip.open(raw / f"{name}.gz", "rb") as src, (target / name).open("wb") as dst:
                shutil.copyfileobj(src, dst)
    return workdir


def load_fashion_mnist(root: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(images_train, labels_train, images_test, labels_test) from ``root/FashionMNIST/raw``."""
    from torchvision.datasets import FashionMNIST

    root = Path(root)
    with tempfile.TemporaryDirectory(prefix="fmnist-") as tmp:
        readable = _raw_root(root, Path(tmp))
        try:
            train = FashionMNIST(str(readable), train=True, download=False)
            test = FashionMNIST(str(readable), train=False, download=False)
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise LeaderboardError(f"torchvision cannot read the IDX files under {root}/FashionMNIST/raw "
                                   f"({exc}). Replace them with the original Fashion-MNIST files.") from None
        return (train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy())


def download_fashion_mnist(dest: str | Path, timeout: float = 10.0, mirrors: list[str] | None = None) -> Path:
    """Download Fashion-MNIST into ``dest/FashionMNIST/raw`` or fail within about ``timeout`` seconds.

    ``mirrors`` overrides torchvision's download addresses (tests point it at a closed port).
    """
    from torchvision.datasets import FashionMNIST

    class _Download(FashionMNIST):
        pass

    if mirrors is not None:
        _Download.mirrors = list(mirrors)
    _Download.__name__ = "FashionMNIST"       # torchvision derives the folder name from the class name
    # offline, torchvision would try every file on every mirror, each up to `timeout`: ask once, bounded
    from leaderboard.standin import reachable
    if not any(reachable(m, timeout) for m in _Download.mirrors[:1]):
        raise LeaderboardError(
            f"could not reach {_Download.mirrors[0]} within {timeout:g} s; this machine looks offline. Pass "
            f"--data ROOT, where ROOT/FashionMNIST/raw/ holds train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            f"t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (.gz or not), or --stand-in for the labelled "
            f"synthetic stand-in.")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        _Download(str(dest), train=True, download=True)
        _Download(str(dest), train=False, download=True)
    except Exception as exc:  # any network or checksum failure ends the same way for the user
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise LeaderboardError(
            f"could not download Fashion-MNIST ({reason}). This machine may be offline. Pass --data ROOT, "
            f"where ROOT/FashionMNIST/raw/ holds train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            f"t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (.gz or not).") from None
    finally:
        socket.setdefaulttimeout(previous)
    return Path(dest)
