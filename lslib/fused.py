"""An optional fused CPU kernel for the one-hidden-layer MLP surface (compiled on first use).

For points c_p (P, K) on a plane or line, the hidden pre-activations of all images are
Z_p = sum_k c_pk Z_k with Z_k (hidden, n) precomputed, and the logits are
W_p relu(Z_p) with W_p (classes, hidden). In PyTorch that is three passes over a
(hidden, n) tensor per point (form, rectify, contract), which are memory-bound. This
kernel does all three in registers, 16 images at a time with AVX-512 and 8 otherwise
(GCC vector extensions), over tiles of images that stay in cache while every point is
visited, each thread taking an equal share of the images. Same arithmetic in float32
(different summation order), so it agrees with the eager path to float rounding; the tests
check it against plain forward passes. It also adds the bias and, for a cross-entropy
(``relu_contract_ce``), takes each image's maximum logit and target logit and writes
(logits - max) * log2(e) while the logits are still in registers: four passes over the
(points, 10, images) logits fewer in the engine, with the same float operations, so the
losses are the same bits as when PyTorch does those steps on the kernel's logits.

It is built with ``torch.utils.cpp_extension.load_inline`` (a C++ compiler and ninja are
needed; the build is cached by PyTorch under ``TORCH_EXTENSIONS_DIR``). If the build
fails, or ``LSLIB_FUSED=0`` is set, ``available()`` is False and the engine uses its
PyTorch path, with one warning.

It is used only where it is measured to be faster: ``faster(measure)`` times it against the
engine's PyTorch path once per machine, build and thread count (about a second, at the
first plane or line of an MLP), and keeps the answer in ``calibration.json`` beside the
built module (delete it to measure again). ``LSLIB_FUSED=1`` uses it without measuring.
"""

import contextlib
import functools
import hashlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings

import torch

from lslib.paths import env_seconds

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

