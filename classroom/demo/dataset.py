"""The competition's data for the demo: real Fashion-MNIST when it can be had quickly, else a labelled stand-in.

:func:`find_dataset` looks, in order, for torchvision's ``FashionMNIST/raw/`` IDX files on disk
(:func:`fashion_roots`: ``$FASHION_MNIST_DIR``, ``./data``, ``~/.cache``), then downloads them
into ``<course>/data`` if the mirror answers a probe within ``probe_timeout`` seconds (never
with ``download=False``), and otherwise builds the synthetic stand-in
(:func:`leaderboard.standin.synthetic_fashion`: same shapes, seeded). Real data is cut to a
random subset of ``n_train`` / ``n_test`` images (seeded, order kept) so the demo stays fast.
The returned :class:`Dataset`'s ``label`` says which one it is, in words the demo prints; the
stand-in's label says plainly that it is not real Fashion-MNIST. ``say`` receives one line
per thing worth telling the user (a folder skipped, a download tried or failed).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coursebase.layout import Course
from leaderboard.standin import reachable, synthetic_fashion


@dataclass(frozen=True)
class Dataset:
    label: str                   # printed: which data the competition was built from
    real: bool
    images_train: np.ndarray
    labels_train: np.ndarray
    images_test: np.ndarray
    labels_test: np.ndarray


def _subset(images: np.ndarray, labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n >= len(labels):
        return images, labels
    keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:n])
    return images[keep], labels[keep]


def fashion_roots(cwd: Path) -> list[Path]:
    """Folders that may hold ``FashionMNIST/raw/`` (torchvision's layout), most specific first."""
    roots = []
    if os.environ.get("FASHION_MNIST_DIR"):
        given = Path(os.environ["FASHION_MNIST_DIR"]).expanduser()
        roots += [given, given.parent, given.parent.parent]
    home = Path.home()
    roots += [cwd / "data", home / ".cache" / "fashion-mnist", home / ".cache" / "torchvision", home / ".cache"]
    return roots


def _has_raw(root: Path) -> bool:
    from leaderboard.prepare import RAW_FILES

    raw = root / "FashionMNIST" / "raw"
    return all((raw / name).is_file() or (raw / f"{name}.gz").is_file() for name in RAW_FILES)


def find_dataset(course: Course, n_train: int, n_test: int, seed: int, say, probe_timeout: float = 3.0,
                 mirror: str | None = None, download: bool = True) -> Dataset:
    """Fashion-MNIST from disk, else downloaded (if the host answers within seconds), else synthetic.

    ``mirror`` overrides torchvision's first download address (tests point it at a closed port);
    ``download=False`` never tries the network.
    """
    from leaderboard.prepare import download_fashion_mnist, load_fashion_mnist
    from leaderboard.records import LeaderboardError

    size = f"{n_train:,} train / {n_test:,} test images"
    for root in fashion_roots(Path.cwd()):
        if _has_raw(root):
            try:
                arrays = load_fashion_mnist(root)
            except LeaderboardError as exc:
                say(f"[yellow]skipped[/yellow] {root}: {exc}")
                continue
            return _real(arrays, f"Fashion-MNIST from {root} (a random subset: {size})", n_train, n_test, seed)
    mirrors = [mirror] if mirror else None
    if mirror is None:
        from torchvision.datasets import FashionMNIST

        mirror = FashionMNIST.mirrors[0]
    if not download:
        say("Fashion-MNIST is not on disk; no download attempted (download=False)")
    elif reachable(mirror, probe_timeout):
        say(f"downloading Fashion-MNIST from {mirror} ...")
        try:
            root = download_fashion_mnist(course.root / "data", timeout=10.0, mirrors=mirrors)
            return _real(load_fashion_mnist(root), f"Fashion-MNIST, downloaded (a random subset: {size})",
                         n_train, n_test, seed)
        except LeaderboardError as exc:
            say(f"[yellow]download failed[/yellow]: {exc}")
    else:
        say(f"Fashion-MNIST is not on disk and {mirror} did not answer within {probe_timeout:g} s (offline?)")
    return Dataset(f"SYNTHETIC stand-in for Fashion-MNIST (built-in, seed {seed}: blurred class shapes "
                   f"plus noise, 28x28 grey, 10 classes; {size}) — not real Fashion-MNIST", False,
                   *synthetic_fashion(n_train, n_test, seed))


def _real(arrays, label: str, n_train: int, n_test: int, seed: int) -> Dataset:
    images_train, labels_train, images_test, labels_test = arrays
    return Dataset(label, True, *_subset(images_train, labels_train, n_train, seed),
                   *_subset(images_test, labels_test, n_test, seed + 1))


