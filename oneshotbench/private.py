"""Private splits: seeds and fingerprints derived from a secret file the submission never sees."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from oneshotbench.errors import OneshotbenchError

MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class PrivateSecret:
    """The secret behind a private split; only its SHA-256 commitment is ever recorded.

    Seeds and fingerprints are derived from the whole secret (at least 128 bits), never from
    the 32-bit master seed alone, which could be brute-forced from anything published about it.
    """

    secret: bytes = field(repr=False)

    @property
    def commitment(self) -> str:
        return hashlib.sha256(self.secret).hexdigest()

    def _derive(self, *parts: object) -> bytes:
        key = "\0".join(["oneshotbench-private-split-v1", *map(str, parts)]).encode()
        return hashlib.sha256(key + b"\0" + self.secret).digest()

    def master_seed(self, split: str) -> int:
        """A master seed in 1..2**32-1 (0 means "unseeded" to the authors' code), one per split."""
        return int.from_bytes(self._derive("seed", split)[:4], "big") % (2**32 - 1) + 1

    def fingerprint(self, dataset: str, version: int, split: str, level: int) -> str:
        """Identifies a private split without revealing anything that leads to its seed."""
        return self._derive("fingerprint", dataset, version, split, level).hex()


def read_private_secret(path: Path) -> PrivateSecret:
    """Read the secret file; refuse ones too short to be unguessable."""
    try:
        secret = Path(path).read_bytes()
    except OSError as err:
        raise OneshotbenchError(f"cannot read private seed file {path}: {err.strerror}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise OneshotbenchError(
            f"private seed file {path} holds {len(secret)} bytes; use at least "
            f"{MIN_SECRET_BYTES} random bytes, e.g.  head -c 32 /dev/urandom > {path}"
        )
    return PrivateSecret(secret)
