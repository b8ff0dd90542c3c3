"""The BCH code behind the commitment, built once per process.

galois compiles its arithmetic on first use: building the code and the first decode together take
several seconds, so `warm_up()` runs at process start (facenition.startup) and no request pays.
"""

import secrets
import threading

import numpy as np

CODE_LENGTH = 1023
KEY_BITS = 46

_code = None
_lock = threading.Lock()


def _compile_serially():
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


def bch():
    global _code
    if _code is None:
        with _lock:
            if _code is None:
                import galois

                _compile_serially()
                _code = galois.BCH(CODE_LENGTH, KEY_BITS)
    return _code


def correctable_errors():
    return bch().t


def random_key():
    return np.frombuffer(secrets.token_bytes(KEY_BITS), dtype=np.uint8) & 1


def encode(key_bits):
    import galois

    return np.asarray(bch().encode(galois.GF2(key_bits)), dtype=np.uint8)


def decode(word_bits):
    """(key bits, corrected errors), or (None, None) when the word is beyond the code's reach."""
    import galois

    key, errors = bch().decode(galois.GF2(np.asarray(word_bits, dtype=np.uint8)), errors=True)
    if errors < 0:
        return None, None
    return np.asarray(key, dtype=np.uint8), int(errors)


def warm_up():
    """Builds the code and runs one decode so that the JIT compilation happens now."""
    decode(encode(random_key()))