namespace {
// One vector of VW floats, GCC/Clang vector extensions. The inner loop keeps 10 accumulators
// and one activation vector in registers: 16 floats per vector fill 11 of AVX-512's 32
// registers, but would need 22 of AVX2's 16 (spilled to memory: 2.3x slower than PyTorch on
// an AVX2 machine, and 10x slower than 8-float vectors as AVX2 code on an AVX-512 machine),
// so AVX2, NEON and the rest get 8 floats per vector. AVX-512 also takes two vectors at a
// time (PAIR: 20 accumulators, each weight broadcast once for both): ~12 % faster here.
#if defined(__AVX512F__)
constexpr int VW = 16;
constexpr bool PAIR = true;
#else
constexpr int VW = 8;
constexpr bool PAIR = false;
#endif
// ROUNDED(h): h = c0 * z0 stays a rounded product, as in a loop over k at run time; unrolled
// (K known), the compiler could fuse either product of c0 z0 + c1 z1 into a multiply-add
// (other bits). An empty asm that takes h in a vector register forbids that; where no
// constraint is known for the architecture, K is not specialized.
#if defined(__x86_64__) && defined(__AVX__)
#define ROUNDED(h) asm("" : "+v"(h))
constexpr bool SPECIALIZE_K = true;
#else
#define ROUNDED(h)
constexpr bool SPECIALIZE_K = false;
#endif
typedef float vec __attribute__((vector_size(VW * 4)));
typedef int32_t ivec __attribute__((vector_size(VW * 4)));
constexpr int CLS = 10;

inline vec load(const float* p) { vec v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float* p, vec v) { std::memcpy(p, &v, sizeof v); }

// NV vectors of images at i (NV * VW images): NV = 2 shares each broadcast weight between
// two vectors (AVX-512 has the registers for 2 x 10 accumulators); per image, the same
// operations in the same order as NV = 1.
// KK: the number of vectors combined per point, when known at compile time (2: a line,
// 3: a plane), else 0 (K at run time).
template <bool CE, int NV, int KK>
inline void block(const float* Z, const float* c, const float* w, const float* b,
                  const int32_t* Y, float scale, float* o, float* top, float* tgt, int64_t K,
                  int64_t J, int64_t n, int64_t i) {
  const vec zero = {};
  const int64_t kn = KK ? KK : K, kstride = J * n;
  vec a[NV][CLS];
  for (int v = 0; v < NV; ++v)
    for (int q = 0; q < CLS; ++q) a[v][q] = zero;
  const float* zj = Z + i;
  for (int64_t j = 0; j < J; ++j, zj += n) {
    vec h[NV];
    for (int v = 0; v < NV; ++v) {
      h[v] = c[0] * load(zj + v * VW);
      ROUNDED(h[v]);
      for (int64_t k = 1; k < kn; ++k) {  // each step's sum kept: no regrouping across k
        h[v] += c[k] * load(zj + k * kstride + v * VW);
        ROUNDED(h[v]);
      }
      h[v] = h[v] < zero ? zero : h[v];  // like torch.relu: NaN stays NaN
    }
    for (int q = 0; q < CLS; ++q) {
      const float wq = w[q * J + j];
      for (int v = 0; v < NV; ++v) a[v][q] += wq * h[v];
    }
  }
  for (int v = 0; v < NV; ++v) {
    const int64_t iv = i + v * VW;
    if (b)
      for (int q = 0; q < CLS; ++q) a[v][q] = a[v][q] + b[q];
    if (!CE) {
      for (int q = 0; q < CLS; ++q) store(o + q * n + iv, a[v][q]);
      continue;
    }
    ivec y;
    std::memcpy(&y, Y + iv, sizeof y);
    vec m = a[v][0], t = a[v][0];
    ivec nan = a[v][0] != a[v][0];
    for (int q = 1; q < CLS; ++q) {
      m = a[v][q] > m ? a[v][q] : m;
      nan |= a[v][q] != a[v][q];
      t = y == q ? a[v][q] : t;
    }
    const vec qnan = zero + __builtin_nanf("");
    m = nan ? qnan : m;
    for (int q = 0; q < CLS; ++q) store(o + q * n + iv, (a[v][q] - m) * scale);
    store(top + iv, m);
    store(tgt + iv, t);
  }
}

template <bool CE, int KK>
inline void span(const float* Z, const float* c, const float* w, const float* b,
                 const int32_t* Y, float scale, float* o, float* tp, float* tg, int64_t K,
                 int64_t J, int64_t n, int64_t i0, int64_t i1) {
  int64_t i = i0;
  if (PAIR)
    for (; i + 2 * VW <= i1; i += 2 * VW)
      block<CE, 2, KK>(Z, c, w, b, Y, scale, o, tp, tg, K, J, n, i);
  for (; i < i1; i += VW) block<CE, 1, KK>(Z, c, w, b, Y, scale, o, tp, tg, K, J, n, i);
}

// l[p, q, i] = sum_j W[p, q, j] * max(0, sum_k C[p, k] * Z[k, j, i]) (+ B[p, q]) for i in
// [i0, i1); [i0, i1) is a tile of images whose Z stays in cache over all points. Without
// labels Y, out = l (the logits). With labels (cross-entropy), the first steps of
// lslib.landscape's loss are done here, with the same float operations in the same order:
// top = max_q l (NaN if any l is NaN, as torch.amax), tgt = l[Y], out = (l - top) * scale.
template <bool CE>
void tile(const float* Z, const float* C, const float* W, const float* B, const int32_t* Y,
          float scale, float* out, float* top, float* tgt, int64_t K, int64_t J, int64_t n,
          int64_t P, int64_t i0, int64_t i1) {
  for (int64_t p = 0; p < P; ++p) {
    const float* c = C + p * K;
    const float* w = W + p * CLS * J;
    const float* b = B ? B + p * CLS : nullptr;
    float* o = out + p * CLS * n;
    float* tp = CE ? top + p * n : nullptr;
    float* tg = CE ? tgt + p * n : nullptr;
    if (SPECIALIZE_K && K == 3)
      span<CE, 3>(Z, c, w, b, Y, scale, o, tp, tg, K, J, n, i0, i1);
    else if (SPECIALIZE_K && K == 2)
      span<CE, 2>(Z, c, w, b, Y, scale, o, tp, tg, K, J, n, i0, i1);
    else
      span<CE, 0>(Z, c, w, b, Y, scale, o, tp, tg, K, J, n, i0, i1);
  }
}

// Runs tile<CE> over the images: each thread takes an equal, contiguous share of the
// 16-image blocks (whole vectors for either width), in cache tiles.
template <bool CE>
void run(const torch::Tensor& Z, const torch::Tensor& C, const torch::Tensor& W,
         const torch::Tensor& B, const torch::Tensor& Y, double scale, torch::Tensor& out,
         torch::Tensor& top, torch::Tensor& tgt, int64_t tile_n) {
  const int64_t K = Z.size(0), J = Z.size(1), n = Z.size(2), P = C.size(0);
  TORCH_CHECK(W.size(1) == CLS && n % 16 == 0 && tile_n % 16 == 0, "relu_contract: bad shapes");
  TORCH_CHECK(!B.numel() || B.numel() == P * CLS, "relu_contract: bad bias");
  const float* z = Z.data_ptr<float>();
  const float* c = C.data_ptr<float>();
  const float* w = W.data_ptr<float>();
  const float* b = B.numel() ? B.data_ptr<float>() : nullptr;
  const int32_t* y = CE ? Y.data_ptr<int32_t>() : nullptr;
  float* o = out.data_ptr<float>();
  float* tp = CE ? top.data_ptr<float>() : nullptr;
  float* tg = CE ? tgt.data_ptr<float>() : nullptr;
  const float s = static_cast<float>(scale);
  const int64_t blocks = n / 16;
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), blocks));
  std::vector<std::thread> pool;
  for (int64_t r = 0; r < threads; ++r)
    pool.emplace_back([=] {
      const int64_t b0 = r * blocks / threads * 16, b1 = (r + 1) * blocks / threads * 16;
      for (int64_t i = b0; i < b1; i += tile_n)
        tile<CE>(z, c, w, b, y, s, o, tp, tg, K, J, n, P, i, std::min(b1, i + tile_n));
    });
  for (auto& th : pool) th.join();
}
}  // namespace

