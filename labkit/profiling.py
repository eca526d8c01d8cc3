"""Peak memory (CPU and CUDA): the one home of memory measurement in the kit.

Taught in ``05_svd_cogvideox_inference`` (memory plans measured against the planner); also measures the decode cost
of ``01_latent_compression`` and the attention cost of ``02_temporal_attention``.

Two context managers, each used by every measurement of its kind:

- :class:`PeakAllocated`: the peak of live tensor bytes inside a ``with`` block, above what was live at its start
  (CUDA: the allocator's counter; CPU: ``torch.profiler``'s memory events on one intra-op thread), deterministic
  for a deterministic block: what :mod:`labkit.budgets`' planner is checked against;
- :class:`PeakRSS`: anonymous resident memory (Linux ``RssAnon``) sampled by a thread, of this process (after
  asking glibc to return freed memory) or of its child processes (``labkit run``'s notebook kernel): what the
  operating system sees, allocator arenas and thread stacks included, so noisier than the tensor measure.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

import psutil
import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ["PeakAllocated", "PeakRSS", "torch_threads"]


class PeakAllocated:
    """Context manager: ``.peak``, the most bytes live tensors held inside the ``with`` block above what they held
    at its start; ``.baseline``, what they held at its start (CUDA only; 0 on the CPU, where it is not known).

    - CUDA ``device``: the allocator's own counter, ``torch.cuda.max_memory_allocated`` after
      ``reset_peak_memory_stats``.
    - CPU: the allocator keeps no peak, so ``torch.profiler`` (``profile_memory=True``) logs every allocation and
      free of the block and ``.peak`` is the running sum's maximum: deterministic for a deterministic block, unlike
      resident memory (:class:`PeakRSS`), which also holds glibc's arenas and pages not yet returned. The block
      runs on ``threads`` intra-op threads (1; ``None`` keeps the setting): oneDNN's bfloat16 convolutions hold a
      scratch buffer per thread (6.75 MiB each in the tiny CogVideoX's VAE decoder at 64x96), which would make the
      peak depend on the machine's core count.

    Run the computation once before measuring it, so the one-time caches of a first call are not counted.
    """

    def __init__(self, device="cpu", threads: int | None = 1):
        self.device, self.threads = torch.device(device), threads
        self.baseline = self.peak = 0

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            if self.threads is not None:
                self._stack.enter_context(torch_threads(self.threads))
            self._stack.enter_context(_native_stderr_silenced())
            self._profiler = self._stack.enter_context(
                profile(activities=[ProfilerActivity.CPU], profile_memory=True))
        return self

    def __exit__(self, *exc):
        self._stack.__exit__(*exc)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.baseline
        else:
            events = sorted((e for e in self._profiler.profiler.kineto_results.events() if e.name() == "[memory]"),
                            key=lambda e: e.start_ns())
            current = 0
            for e in events:
                current += e.nbytes()
                self.peak = max(self.peak, current)
        return False


class PeakRSS:
    """Context manager sampling resident memory every ``interval`` seconds in a thread; ``.baseline`` (on entry)
    and ``.peak``, in bytes of anonymous resident memory (Linux ``RssAnon``: heap and tensors, else the total RSS).

    File-backed pages (torch's shared libraries) are left out: under memory pressure the kernel evicts and re-reads
    them during a run, tens of MiB of noise. By default it samples this process, and on entry asks glibc to return
    freed memory (``malloc_trim``) with a low mmap threshold, so RSS follows live tensors instead of the
    allocator's high-water mark: ``peak - baseline`` is what the block added. ``children=True`` samples the sum
    over this process's child processes instead (``labkit run``: the notebook kernel that papermill starts).
    """

    def __init__(self, interval: float = 0.002, children: bool = False):
        self.interval, self.children = interval, children
        self.baseline = self.peak = 0
        self._stop = threading.Event()

    def _resident(self) -> int:
        if not self.children:
            return _resident_bytes()
        return sum(_resident_bytes(child.pid) for child in psutil.Process().children(recursive=True))

    def __enter__(self):
        if not self.children:
            _tidy_malloc()
        self.baseline = self.peak = self._resident()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._resident())
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._resident())
        return False


def _resident_bytes(pid: int | None = None) -> int:
    """Anonymous resident memory of process ``pid`` (this one by default) in bytes; 0 once it has exited."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def _tidy_malloc() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 17)  # M_MMAP_THRESHOLD = 128 KiB: tensors come from mmap and go back on free
        libc.mallopt(-1, 1 << 17)  # M_TRIM_THRESHOLD = 128 KiB: free heap tops are returned promptly
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS is then an upper bound
        pass


@contextlib.contextmanager
def torch_threads(threads: int):
    """Run the block on ``threads`` torch intra-op threads, then give the previous setting back. One thread keeps
    timings steady on a busy shared machine and tiny tensors fast (waking a second thread costs more than they
    do)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
