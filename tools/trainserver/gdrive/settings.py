"""The [gdrive] settings and the few other tables they depend on, read once from the config."""

import os
from dataclasses import dataclass

from trainserver.gdrive.cachesize import Rule

UNIT = "ts-gdrive-mount.service"
MOUNT_STATE = "gdrive-mount"  # written by `serve`: what the running mount was given
CHECK_STATE = "gdrive-check"  # the check's restarts
SERVICE_ACCOUNT_FILE = "gdrive-service-account.json"


@dataclass(frozen=True)
class Settings:
    remote: str
    rclone_config: str
    storage: str
    mount_point: str
    cache_dir: str
    cache_max_age: int  # seconds
    go_memory_limit: int  # bytes; 0: Go's defaults
    check_timeout: float
    restart_window: float
    restarts_critical: int
    rule: Rule
    group: str
    secrets_dir: str
    state_dir: str

    @classmethod
    def from_config(cls, config):
        gdrive = config["gdrive"]
        paths = config["paths"]
        storage = paths["storage"]
        return cls(
            remote=gdrive["remote"],
            rclone_config=gdrive["rclone_config"],
            storage=storage,
            mount_point=os.path.join(storage, gdrive["mount_dir"]),
            cache_dir=os.path.join(storage, gdrive["cache_dir"]),
            cache_max_age=int(gdrive["cache_max_age"]),
            go_memory_limit=int(gdrive["go_memory_limit"]),
            check_timeout=float(gdrive["check_timeout"]),
            restart_window=float(gdrive["restart_window"]),
            restarts_critical=int(gdrive["restarts_critical"]),
            rule=Rule(share_percent=gdrive["cache_share_percent"],
                      full_warning_percent=config["storage"]["full_warning_percent"],
                      margin_percent=gdrive["cache_margin_percent"],
                      min_free=int(config["snapshot"]["min_free"])),
            group=config["users"]["group"],
            secrets_dir=paths["secrets_dir"],
            state_dir=paths["state_dir"],
        )
