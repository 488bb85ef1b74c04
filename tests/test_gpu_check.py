"""scripts/gpu_check.py on a machine without CUDA: it says so and exits 0 (the GPU path runs on GPU machines)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.py"


def test_without_cuda_it_says_so_and_exits_0():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--repeat", "1"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no CUDA device here" in proc.stdout and "Run this script on a machine with an NVIDIA GPU" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_psnr_and_report_table():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(SCRIPT.parent))
    import torch

    a = torch.zeros(1, 3, 4, 4)
    assert gpu_check.psnr(a, a) == float("inf")
    assert abs(gpu_check.psnr(a + 0.02, a) - 10 * __import__("math").log10(4 / 0.0004)) < 1e-6  # 40 dB
    report = gpu_check.Report()
    report.add("bf16 vs fp32", "g", "PSNR 41.0 dB", ">= 40 dB", True)
    report.guard("compile", "g", lambda: 1 / 0)
    table = report.table()
    assert "| bf16 vs fp32 | g | PSNR 41.0 dB | >= 40 dB | yes |" in table
    assert "error: ZeroDivisionError" in table and "**no**" in table
