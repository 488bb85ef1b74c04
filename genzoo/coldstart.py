"""Cold start: seconds from spawning a fresh Python process until a model is ready (no torch imported here).

What a user feels first is not a warm ``genzoo.load`` but a fresh process:
the interpreter, ``import torch``, the imports of the load path, the read. The
floor is ``import torch`` + ``safetensors.torch.load_file`` of the same files:
no network built, nothing faster that still has the weights in memory.
`genzoo bench --cold` and ``benchmarks/bench_cold.py`` time both ways with
these helpers. This module imports no torch: a child's peak RSS counts its
parent's at the fork, and the clock must not include the parent's imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

_READY = "\nprint('READY', repr(time.time()), flush=True)\nos._exit(0)\n"


def floor_code(files: list[str]) -> str:
    """The floor: ``import torch`` and ``load_file`` of each file."""
    return f"import torch\nfrom safetensors.torch import load_file\nsd = [load_file(f) for f in {list(map(str, files))!r}]"


def genzoo_code(name: str, components: str | None = None) -> str:
    """genzoo's way: ``genzoo.load(name, components=...)``."""
    return f"import genzoo\nm = genzoo.load({str(name)!r}, components={components!r})"


def cold_run(code: str) -> tuple[float, float]:
    """Seconds from spawning a fresh interpreter running ``code`` to its "ready", and its peak RSS in MB.

    The clock starts here just before the spawn and stops at the child's
    ``time.time()`` after ``code``; the child then exits at once (its teardown
    is not counted). Bytecode caches are on, as for any installed package.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.time()
        proc = subprocess.Popen([sys.executable, "-c", "import os, time\n" + code + _READY], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env)  # fmt: skip
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.stdout:
            proc.stdout.close()
        ready = [line for line in out.splitlines() if line.startswith("READY ")]
        if not ready:
            err.seek(0)
            lines = err.read().strip().splitlines() or [f"exit status {proc.returncode}"]
            raise RuntimeError(f"a cold-start process failed: {lines[-1]}")
    return float(ready[-1].split()[1]) - t0, usage.ru_maxrss / 1024


def load_average() -> tuple[float, float, float] | None:
    """``os.getloadavg()``, or ``None`` where the platform has none."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return None


def oversubscribed(load: tuple[float, float, float] | None) -> str | None:
    """A warning when the 1-minute load average exceeds the CPUs, else ``None``."""
    cpus = os.cpu_count() or 1
    if load is not None and load[0] > cpus:
        return (f"the machine is oversubscribed (load average {load[0]:.2f} > {cpus} CPUs): the timings are inflated "
                "and noisy; read the ratios, which were measured taking turns")  # fmt: skip
    return None