torch::Tensor relu_contract(torch::Tensor Z, torch::Tensor C, torch::Tensor W, torch::Tensor B,
                            int64_t tile_n) {
  auto out = torch::empty({C.size(0), CLS, Z.size(2)}, Z.options());
  torch::Tensor none;
  run<false>(Z, C, W, B, none, 1.0, out, none, none, tile_n);
  return out;
}

std::vector<torch::Tensor> relu_contract_ce(torch::Tensor Z, torch::Tensor C, torch::Tensor W,
                                            torch::Tensor B, torch::Tensor Y, double scale,
                                            int64_t tile_n) {
  TORCH_CHECK(Y.numel() == Z.size(2), "relu_contract_ce: one label per image");
  auto out = torch::empty({C.size(0), CLS, Z.size(2)}, Z.options());
  auto top = torch::empty({C.size(0), Z.size(2)}, Z.options());
  auto tgt = torch::empty({C.size(0), Z.size(2)}, Z.options());
  run<true>(Z, C, W, B, Y, scale, out, top, tgt, tile_n);
  return {out, top, tgt};
}
"""

CLASSES = 10  # the kernel's output width (compiled in)
BLOCK = 16  # images per register block
TILE = 224  # images per cache tile: 3 x 128 x 224 floats of Z fit in a 1 MB L2

CFLAGS = ("-O3", "-march=native")

_module = None
_state = None  # None: not tried; True: built; False: unavailable
_decided: dict[int, bool] = {}  # thread count -> whether the kernel is used (this process)
_forced: bool | None = None  # set by ``choice`` (benchmarks): overrides the measured choice


def setting() -> str:
    """``LSLIB_FUSED``: "0" (never), "1" (always, unmeasured) or "auto" (where measured
    faster; also when unset). Anything else is refused, naming the variable."""
    v = os.environ.get("LSLIB_FUSED", "auto").strip().lower() or "auto"
    if v not in ("0", "1", "auto"):
        raise ValueError(
            f"LSLIB_FUSED={os.environ['LSLIB_FUSED']!r} is not understood; allowed: 0 (never "
            "use the compiled kernel), 1 (always), auto or unset (where measured faster)"
        )
    return v


def provenance() -> dict:
    """Which surface kernel this process used: ``LSLIB_FUSED``, whether the kernel is built
    and, per thread count, whether it was chosen (for the records of what made a result)."""
    chosen = {str(t): use for t, use in sorted(_decided.items())}
    return {"setting": setting(), "built": _state, "chosen": chosen, "forced": _forced}


def available() -> bool:
    """Whether the kernel can be used (builds it on the first call)."""
    global _module, _state
    if _state is None:
        if setting() == "0":
            _state = False
            return False
        try:
            # Its import logs "No CUDA runtime is found" on CPU machines: not news here.
            log = logging.getLogger("torch.utils.cpp_extension")
            level = log.level
            log.setLevel(logging.ERROR)
            try:
                from torch.utils.cpp_extension import load_inline
            finally:
                log.setLevel(level)

            _module = load_inline(
                extension_name(),
                cpp_sources=_SOURCE,
                functions=["relu_contract", "relu_contract_ce"],
                extra_cflags=list(CFLAGS),
                verbose=False,
            )
            _state = True
        except Exception as e:  # no compiler, no ninja, a failed build: fall back
            warnings.warn(
                f"lslib: fused surface kernel unavailable ({type(e).__name__}: {e}); "
                "using the PyTorch path",
                stacklevel=2,
            )
            _state = False
    return _state


def extension_name(
    source: str = _SOURCE,
    cflags=CFLAGS,
    prefix: str = sys.prefix,
    executable: str = sys.executable,
    torch_version: str = torch.__version__,
    cpu: str | None = None,
) -> str:
    """The build's name: a hash of everything the compiled file depends on.

    PyTorch caches a build by name, and its build folder records the interpreter's paths;
    ``-march=native`` ties the binary to the CPU. So two venvs (two checkouts) or two CPU
    models sharing ``TORCH_EXTENSIONS_DIR`` each get their own build instead of
    rebuilding one another's, or loading one compiled for another CPU.
    """
    cpu = cpu_identity() if cpu is None else cpu
    parts = [source, " ".join(cflags), prefix, executable, torch_version, cpu]
    return "lslib_fused_" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


@functools.cache
def cpu_identity() -> str:
    """The CPU's model name and feature flags (/proc/cpuinfo), else the machine type."""
    try:
        lines = open("/proc/cpuinfo").read().splitlines()
    except OSError:
        lines = []
    keys = ("model name", "flags", "Features", "CPU implementer", "CPU part")
    found = {}
    for line in lines:
        k, _, v = line.partition(":")
        if k.strip() in keys and k.strip() not in found:
            found[k.strip()] = v.strip()
    return "; ".join(f"{k}: {v}" for k, v in sorted(found.items())) or platform.machine()


