"""Attribution of kills to containers through the cgroup paths the kernel printed."""

from trainserver.oom import attribution, kernel_log

ID = "661bab0e70b394cc20a23527ba2cde38ba212a1c8899f07bffc63a87b53a0fe2"


def test_paths_of_captured_kills(records):
    expected = {
        "kmsg-docker-container.txt": ID,
        "kmsg-cgroupfs-path.txt": "2829a98b81e419b5acd7c3a8e7c1b5ca6068be66569566db620978ea3cd45c91",
        "kmsg-systemd-scope-path.txt": "8531d18a714b03912307bcffcafd5b62a44c19fa3b62fd1da779f7b0c04e141d",
        "kmsg-parent-limit-odd-name.txt": None,
    }
    for name, full_id in expected.items():
        (kill,) = kernel_log.find_kills(records(name))
        assert attribution.container_id(kill.memcg) == full_id, name


def test_other_docker_layouts():
    assert attribution.container_id(f"/system.slice/docker-{ID}.scope/inner") == ID
    assert attribution.container_id(f"/trainers/{ID}") == ID  # --cgroup-parent=/trainers
    assert attribution.container_id(f"/user.slice/user-1000.slice/user@1000.service/docker-{ID}.scope") == ID


def test_not_containers():
    for path in (None, "", "/", "/system.slice/docker.service", f"/docker/{ID[:12]}",
                 f"/system.slice/docker-{ID}.mount", f"/docker/{ID}0", f"/docker/{ID.upper()}"):
        assert attribution.container_id(path) is None, path


def test_subjects(records):
    (kill,) = kernel_log.find_kills(records("kmsg-docker-container.txt"))
    assert attribution.subject(kill, {ID: "oomprobe"}) == ("oomprobe", True)
    assert attribution.subject(kill, {}) == ("661bab0e70b3", True)
    (host,) = kernel_log.find_kills(records("kmsg-parent-limit-odd-name.txt"))
    assert attribution.subject(host, {ID: "oomprobe"}) == ("/ts-fixture-parent/child", False)
    host.task_memcg = host.oom_memcg = None
    assert attribution.subject(host, {}) == ("process my job, (x)", False)
