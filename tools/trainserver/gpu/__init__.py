"""GPU temperature checks (ts-gpu-temp): NVML through pynvml, or nvidia-smi when that is missing."""
