"""The course secret: a random key, kept with the private solution, that keys the pseudonyms and the split.

Pseudonyms and the hidden public/private split must not be computable from
anything a student can read. ``course.toml`` and the course repository are often
public, so the secret lives in ``competition/private/secret.txt`` (64 hex digits,
mode 0600), next to ``solution.csv`` and never given to students.

* ``leaderboard prepare`` creates it when it is missing and reuses it otherwise
  (so preparing again gives the same split). ``--secret-file FILE`` copies an
  existing secret in, and is refused when FILE looks public: readable by group or
  others, inside ``competition/public/``, ``course.toml``, or tracked by git.
* :func:`split_seed` and :func:`pseudonym_key` derive independent keys from it
  (HMAC-SHA256), so knowing one's own pseudonym reveals nothing about the split.
* Rotating (``leaderboard secret --rotate``) changes every pseudonym; the split of
  an existing competition is fixed in ``solution.csv`` and does not change.

Pure derivations here, file I/O in :func:`load_secret`, :func:`create_secret`,
:func:`read_private_secret`.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import subprocess
from pathlib import Path

from coursebase.files import write_atomic
from coursebase.submission import NotRegular, TooLarge, read_bounded
from leaderboard.records import LeaderboardError

SECRET_NAME = "secret.txt"
_HEX = re.compile(r"[0-9a-f]{64}")


def new_secret() -> str:
    return secrets.token_hex(32)


def _derive(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode("ascii"), purpose.encode("ascii"), hashlib.sha256).digest()


def split_seed(secret: str) -> int:
    """The shuffle/split seed (64 bits) keyed by the secret."""
    return int.from_bytes(_derive(secret, "split")[:8], "big")


def pseudonym_key(secret: str) -> str:
    return _derive(secret, "pseudonym").hex()


def secret_path(private_dir: str | Path) -> Path:
    return Path(private_dir) / SECRET_NAME


def _parse(text: str, where: Path) -> str:
    value = text.strip().lower()
    if not _HEX.fullmatch(value):
        raise LeaderboardError(f"{where} does not hold a course secret (64 hexadecimal digits). Make a new "
                               f"one with `leaderboard secret --rotate` (pseudonyms change).")
    return value


def _read_small(path: Path) -> str:
    """The secret file's text: a regular file (never a link, FIFO or device), at most 200 bytes."""
    try:
        return read_bounded(path, 200).decode("ascii", errors="replace")
    except (NotRegular, TooLarge) as exc:
        raise LeaderboardError(f"{exc}. The course secret must be a regular file holding 64 hexadecimal digits; "
                               f"make a new one with `leaderboard secret --rotate` (pseudonyms change).") from None


def load_secret(private_dir: str | Path) -> str:
    """The course secret, or a :class:`LeaderboardError` saying how to make one."""
    path = secret_path(private_dir)
    try:
        return _parse(_read_small(path), path)
    except FileNotFoundError:
        raise LeaderboardError(
            f"no course secret at {path}. It keys the pseudonyms and the split and is made by "
            f"`leaderboard prepare`; for a competition prepared before secrets existed, run "
            f"`leaderboard secret --rotate` once (pseudonyms change; scores and the split do not).") from None
    except OSError as exc:
        raise LeaderboardError(f"cannot read the course secret {path} ({exc.strerror}); it must be a regular "
                               f"file readable by the instructor only.") from None


def write_secret(private_dir: str | Path, secret: str) -> Path:
    """Write ``secret`` with mode 0600 (atomically)."""
    path = secret_path(private_dir)
    write_atomic(path, (_parse(secret, path) + "\n").encode("ascii"), mode=0o600)
    return path


def create_secret(private_dir: str | Path) -> str:
    """The existing secret, or a new random one written there."""
    path = secret_path(private_dir)
    if os.path.lexists(path):
        return load_secret(private_dir)
    secret = new_secret()
    write_secret(private_dir, secret)
    return secret


def _tracked_by_git(path: Path) -> bool:
    try:
        done = subprocess.run(["git", "-C", str(path.parent), "ls-files", "--error-unmatch", path.name],
                              capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def read_private_secret(path: str | Path, public_dir: str | Path | None = None) -> str:
    """A secret to reuse from ``path``; refused when the file looks public (see the module docstring)."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except OSError:
        raise LeaderboardError(f"{path} does not exist; pass the file that holds the course secret.") from None
    reasons = []
    if path.name == "course.toml":
        reasons.append("it is course.toml, which is shared with the course")
    if public_dir is not None and Path(public_dir).resolve() in path.resolve().parents:
        reasons.append(f"it is inside {public_dir}, which students get")
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        reasons.append(f"others can read it (mode {stat.S_IMODE(info.st_mode):o}; use chmod 600)")
    if _tracked_by_git(path):
        reasons.append("it is tracked by git, so it is in the repository")
    if reasons:
        raise LeaderboardError(f"refusing to use {path} as the course secret: {'; '.join(reasons)}. A secret "
                               f"that may be public lets students compute the pseudonyms and the split; "
                               f"leave --secret-file out to make a new one.")
    return _parse(_read_small(path), path)
