"""Where benchmark numbers come from: CPU, load, library versions (torch only if it is loaded)."""
from __future__ import annotations

import os
import platform
import sys


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str = "cpu", threads: int = 1) -> dict:
    """Where the numbers come from: device, threads, library versions, CPU, load.

    ``torch`` is its version when torch is loaded (the torch path), else None.
    """
    try:
        import onnxruntime as ort
        ort_version = ort.__version__
    except ImportError:  # pragma: no cover - a dependency
        ort_version = None
    torch = sys.modules.get("torch")
    dev = str(device)
    name = torch.cuda.get_device_name(torch.device(dev)) if dev.startswith("cuda") and torch else cpu_model()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = None
    return {"device": dev, "device_name": name, "threads": int(threads),
            "torch": torch.__version__ if torch is not None else None, "onnxruntime": ort_version,
            "cpu": cpu_model(), "cpu_count": os.cpu_count(), "load_avg": load, "python": platform.python_version()}
