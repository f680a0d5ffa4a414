"""Reading `docker inspect` output (the engine itself is driven in tests/integration)."""

from trainserver.oom import docker_names

ID = "661bab0e70b394cc20a23527ba2cde38ba212a1c8899f07bffc63a87b53a0fe2"


def test_names_lose_their_slash():
    text = '[{"Id": "%s", "Name": "/oomprobe", "State": {"OOMKilled": true}}]\n' % ID
    assert docker_names.parse_inspect(text) == {ID: "oomprobe"}


def test_nothing_known():
    assert docker_names.parse_inspect("[]\n") == {}
    assert docker_names.parse_inspect("") == {}
    assert docker_names.parse_inspect("Error: No such container") == {}
