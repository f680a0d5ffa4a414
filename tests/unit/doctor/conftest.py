import time

import pytest

from trainserver.doctor import runner


@pytest.fixture
def make_ctx(tmp_path):
    """make_ctx(toml text, timeout=5, **context fields) -> a probe Context on a real config."""
    from trainserver.core import config as config_module

    def make(text="", timeout=5.0, **fields):
        path = tmp_path / "trainserver.toml"
        state = tmp_path / "state"
        path.write_text(f'[paths]\nstorage = "{tmp_path}/storage"\nstate_dir = "{state}"\n'
                        f'lock_dir = "{state}"\nmetrics_dir = "{state}/metrics"\n' + text)
        config = config_module.load(str(path))
        return runner.Context(config=config, config_path=str(path),
                              deadline=time.monotonic() + timeout, timeout=timeout, **fields)

    return make
