#!/bin/bash
# Docker-in-Docker for the full flavour, only in a privileged container: without
# CAP_SYS_ADMIN and a writable cgroup dockerd cannot run, and retrying would only fill the log.
set -euo pipefail
capeff="$(awk '/^CapEff:/ {print $2}' /proc/self/status)"
if (( (16#$capeff >> 21 & 1) == 0 )) || ! mkdir /sys/fs/cgroup/.workspace-dind-probe 2>/dev/null; then
    echo "workspace-dind: not a privileged container, Docker-in-Docker stays off"
    exit 0
fi
rmdir /sys/fs/cgroup/.workspace-dind-probe
exec /usr/sbin/dockerd --host unix:///var/run/docker.sock
