"""The plans of ts-users apply and remove, from made-up facts."""

import dataclasses

from tests.unit.users.test_users_keys import ALICE, LAPTOP
from trainserver.core.accounts import Account, Group, Shadow
from trainserver.core.people import People, Person
from trainserver.users import keys, plan as plans
from trainserver.users.plan import Node

STORAGE = "/mnt/storage"
TODAY = 20000
ROOT_ARGS = ("--root", "/img")

ADMIN = Account("admin", 1000, 1000, "/home/admin", "/bin/bash")
BASE_GROUPS = [Group("root", 0, ()), Group("sudo", 27, ("admin",)), Group("docker", 995, ()),
               Group("admin", 1000, ())]


def people(*persons, group="mlusers"):
    return People(people=tuple(persons), group=group, default_groups=("docker",))


def alice(**changes):
    return dataclasses.replace(Person("alice", 1001, ssh_keys=(ALICE,), sudo=True,
                                      groups=("docker",)), **changes)


def layout_nodes():
    return {name: Node("directory", 0, 0, 0o755) for name in plans.LAYOUT}


def fresh(**changes):
    facts = plans.Facts(accounts=[ADMIN], groups=list(BASE_GROUPS),
                        shadow={"admin": Shadow("admin", "$6$x", "")}, today=TODAY,
                        storage=STORAGE, nodes=layout_nodes(), shells={"/bin/bash": True})
    return dataclasses.replace(facts, **changes)


def done(person=None):
    """The facts after a successful apply of alice."""
    person = person or alice()
    groups = [Group("root", 0, ()), Group("sudo", 27, ("admin", "alice")),
              Group("docker", 995, ("alice",)), Group("admin", 1000, ()),
              Group("mlusers", 990, ("alice",)), Group("alice", 1001, ())]
    nodes = layout_nodes()
    for rel in person.subvolumes():
        nodes[rel] = Node("subvolume", 1001, 1001, plans.MODES[rel.split("/")[0]])
    nodes["homes/alice/.ssh"] = Node("directory", 1001, 1001, 0o700)
    nodes["homes/alice/.ssh/authorized_keys"] = Node("file", 1001, 1001, 0o600)
    return fresh(accounts=[ADMIN, Account("alice", 1001, 1001, f"{STORAGE}/homes/alice",
                                          "/bin/bash")],
                 groups=groups, nodes=nodes,
                 shadow={"admin": Shadow("admin", "$6$x", ""), "alice": Shadow("alice", "!", "")},
                 authorized={"alice": keys.merge(None, list(person.ssh_keys))})


def titles(plan):
    return [step.title for step in plan.steps]


def test_a_fresh_system_gets_group_account_subvolumes_and_keys_in_order():
    plan = plans.make(people(alice()), fresh(), ROOT_ARGS)
    assert not plan.refusals and not plan.warnings
    assert [step.key for step in plan.steps] == [
        "group:mlusers", "account:alice", "subvolume:homes/alice", "subvolume:workspaces/alice",
        "subvolume:tensorboard/alice", "subvolume:docker-volumes/alice-state",
        "ssh-dir:alice", "keys:alice"]
    assert plan.steps[0].command == ("groupadd", "--root", "/img", "--system", "mlusers")
    assert plan.steps[1].command == (
        "useradd", "--root", "/img", "--uid", "1001", "--user-group", "--home-dir",
        "/mnt/storage/homes/alice", "--no-create-home", "--shell", "/bin/bash", "--groups",
        "mlusers,sudo,docker", "alice")
    modes = {step.path: step.mode for step in plan.steps if step.action == "subvolume"}
    assert modes == {"homes/alice": 0o700, "workspaces/alice": 0o700,
                     "tensorboard/alice": 0o750, "docker-volumes/alice-state": 0o700}
    # the account's group is not known before useradd made it
    assert all(step.gid is None for step in plan.steps if step.action)
    write = plan.steps[-1]
    assert write.content == f"{keys.BEGIN}\n{ALICE}\n{keys.END}\n" and write.mode == 0o600


def test_after_apply_nothing_is_left_to_do():
    plan = plans.make(people(alice()), done(), ROOT_ARGS)
    assert plan.steps == [] and plan.refusals == [] and plan.warnings == []


def test_uid_of_another_account_is_refused_naming_both():
    plan = plans.make(people(alice(uid=1000)), fresh(), ROOT_ARGS)
    assert plan.refusals == [("alice", "uid 1000 belongs to 'admin' (Ubuntu's installer gives "
                                       "1000 to the first account); pick another uid for alice "
                                       "in [users]")]
    assert plan.of("alice") == []


def test_name_with_another_uid_is_refused():
    plan = plans.make(people(Person("admin", 1003, ssh_keys=(ALICE,))), fresh(), ROOT_ARGS)
    [(subject, message)] = plan.refusals
    assert subject == "admin"
    assert "account 'admin' exists with uid 1000, but [users] gives admin uid 1003" in message


