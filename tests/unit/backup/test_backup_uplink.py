"""ts-backup's share of the uplink: restic's rate is fixed for its run, so it takes an equal
share when ts-sync uploads, and claims it so that ts-sync makes room."""

import os

from trainserver.backup import job
from trainserver.core import config as config_module
from trainserver.core import uplink

MBIT = 125_000


def _settings(tmp_path, limit="100Mbit/s", bandwidth="100Mbit/s"):
    path = tmp_path / "trainserver.toml"
    path.write_text(f'[paths]\nlock_dir = "{tmp_path}/lock"\n[network]\nupload_limit = "{limit}"\n'
                    f'[backup]\nbandwidth = "{bandwidth}"\n')
    return job.Settings.from_config(config_module.load(str(path)))


def test_alone_the_backup_uses_its_bandwidth_and_claims_it(tmp_path):
    settings = _settings(tmp_path, bandwidth="40Mbit/s")
    claim = job._uplink(settings)
    try:
        assert job._claim_share(claim, settings) == 40 * MBIT
        assert uplink.live_claims(str(tmp_path / "lock")) == [
            uplink.Claim("backup", 40 * MBIT, False, os.getpid())]
    finally:
        claim.release()
    assert uplink.live_claims(str(tmp_path / "lock")) == []


def test_while_a_sync_uploads_the_backup_takes_half_and_the_sync_sees_it(tmp_path):
    settings = _settings(tmp_path)
    sync = uplink.Uplink(str(tmp_path / "lock"), "sync", 100 * MBIT, 100 * MBIT, adjustable=True)
    sync.claim()
    claim = job._uplink(settings)
    try:
        assert job._claim_share(claim, settings) == 50 * MBIT
        assert sync.current_share()[0] == 50 * MBIT
    finally:
        claim.release()
        sync.release()

