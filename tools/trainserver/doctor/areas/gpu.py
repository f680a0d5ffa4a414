"""GPU: the driver answering (nvidia-smi), the CUDA version it supports, and a small matrix
product on the first GPU, from a container of the workspace image, as people run their jobs."""

from trainserver.doctor import parse, tools
from trainserver.doctor.results import FAIL, PASS, SKIP, Result
from trainserver.doctor.runner import Probe, run_command

AREA = "gpu"
NO_DRIVER = "no NVIDIA driver (nvidia-smi not found)"
NO_TORCH = 42
NO_CUDA = 43
# Run with the image's python3: torch is not part of the shipped image (people install their
# own), so its absence is a SKIP with that reason, not a failure.
COMPUTE = f"""
import sys
try:
    import torch
except ImportError:
    sys.exit({NO_TORCH})
if not torch.cuda.is_available():
    print("torch sees no CUDA device")
    sys.exit({NO_CUDA})
a = torch.randn(512, 512, device="cuda")
b = (a @ a).cpu()
error = float((b - a.cpu() @ a.cpu()).abs().max())
print(f"{{torch.cuda.get_device_name(0)}}: 512x512 matmul, max error {{error:.2e}}")
sys.exit(0 if error < 1e-1 else 1)
"""


def _last_line(text):
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else "no output"


def driver(ctx):
    smi = tools.which(ctx, "nvidia-smi")
    if smi is None:
        return [Result(AREA, "nvidia-smi", SKIP, NO_DRIVER), Result(AREA, "cuda", SKIP, NO_DRIVER)]
    listed = run_command(ctx, [smi, "--query-gpu=name,driver_version",
                               "--format=csv,noheader"])
    if listed.returncode:
        reason = f"nvidia-smi failed (exit status {listed.returncode}): " \
                 f"{_last_line(listed.stdout + listed.stderr)}"
        return [Result(AREA, "nvidia-smi", FAIL, reason),
                Result(AREA, "cuda", SKIP, "nvidia-smi does not answer")]
    names = parse.gpu_names(listed.stdout)
    first = Result(AREA, "nvidia-smi", PASS if names else FAIL,
                   f"{len(names)} GPU(s): {'; '.join(names)}" if names else
                   "nvidia-smi answers but lists no GPU")
    header = run_command(ctx, [smi])
    version = parse.cuda_version(header.stdout)
    cuda = Result(AREA, "cuda", PASS, f"CUDA {version} (driver "
                  f"{parse.driver_version(header.stdout) or '?'})") if version else \
        Result(AREA, "cuda", FAIL, "no CUDA version in nvidia-smi's header "
               f"(exit status {header.returncode})")
    return [first, cuda]


def compute(ctx):
    if tools.which(ctx, "nvidia-smi") is None:
        return Result(AREA, "compute", SKIP, NO_DRIVER)
    docker = tools.which(ctx, "docker")
    if docker is None:
        return Result(AREA, "compute", SKIP, "docker is not installed: no image to run the "
                      "compute test in")
    image = ctx.config["workspaces"]["image"]
    present = run_command(ctx, [docker, "image", "inspect", "--format", "{{.Id}}", image])
    if present.returncode:
        return Result(AREA, "compute", SKIP, f"the workspace image {image} is not built "
                      f"(ts-docker build): no image to run the compute test in")
    completed = run_command(ctx, [docker, "run", "--rm", "--gpus", "all", "--network", "none",
                                  "--entrypoint", "python3", image, "-c", COMPUTE])
    if completed.returncode == NO_TORCH:
        return Result(AREA, "compute", SKIP, f"no torch in {image} (the image ships none)")
    if completed.returncode == 0:
        return Result(AREA, "compute", PASS, _last_line(completed.stdout))
    return Result(AREA, "compute", FAIL, f"exit status {completed.returncode}: "
                  f"{_last_line(completed.stdout + completed.stderr)}")


def probes(config):
    image = config["workspaces"]["image"]
    return [
        Probe(AREA, "nvidia-smi", driver, "nvidia-smi"),
        Probe(AREA, "compute", compute,
              f"docker run --rm --gpus all --entrypoint python3 {image} -c 'import torch; "
              f"print(torch.cuda.is_available())'"),
    ]