def relu_contract(z: torch.Tensor, c: torch.Tensor, w: torch.Tensor, bias=None) -> torch.Tensor:
    """W_p relu(sum_k c_pk z_k) (+ bias_p) for every point p: z (K, hidden, n), c (P, K),
    w (P, 10, hidden), bias (P, 10) or None.

    Returns (P, 10, n) float32 logits. CPU, float32 only.
    """
    z, n = _padded(z)
    out = _module.relu_contract(z, c.contiguous(), w.contiguous(), _bias(bias), TILE)
    return out[:, :, :n] if out.shape[2] != n else out


def relu_contract_ce(z, c, w, bias, y, scale: float):
    """The logits of ``relu_contract`` turned into the first steps of a cross-entropy, in
    one pass: (shifted (P, 10, n), top (P, 1, n), target (P, 1, n)) with top the logits'
    maximum over classes (NaN where any logit is NaN, as ``torch.amax``), target the logit
    of label ``y`` (n,), and shifted = (logits - top) * scale, each the same float32
    operation as in PyTorch, so bit-for-bit what those steps give on the kernel's logits.
    """
    z, n = _padded(z)
    yy = torch.zeros(z.shape[2], dtype=torch.int32)
    yy[:n] = y
    out, top, target = _module.relu_contract_ce(
        z, c.contiguous(), w.contiguous(), _bias(bias), yy, float(scale), TILE
    )
    if out.shape[2] != n:
        out = out[:, :, :n]
        top, target = top[:, :n].contiguous(), target[:, :n].contiguous()
    return out, top.unsqueeze(1), target.unsqueeze(1)


