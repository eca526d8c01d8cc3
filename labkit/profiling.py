"""Peak memory on the CPU: the one home of memory measurement in the kit.

Taught in ``05_svd_cogvideox_inference`` (memory plans measured against the planner); also measures the decode cost
of ``01_latent_compression`` and the attention cost of ``02_temporal_attention``.

The CPU allocator has no peak counter like CUDA's ``torch.cuda.max_memory_allocated``; three measures stand in:

- :class:`PeakTensorMemory`: a ``TorchDispatchMode`` counting the bytes of live tensors created inside a ``with``
  block (views and in-place results share a storage and count once); ``.peak``, in bytes, is the *extra* memory a
  computation needs, weights and inputs excluded;
- :func:`peak_allocated_cpu`: the peak of live tensor bytes during ``fn()`` from ``torch.profiler``'s memory events
  (``profile_memory=True``), deterministic for a deterministic ``fn``: what :mod:`labkit.budgets`' planner is checked
  against;
- :class:`PeakRSS`: the process's anonymous resident memory (Linux ``RssAnon``) sampled by a thread, after asking
  glibc to return freed memory: what the operating system sees, allocator arenas and thread stacks included, so
  noisier than the tensor measures.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
import time
import weakref

import psutil
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["PeakTensorMemory", "PeakRSS", "peak_allocated_cpu"]


class PeakTensorMemory(TorchDispatchMode):
    """Count bytes of live tensors created inside the ``with`` block; ``.peak`` is the maximum (bytes).

    Each op output with a new storage is counted until its tensor is garbage collected. Views and in-place
    results share a storage and are not counted twice. Weights and inputs created before the block are not
    counted: the number is the *extra* memory a computation needs.
    """

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self._storages: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self._storages.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key, nbytes = storage.data_ptr(), storage.nbytes()
                if nbytes and key not in self._storages:
                    self._storages.add(key)
                    self.live += nbytes
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(t, self._free, key, nbytes)
        return out


# ---------------------------------------------------------------- measuring
class PeakRSS:
    """Context manager sampling this process's resident memory every ``interval`` seconds in a thread.

    On entry it asks glibc to return freed memory (``malloc_trim``) and pins the mmap threshold, so RSS follows
    live tensors instead of the allocator's high-water mark; ``peak - baseline`` is what the run added.
    """

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.baseline = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        _tidy_malloc()
        self.baseline = self.peak = _resident_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _resident_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _resident_bytes())
        return False


def _resident_bytes() -> int:
    """Anonymous resident memory of this process (Linux ``RssAnon``: heap and tensors), else total RSS.

    File-backed pages (the 1 GB of torch's shared libraries) are left out: on a machine under memory pressure the
    kernel evicts and re-reads them during a run, which would show up as tens of MiB of noise.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass

    return psutil.Process().memory_info().rss


def _tidy_malloc() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 17)  # M_MMAP_THRESHOLD = 128 KiB: tensors come from mmap and go back on free
        libc.mallopt(-1, 1 << 17)  # M_TRIM_THRESHOLD = 128 KiB: free heap tops are returned promptly
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS is then an upper bound
        pass


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null: torch's profiler prints two log lines per use from C++, which would
    bury a notebook's (and ``labkit run``'s) output under hundreds of lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _peak_bytes(fn) -> int:
    """Peak net allocation during ``fn()``: CUDA allocator stats, or the CPU profiler's memory events."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    return peak_allocated_cpu(fn)


def peak_allocated_cpu(fn) -> int:
    """Peak of the bytes that torch's CPU allocator holds for live tensors during ``fn()``, above what was live
    before: ``torch.profiler`` with ``profile_memory=True`` logs every allocation and free, and the running sum's
    maximum is the CPU analogue of CUDA's ``max_memory_allocated``. Deterministic for a deterministic ``fn``,
    unlike resident memory, which also holds glibc's arenas, thread-pool stacks and pages not yet returned."""

    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += e.nbytes()
        peak = max(peak, current)
    return peak
