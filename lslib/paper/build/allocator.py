"""glibc's allocator, set for a build: large tensors without a page fault per 4 KiB.

Training and evaluation allocate and free tensors of tens to hundreds of MB every step
(SimpleCNN-64's activations: 26 MB at batch 128, 411 MB at the evaluation batch of 2,048).
With glibc's defaults each is mapped anew and touched one 4 KiB page at a time, so a
training epoch spends much of its time in page faults and system time (measured on the
book's "running at scale" page, ``book/scale.md``). Three tunables, read by glibc when a
process starts:

- ``hugetlb=1``: mapped blocks are backed by transparent huge pages where the kernel offers
  them on request (``madvise``), one fault per 2 MiB;
- ``mmap_threshold`` 32 MiB and ``trim_threshold`` 64 MiB: smaller blocks are reused from
  the heap instead of being mapped and unmapped (where glibc's dynamic rule ends on 64-bit).

Epochs then fault rarely and run faster, with bit-identical results (the allocator decides
where tensors live, not what is computed in them).
``python -m lslib.paper`` starts itself again with them
when they are missing, so its notebooks' kernels and a local cluster's workers inherit them
(Dask's nannies also set ``MALLOC_TRIM_THRESHOLD_``, which its workers undo:
``executors._glibc_thresholds``); ``LSLIB_TUNABLES=0`` turns this off. Tunables the caller
already set are kept. Where glibc is older than 2.35 ``hugetlb`` is ignored (the thresholds
still apply); where transparent huge pages are ``always`` every large block gets them anyway.
"""

import os
import platform
import sys

TUNABLES = {
    "glibc.malloc.hugetlb": "1",
    "glibc.malloc.mmap_threshold": str(32 * 2**20),
    "glibc.malloc.trim_threshold": str(64 * 2**20),
}


def with_tunables(environ: dict) -> dict:
    """``environ`` with ``TUNABLES`` added to GLIBC_TUNABLES (the caller's own settings win)."""
    given = [t for t in environ.get("GLIBC_TUNABLES", "").split(":") if t]
    names = {t.split("=", 1)[0] for t in given}
    added = [f"{k}={v}" for k, v in TUNABLES.items() if k not in names]
    return environ | {"GLIBC_TUNABLES": ":".join(given + added)}


ON, OFF = ("1", "true", "on", "yes", ""), ("0", "false", "off", "no")


def switch(name: str, environ: dict) -> bool:
    """An on/off variable: on (1, true, on, yes, unset) or off (0, false, off, no); any
    other value is refused, naming the variable and the values allowed."""
    raw = environ.get(name, "1")
    v = raw.strip().lower()
    if v not in ON + OFF:
        raise ValueError(
            f"{name}={raw!r} is not understood; allowed: {', '.join(ON[:-1])} "
            f"(on, the default) or {', '.join(OFF)} (off)"
        )
    return v in ON


def tunables_on(environ: dict) -> bool:
    """``LSLIB_TUNABLES``: on (1, true, on, yes, unset) or off (0, false, off, no)."""
    return switch("LSLIB_TUNABLES", environ)


def wanted(environ: dict) -> bool:
    """Whether this process should start again with the tunables (glibc Linux, not yet set)."""
    return (
        sys.platform == "linux"
        and platform.libc_ver()[0] == "glibc"
        and tunables_on(environ)
        and with_tunables(environ)["GLIBC_TUNABLES"] != environ.get("GLIBC_TUNABLES")
    )


def restart_with_tunables() -> None:
    """Replace this process by the same command line (interpreter options, ``-m`` module
    and arguments, as ``sys.orig_argv`` has them) with the tunables, if ``wanted``. Once
    set they are not wanted again, so this happens at most once."""
    if wanted(dict(os.environ)):
        sys.stdout.flush()
        sys.stderr.flush()
        env = with_tunables(dict(os.environ))
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def faults_touching(mib: int = 256) -> int:
    """Minor page faults of allocating, filling and freeing a ``mib`` MiB tensor here."""
    import resource

    import torch

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(mib * 2**18)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


if __name__ == "__main__":  # the tunables a build runs with, and what they do here
    restart_with_tunables()
    print("GLIBC_TUNABLES=" + os.environ.get("GLIBC_TUNABLES", ""))
    print(f"minor page faults filling 256 MiB: {faults_touching()}")
