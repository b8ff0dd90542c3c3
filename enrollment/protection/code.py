"""The BCH code behind the commitment, built once per process and cached on disk across processes.

galois builds BCH(1023, 46) by a search over designed distances, computing hundreds of minimal
polynomials and compiling its arithmetic on first use: about 90 s on this machine. The search always
ends at designed distance 439 (the largest that keeps 46 message bits), so the code is built from that
distance directly (about 8 s), and its generator polynomial and roots are then kept in a file that
later processes load in about 1 s (`use_cache_dir`; the enrollment app points it beside the model
weights). The file carries a SHA-256 of its contents and is rebuilt when that, or galois's own check
that the generator divides x^1023 - 1, fails. The first decode still compiles galois's kernels
(a few seconds): `warm_up()` runs at process start (facenition.startup), so no request pays.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import logging
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import galois

CODE_LENGTH = 1023
KEY_BITS = 46
DESIGN_DISTANCE = 439

Bits = npt.NDArray[np.uint8]

log = logging.getLogger("facenition")

_code: galois.BCH | None = None
_lock = threading.Lock()
_cache_dir: Path | None = None


def use_cache_dir(folder: str | os.PathLike[str] | None) -> None:
    """Where the built code is kept between processes; None keeps it in memory only."""
    global _cache_dir
    _cache_dir = Path(folder) if folder is not None else None


def cache_file() -> Path | None:
    if _cache_dir is None:
        return None
    galois_version = importlib.metadata.version("galois")
    return _cache_dir / f"bch-{CODE_LENGTH}-{DESIGN_DISTANCE}-galois-{galois_version}.npz"


def _compile_serially() -> None:
    """galois runs two kernels in numba's parallel loops: polynomial evaluation and matrix products.
    One decode takes milliseconds on one thread; in parallel it thrashes on a busy machine (measured
    15 ms → 2.7 s per decode) and, once run, makes GNU OpenMP abort every process forked afterwards,
    which is how gunicorn starts its workers from a preloaded master. Both kernels are compiled on
    first use, so switching them to serial before then is enough. Private to galois 0.4.11 (pinned);
    tests/enrollment/test_protection.py fails if a later version brings parallel loops back."""
    from galois._domains._linalg import matmul_jit
    from galois._polys._dense import evaluate_elementwise_jit

    for kernel in (matmul_jit, evaluate_elementwise_jit):
        kernel._PARALLEL = False


def _build() -> galois.BCH:
    import galois

    code = galois.BCH(CODE_LENGTH, d=DESIGN_DISTANCE)
    if code.k != KEY_BITS:
        raise RuntimeError(f"BCH({CODE_LENGTH}, d={DESIGN_DISTANCE}) carries {code.k} bits, not {KEY_BITS}")
    return code


def _store(code: galois.BCH, path: Path) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        generator=np.asarray(code.generator_poly.coeffs, dtype=np.uint8),
        roots=np.asarray(code.roots, dtype=np.int64),
    )
    payload = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a temporary file and renamed: a process reading the cache never sees half a file.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(descriptor, "wb") as out:
        out.write(hashlib.sha256(payload).digest() + payload)
    os.replace(temporary, path)


def _load(path: Path) -> galois.BCH | None:
    """The code rebuilt from its cached generator and roots, or None when the file is absent or altered.

    galois has no public constructor from a generator polynomial; this sets what `BCH.__init__` sets
    (galois is pinned) and lets `_CyclicCode.__init__` derive the matrices and check the generator."""
    try:
        content = path.read_bytes()
    except OSError:
        return None
    digest, payload = content[:32], content[32:]
    if hashlib.sha256(payload).digest() != digest:
        log.warning("the cached error-correcting code %s does not match its hash; building it again", path)
        return None
    import galois
    from galois._codes._cyclic import _CyclicCode
    from galois._polys import matlab_primitive_poly

    parts = np.load(io.BytesIO(payload))
    generator, roots = parts["generator"], parts["roots"]
    field = galois.GF(2**10, irreducible_poly=matlab_primitive_poly(2, 10))
    code = galois.BCH.__new__(galois.BCH)
    code._extension_field = field
    code._alpha = field.primitive_root_of_unity(CODE_LENGTH)
    code._c = 1
    code._is_primitive = True
    code._is_narrow_sense = True
    try:
        _CyclicCode.__init__(
            code,
            CODE_LENGTH,
            CODE_LENGTH - (generator.size - 1),
            roots.size + 1,
            galois.Poly(galois.GF2(generator)),
            field(roots),
            True,
        )
    except (AssertionError, ValueError, TypeError):
        log.warning("the cached error-correcting code %s is not a valid code; building it again", path)
        return None
    if (code.k, code.d) != (KEY_BITS, DESIGN_DISTANCE):
        return None
    return code


def bch() -> galois.BCH:
    global _code
    if _code is None:
        with _lock:
            if _code is None:
                _compile_serially()
                path = cache_file()
                code = _load(path) if path is not None else None
                if code is None:
                    code = _build()
                    if path is not None:
                        _store(code, path)
                _code = code
    return _code


def correctable_errors() -> int:
    return int(bch().t)


def random_key() -> Bits:
    return np.frombuffer(secrets.token_bytes(KEY_BITS), dtype=np.uint8) & np.uint8(1)


def encode(key_bits: Bits) -> Bits:
    import galois

    return np.asarray(bch().encode(galois.GF2(key_bits)), dtype=np.uint8)


def decode(word_bits: Bits) -> tuple[Bits, int] | tuple[None, None]:
    """(key bits, corrected errors), or (None, None) when the word is beyond the code's reach."""
    import galois

    key, errors = bch().decode(galois.GF2(np.asarray(word_bits, dtype=np.uint8)), errors=True)
    if errors < 0:
        return None, None
    return np.asarray(key, dtype=np.uint8), int(errors)


def warm_up() -> None:
    """Builds (or loads) the code and runs one decode so that the JIT compilation happens now."""
    decode(encode(random_key()))
