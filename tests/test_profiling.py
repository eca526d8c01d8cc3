"""labkit.profiling: the peak of live tensor bytes is exact on known allocations; resident memory sees a large one."""

import time

import torch

from labkit.profiling import PeakAllocated, PeakRSS


def test_peak_allocated_counts_exactly_the_live_tensors():
    with PeakAllocated() as mem:
        a = torch.ones(8 * 2**20 // 4)  # 8 MiB
        b = torch.ones(16 * 2**20 // 4)  # 16 MiB: peak 24 MiB while both live
        del a, b
        c = torch.ones(4 * 2**20 // 4)  # 4 MiB after the peak: does not raise it
    assert mem.peak == 24 * 2**20
    del c


def test_peak_allocated_counts_op_outputs_and_not_what_was_live_before():
    a = torch.ones(1000)  # 4000 bytes, live before the block
    with PeakAllocated() as mem:
        b = a.exp()  # +4000
        c = b.neg()  # +4000 while b lives: 8000 (no Python scalars: each would allocate a small tensor)
        del b, c
        d = a.sin()  # 4000, after both were freed
    assert mem.peak == 8000
    del d


def test_peak_allocated_measures_on_one_thread_and_gives_the_setting_back():
    previous = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with PeakAllocated():
            inside = torch.get_num_threads()
        assert (inside, torch.get_num_threads()) == (1, 3)
        with PeakAllocated(threads=None):
            assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(previous)


def test_peak_rss_sees_an_allocation():
    with PeakRSS() as rss:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB
        time.sleep(0.05)  # let the sampling thread see it
        del x
    assert 48 * 2**20 < rss.peak - rss.baseline < 160 * 2**20


def test_peak_rss_of_child_processes_sees_a_child():
    """Measured from a fresh parent process, so that no other child (a kernel of another test) is counted."""
    import subprocess
    import sys

    child = "import time; x = bytearray(64 * 2**20); time.sleep(2)"  # 64 MiB of anonymous memory, held 2 s
    parent = ("import subprocess, sys\nfrom labkit.profiling import PeakRSS\n"
              "with PeakRSS(interval=0.05, children=True) as rss:\n"
              f"    subprocess.run([sys.executable, '-c', {child!r}], check=True)\n"
              "print(rss.baseline, rss.peak)")
    out = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, check=True, timeout=120)
    baseline, peak = map(int, out.stdout.split())
    assert baseline == 0 and 64 * 2**20 <= peak < 160 * 2**20


def test_peak_allocated_on_cuda_reads_the_allocator_counter(monkeypatch):
    """The CUDA branch without a GPU: the allocator's counters stand in (100 bytes live on entry, 250 at peak)."""
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 100)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 250)
    with PeakAllocated("cuda") as mem:
        assert calls == ["sync", "reset"]
    assert (mem.baseline, mem.peak, calls[-1]) == (100, 150, "sync")
