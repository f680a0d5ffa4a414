"""What the demo must show, checked wherever it runs: in `make vm-test`
(test_the_demo_runs_to_its_end) and on a fresh machine (tests/build/fresh-machine)."""

EXPECTED = (
    "disks: 4 hard disks, 1 NVMe", "ts-smart check: exit 0 (ok)",
    "OOM kill: found by ts-oom.service, open in ts-alert: yes",
    "ts-storage check: exit 0 (ok)",
    # homes, tensorboard and container state of alice and bob, docker-volumes
    "snapshots: 7 subvolumes snapshotted by ts-snapshot.service",
    "ts-storage apply: exit 0 (layout built)",
    "ts-users apply: exit 0; alice and bob have accounts",
    "caches: a file bob made in the Hugging Face cache, alice wrote to",
    "ts-quota report: exit 0",
    "restore: homes/alice/train.py back from its snapshot",
    "backup: ts-backup.service succeeded",
    "backup restore: homes/alice/train.py back beside the live file",
    "ts-firewall apply: exit 0; ts-firewall check: exit 0 (ok)",
    "ts-doctor: exit 0, ",
)
MIN_DOCTOR_PASSES = 20


def problems(lines):
    """What the demo's output `lines` lacks; [] when it showed everything."""
    found = [f"the demo did not show: {expected}" for expected in EXPECTED
             if not any(expected in line for line in lines)]
    # The system test: real PASS for what the guest has (storage, bcache, backups, firewall,
    # timers), SKIP with a reason for what it cannot have (GPU, Docker, tunnel), no FAIL.
    doctor = next((line for line in lines if "ts-doctor: exit" in line), None)
    if doctor is not None:
        try:
            passes = int(doctor.split(" PASS")[0].rsplit(" ", 1)[-1])
        except ValueError:
            passes = -1
        if " 0 FAIL" not in doctor or passes < MIN_DOCTOR_PASSES:
            found.append(f"ts-doctor's summary is not {MIN_DOCTOR_PASSES}+ PASS and 0 FAIL: "
                         f"{doctor}")
    return found