def _padded(z):
    """z (K, hidden, n) zero-padded to whole 16-image blocks, contiguous; and n."""
    n = z.shape[2]
    pad = -n % BLOCK
    if pad:
        z = torch.nn.functional.pad(z, (0, pad))
    return z.contiguous(), n


def _bias(bias):
    return torch.empty(0) if bias is None else bias.reshape(len(bias), CLASSES).contiguous()


def faster(measure, threads: int | None = None) -> bool:
    """Whether to use the kernel at this thread count: measured once, then read back.

    ``measure()`` returns (kernel seconds, PyTorch seconds) for the same representative
    work; the kernel is used only when it is faster. The answer is kept per thread count in
    ``calibration.json`` beside the built module (so per machine and build, as the build's
    name is), with both times, and reused by every later process; processes that start
    together (a cluster's workers) wait for the first one's measurement under a file lock
    instead of each measuring under the others' load. Delete the file to measure again.
    ``LSLIB_FUSED=1`` uses the kernel without measuring; ``LSLIB_FUSED=0`` never builds it.
    The two paths differ in the last bits (summation order), so results are bit-identical
    between machines that chose the same path.
    """
    if not available():
        return False
    if _forced is not None:
        return _forced
    if setting() == "1":
        return True
    threads = torch.get_num_threads() if threads is None else threads
    if threads in _decided:
        return _decided[threads]
    path = calibration_path()
    with _locked(path + ".lock"):
        table = _read(path)
        entry = table.get(str(threads))
        if not (isinstance(entry, dict) and isinstance(entry.get("use"), bool)):
            kernel_s, torch_s = measure()
            entry = {"kernel_s": kernel_s, "torch_s": torch_s, "use": kernel_s < torch_s}
            table[str(threads)] = entry
            _write(path, table)
    _decided[threads] = entry["use"]
    return entry["use"]


@contextlib.contextmanager
def _locked(path: str):
    """An exclusive lock on ``path`` (fcntl, where there is one; else none)."""
    try:
        import fcntl  # noqa: F401 (where there is none: unlocked)

        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except (ImportError, OSError):  # no fcntl, or a read-only build folder: unlocked
        yield
        return
    try:
        _wait_for(fd, path)
        yield
    finally:
        os.close(fd)  # releases the lock


NOTICE_S = 5.0  # a waiter for the calibration says so after this long (as the store's)


def _wait_for(fd: int, path: str) -> None:
    """flock ``fd``, saying after ``NOTICE_S`` whom it waits for and giving up with a
    TimeoutError after ``LSLIB_LOCK_TIMEOUT`` seconds (default 6 hours), as the store does."""
    import fcntl

    limit = env_seconds("LSLIB_LOCK_TIMEOUT", 6 * 3600.0)
    start, told = time.monotonic(), False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            waited = time.monotonic() - start
            if waited > limit:
                raise TimeoutError(
                    f"gave up after {waited:.0f} s waiting for the kernel's calibration, "
                    f"which another process holds (lock file {path}; LSLIB_LOCK_TIMEOUT "
                    "sets the limit, LSLIB_FUSED=0 or 1 skips the calibration)"
                ) from None
            if waited > NOTICE_S and not told:
                warnings.warn(
                    f"waiting for the kernel's calibration, which another process measures "
                    f"(lock file {path})",
                    stacklevel=4,
                )
                told = True
            time.sleep(min(0.2, max(limit - waited, 0.01)))


@contextlib.contextmanager
def choice(use: bool):
    """Inside the block, use the kernel (True, where it is built) or the PyTorch path
    (False) whatever was measured: for benchmarks that time both."""
    global _forced
    before, _forced = _forced, bool(use)
    try:
        yield
    finally:
        _forced = before


def calibration_path() -> str:
    """Where the measured choice is kept: beside the built module."""
    return os.path.join(os.path.dirname(_module.__file__), "calibration.json")


def _read(path: str) -> dict:
    try:
        with open(path) as f:
            table = json.load(f)
    except (OSError, ValueError):  # absent or torn: measure again
        return {}
    return table if isinstance(table, dict) else {}


def _write(path: str, table: dict) -> None:
    """Atomically (a reader never sees half a file), readable by all; a read-only build
    folder is no error (the choice is then measured again by each process)."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(table, f, indent=1, sort_keys=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
