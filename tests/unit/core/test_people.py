from trainserver.core import people, schema


def users_table(*entries, **keys):
    table = dict(schema.defaults()["users"], **keys)
    table["people"] = list(entries)
    return table


def test_a_person_takes_the_tables_defaults_unless_naming_their_own():
    found = people.from_table(users_table(
        {"name": "alice", "uid": 1000, "sudo": True, "quota_limit": "2TB"},
        {"name": "bob", "uid": 1001, "shell": "/bin/zsh", "groups": ["video"]},
        groups=["docker", "render"]))
    alice, bob = found
    assert (alice.shell, alice.groups, alice.quota_limit) == ("/bin/bash", ("docker", "render"),
                                                              2 * 10**12)
    assert (bob.shell, bob.groups, bob.quota_limit, bob.sudo) == ("/bin/zsh", ("video",), None,
                                                                  False)
    assert found.names() == ["alice", "bob"] and found.get("bob") is bob
    assert found.get("carol") is None


def test_groups_start_with_the_shared_one_then_sudo_without_repeats():
    person = people.Person("alice", 1000, sudo=True, groups=("docker", "mlusers", "sudo"))
    assert person.all_groups("mlusers") == ("mlusers", "sudo", "docker")
    assert people.Person("bob", 1001, groups=("docker",)).all_groups("mlusers") == \
        ("mlusers", "docker")


def test_storage_and_users_agree_on_a_persons_subvolumes():
    from trainserver.storage import layout

    made = [path for path, kind in layout.tree(["alice"]) if kind == "subvolume"]
    assert set(people.subvolumes("alice")) <= set(made)
    assert people.subvolumes("alice") == ["homes/alice", "workspaces/alice",
                                          "tensorboard/alice", "docker-volumes/alice-state"]
    assert layout.owner_of("docker-volumes/alice-state", ["bob", "alice"]) == "alice"
    assert layout.owner_of("docker-volumes", ["alice"]) is None