def test_a_missing_extra_group_is_refused_but_the_shared_group_is_made():
    facts = fresh(groups=[g for g in BASE_GROUPS if g.name != "docker"])
    plan = plans.make(people(alice()), facts, ROOT_ARGS)
    assert plan.refusals == [("alice", "group 'docker' does not exist on this system: install "
                                       "docker.io first, or set groups for alice in [users]")]
    assert titles(plan) == ["create the shared group mlusers"]


def test_storage_without_the_layout_is_refused():
    plan = plans.make(people(alice()), fresh(storage_problem="/mnt/storage is not a mounted "
                                                           "BTRFS filesystem"), ROOT_ARGS)
    assert plan.refusals == [("users", "/mnt/storage is not a mounted BTRFS filesystem: run "
                                       "ts-storage apply first")]
    nodes = layout_nodes()
    del nodes["tensorboard"]
    plan = plans.make(people(alice()), fresh(nodes=nodes), ROOT_ARGS)
    assert "/mnt/storage/tensorboard is missing" in plan.refusals[0][1]


def test_a_plain_directory_where_a_subvolume_belongs_is_refused():
    nodes = layout_nodes()
    nodes["workspaces/alice"] = Node("directory", 1001, 1001, 0o700)
    plan = plans.make(people(alice()), fresh(nodes=nodes), ROOT_ARGS)
    [(subject, message)] = plan.refusals
    assert "workspaces/alice is a plain directory, not a subvolume" in message


def test_a_symlinked_ssh_dir_is_refused():
    facts = done()
    facts.nodes["homes/alice/.ssh"] = Node("symlink", 1001, 1001, 0o777)
    plan = plans.make(people(alice()), facts, ROOT_ARGS)
    assert "homes/alice/.ssh is a symlink" in plan.refusals[0][1]


def test_a_subvolume_of_another_account_is_refused():
    facts = done()
    facts.nodes["tensorboard/alice"] = Node("subvolume", 1000, 1000, 0o750)
    plan = plans.make(people(alice()), facts, ROOT_ARGS)
    assert "belongs to 'admin' (uid 1000), not alice" in plan.refusals[0][1]


def test_an_adopted_account_is_brought_in_line():
    facts = done()
    facts.accounts[1] = Account("alice", 1001, 1001, "/home/alice", "/bin/sh")
    facts.groups = [Group(g.name, g.gid, tuple(m for m in g.members if m != "alice"))
                    for g in facts.groups] + [Group("video", 44, ("alice",))]
    facts.shadow["alice"] = Shadow("alice", "$6$hash", "1")
    plan = plans.make(people(alice()), facts, ROOT_ARGS)
    assert [step.command for step in plan.steps] == [
        ("usermod", "--root", "/img", "--home", "/mnt/storage/homes/alice", "alice"),
        ("usermod", "--root", "/img", "--shell", "/bin/bash", "alice"),
        ("usermod", "--root", "/img", "--append", "--groups", "mlusers,sudo,docker", "alice"),
        ("usermod", "--root", "/img", "--lock", "alice"),
        ("usermod", "--root", "/img", "--expiredate", "", "alice"),
    ]  # video is not a group ts-users manages: left alone


def test_sudo_false_takes_the_person_out_of_sudo():
    plan = plans.make(people(alice(sudo=False)), done(), ROOT_ARGS)
    [step] = plan.steps
    assert step.command == ("gpasswd", "--root", "/img", "--delete", "alice", "sudo")
    assert step.title == "remove alice from sudo (sudo = false in [users])"


def test_subvolumes_left_to_root_are_taken_over_and_own_modes_stay():
    facts = done()
    facts.nodes["workspaces/alice"] = Node("subvolume", 0, 0, 0o755)  # made by ts-storage
    facts.nodes["tensorboard/alice"] = Node("subvolume", 1001, 1001, 0o755)  # alice's chmod
    plan = plans.make(people(alice()), facts, ROOT_ARGS)
    [step] = plan.steps
    assert (step.action, step.path, step.uid, step.gid, step.mode) == (
        "owner", "workspaces/alice", 1001, 1001, 0o700)


def test_a_home_others_can_write_is_closed():
    facts = done()
    facts.nodes["homes/alice"] = Node("subvolume", 1001, 1001, 0o777)
    [step] = plans.make(people(alice()), facts, ROOT_ARGS).steps
    assert (step.action, step.mode) == ("mode", 0o755)


def test_key_file_modes_and_content_are_restored():
    facts = done()
    facts.nodes["homes/alice/.ssh"] = Node("directory", 1001, 1001, 0o755)
    facts.nodes["homes/alice/.ssh/authorized_keys"] = Node("file", 0, 0, 0o644)
    plan = plans.make(people(alice()), facts, ROOT_ARGS)
    assert [(s.action, s.mode, s.uid) for s in plan.steps] == [
        ("ssh-dir", 0o700, 1001), ("keys-owner", 0o600, 1001)]
    plan = plans.make(people(alice(ssh_keys=(ALICE, LAPTOP))), done(), ROOT_ARGS)
    [step] = plan.steps
    assert step.action == "keys-write" and LAPTOP in step.content


