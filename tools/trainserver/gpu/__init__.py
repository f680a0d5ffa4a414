"""GPU temperature checks (ts-gpu-temp): NVML through pynvml, or nvidia-smi when that is missing."""

# ts-gpu-temp's short name, the one name of this tool: its command group (core.cli.tool_group),
# the "tool" of its findings, and what `ts-alert pipe` makes of /usr/bin/ts-gpu-temp.
TOOL = "gpu-temp"