def test_keys_file_problems_and_bad_keys_are_refused():
    person = alice(ssh_keys_file="/etc/trainserver/keys/alice")
    facts = fresh(key_files={"/etc/trainserver/keys/alice": (
        [], "/etc/trainserver/keys/alice can be written by others (mode 0666)")})
    plan = plans.make(people(person), facts, ROOT_ARGS)
    assert plan.refusals == [("alice", "ssh_keys_file: /etc/trainserver/keys/alice can be "
                                       "written by others (mode 0666)")]
    facts = fresh(key_files={"/etc/trainserver/keys/alice": ([LAPTOP, "nonsense"], None)})
    plan = plans.make(people(person), facts, ROOT_ARGS)
    assert plan.refusals[0][1].startswith("/etc/trainserver/keys/alice line 2 is not an SSH "
                                          "public key")
    plan = plans.make(people(person), fresh(key_files={"/etc/trainserver/keys/alice":
                                                       ([LAPTOP], None)}), ROOT_ARGS)
    assert plan.keys["alice"] == [ALICE, LAPTOP]


def test_a_person_without_keys_is_a_warning():
    plan = plans.make(people(alice(ssh_keys=())), fresh(), ROOT_ARGS)
    assert plan.warnings == [("alice", "alice has no SSH key in [users]: no login is possible "
                                       "(keys only)")]


def test_an_existing_group_of_the_persons_name_is_adopted_unless_shared():
    facts = fresh(groups=BASE_GROUPS + [Group("alice", 1500, ())])
    plan = plans.make(people(alice()), facts, ROOT_ARGS)
    assert "--gid" in plan.steps[1].command and "--user-group" not in plan.steps[1].command
    assert all(step.gid == 1500 for step in plan.steps if step.action)
    facts = fresh(groups=BASE_GROUPS + [Group("alice", 1500, ("admin",))])
    assert "cannot become alice's own group" in plans.make(people(alice()), facts,
                                                           ROOT_ARGS).refusals[0][1]


# remove

UUID, OTHER = b"u" * 16, b"o" * 16


def removal_facts(**changes):
    facts = done()
    facts.sources = {
        "homes/alice": plans.Source("homes/alice", UUID, 50),
        "homes/alice/models": plans.Source("homes/alice/models", b"m" * 16, 40, nested=True),
        "workspaces/alice": plans.Source("workspaces/alice", b"w" * 16, 30),
    }
    del facts.nodes["tensorboard/alice"], facts.nodes["docker-volumes/alice-state"]
    return dataclasses.replace(facts, **changes)


def removal(facts, delete_data=False, configured=()):
    return plans.removal("alice", people(*configured), facts, "snapshots", "20260102T030405Z",
                         delete_data, ROOT_ARGS)


def test_remove_locks_and_snapshots_every_subvolume_nested_ones_too():
    plan = removal(removal_facts())
    assert not plan.refusals
    assert plan.steps[0].command == ("usermod", "--root", "/img", "--lock", "--expiredate", "1",
                                     "alice")
    assert [(s.path, s.target) for s in plan.steps[1:]] == [
        ("homes/alice", "snapshots/homes/alice/20260102T030405Z"),
        ("homes/alice/models", "snapshots/homes/alice/models/20260102T030405Z"),
        ("workspaces/alice", "snapshots/workspaces/alice/20260102T030405Z")]


def test_remove_of_a_person_still_configured_or_not_ours_is_refused():
    plan = removal(removal_facts(), configured=(alice(),))
    assert "alice is still in [users]" in plan.refusals[0][1] and not plan.steps
    facts = removal_facts(nodes=layout_nodes(), sources={})
    facts.groups = [g for g in facts.groups if g.name != "mlusers"]
    plan = removal(facts)
    assert "not one of ts-users's people" in plan.refusals[0][1]


def test_remove_with_current_snapshots_only_deletes_when_asked():
    current = {rel: dataclasses.replace(src, newest=plans.Snapshot("20260101T000000Z", True,
                                                                   src.uuid, src.ctransid))
               for rel, src in removal_facts().sources.items()}
    facts = removal_facts(sources=current)
    facts.shadow["alice"] = Shadow("alice", "!", "1")
    assert removal(facts).steps == []
    plan = removal(facts, delete_data=True)
    assert [(s.action, s.path, s.ready) for s in plan.steps] == [
        ("delete", "homes/alice", True), ("delete", "workspaces/alice", True)]


def test_a_stale_writable_or_foreign_snapshot_does_not_count():
    base = removal_facts().sources["workspaces/alice"]
    for newest in (plans.Snapshot("x", True, base.uuid, base.ctransid - 1),  # data changed
                   plans.Snapshot("x", False, base.uuid, base.ctransid),  # writable
                   plans.Snapshot("x", True, OTHER, base.ctransid)):  # of another subvolume
        assert not plans.snapshot_current(dataclasses.replace(base, newest=newest))
    facts = removal_facts()
    plan = removal(facts, delete_data=True)
    deletes = [s for s in plan.steps if s.action == "delete"]
    assert deletes and not any(s.ready for s in deletes)
    assert plan.steps.index(deletes[0]) > max(
        i for i, s in enumerate(plan.steps) if s.action == "snapshot")
