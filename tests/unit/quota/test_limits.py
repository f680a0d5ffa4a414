"""Hard limits: who gets one, and what changes in the kernel (pure planning)."""

from trainserver.quota import limits
from trainserver.quota.limits import Kernel, PersonFacts, Subvolume

MB = 10**6
ENABLED = 100  # the generation simple quotas were switched on in


def alice(**changes):
    facts = dict(name="alice", uid=1000, limit=10 * MB,
                 subvolumes=(Subvolume("homes/alice", 256, 120),
                             Subvolume("workspaces/alice", 257, 120),
                             Subvolume("homes/alice/nested", 258, 130)))
    facts.update(changes)
    return PersonFacts(**facts)


def bob(**changes):
    facts = dict(name="bob", uid=1001, limit=50 * MB,
                 subvolumes=(Subvolume("homes/bob", 300, 150),),
                 missing=("workspaces/bob",))
    facts.update(changes)
    return PersonFacts(**facts)


def group(limit=None, referenced=0, exclusive_limit=None):
    flags = (limits.MAX_RFER if limit is not None else 0) | \
        (limits.MAX_EXCL if exclusive_limit is not None else 0)
    return {"referenced": referenced, "exclusive": referenced, "limit_flags": flags,
            "max_referenced": limit or 0, "max_exclusive": exclusive_limit or 0}


def actions(plan):
    return [(s.action, s.qgroup, s.member or s.value) for s in plan.steps]


def test_everyone_with_new_subvolumes_gets_a_group_of_home_workspace_and_nested():
    wanted, refusals, notes = limits.wants([alice(), bob()], ENABLED)
    assert refusals == []
    assert [(w.name, w.qgroup, w.limit) for w in wanted] == [("alice", "1/1000", 10 * MB),
                                                            ("bob", "1/1001", 50 * MB)]
    assert wanted[0].members == (("0/256", "homes/alice"), ("0/257", "workspaces/alice"),
                                 ("0/258", "homes/alice/nested"))
    assert notes == [("bob", "workspaces/bob does not exist yet: run ts-quota limits again "
                             "once it does")]
    plan = limits.plan(wanted, Kernel({"0/256": group(), "0/257": group(), "0/258": group(),
                                       "0/300": group()}), {})
    assert actions(plan) == [
        ("create", "1/1000", None), ("assign", "1/1000", "0/256"),
        ("assign", "1/1000", "0/257"), ("assign", "1/1000", "0/258"),
        ("limit", "1/1000", 10 * MB),
        ("create", "1/1001", None), ("assign", "1/1001", "0/300"),
        ("limit", "1/1001", 50 * MB)]
    assert plan.wanted == {"1/1000": "alice", "1/1001": "bob"}


def test_old_data_or_a_plain_directory_refuses_that_person_only():
    old_nested = alice(subvolumes=(Subvolume("homes/alice", 256, 120),
                                   Subvolume("homes/alice/old", 258, 40)))
    plain = bob(subvolumes=(), plain=("homes/bob",))
    wanted, refusals, _ = limits.wants([old_nested, plain, bob(name="carol", uid=1002)],
                                       ENABLED)
    assert [w.name for w in wanted] == ["carol"]
    assert refusals[0][0] == "alice" and "homes/alice/old held data before simple quotas" \
        in refusals[0][1]
    assert refusals[1] == ("bob", "homes/bob is a plain directory, not a BTRFS subvolume: it "
                                  "has no quota")
    # empty when simple quotas were switched on (ts-quota enable recorded it): counted in full
    wanted, refusals, _ = limits.wants([old_nested], ENABLED, trusted={258})
    assert refusals == [] and [w.name for w in wanted] == ["alice"]


def test_nobody_without_a_home_or_workspace_is_limited():
    wanted, refusals, notes = limits.wants([bob(subvolumes=(), missing=("homes/bob",
                                                                        "workspaces/bob"))],
                                           ENABLED)
    assert (wanted, refusals) == ([], [])
    assert notes == [("bob", "no home or workspace yet: nothing to limit")]


def kernel_as_set():
    return Kernel({"0/256": group(referenced=4 * MB), "0/257": group(), "0/258": group(),
                   "1/1000": group(limit=10 * MB, referenced=4 * MB)},
                  (("0/256", "1/1000"), ("0/257", "1/1000"), ("0/258", "1/1000")))


def test_a_second_run_has_nothing_to_change():
    wanted, _, _ = limits.wants([alice()], ENABLED)
    plan = limits.plan(wanted, kernel_as_set(), {"1/1000": "alice"})
    assert plan.steps == [] and plan.warnings == []


def test_only_what_differs_changes():
    wanted, _, _ = limits.wants([alice(limit=20 * MB,
                                       subvolumes=alice().subvolumes[:2]
                                       + (Subvolume("homes/alice/moved-in", 259, 150),))],
                                ENABLED)
    plan = limits.plan(wanted, kernel_as_set(), {"1/1000": "alice"})
    assert actions(plan) == [("assign", "1/1000", "0/259"), ("unassign", "1/1000", "0/258"),
                             ("limit", "1/1000", 20 * MB)]
    # an exclusive limit set by someone else is not what ts-quota sets: the limit is re-set
    kernel = kernel_as_set()
    kernel.qgroups["1/1000"] = group(limit=10 * MB, exclusive_limit=5 * MB)
    wanted, _, _ = limits.wants([alice()], ENABLED)
    assert actions(limits.plan(wanted, kernel, {"1/1000": "alice"})) == [
        ("limit", "1/1000", 10 * MB)]


def test_hard_limit_off_or_a_person_gone_removes_what_ts_quota_made_only():
    kernel = kernel_as_set()
    kernel.qgroups["1/2000"] = group(limit=MB)  # the admin's own: never touched
    plan = limits.plan([], kernel, {"1/1000": "alice", "1/1005": "gone-from-kernel"})
    assert actions(plan) == [("unassign", "1/1000", "0/256"), ("unassign", "1/1000", "0/257"),
                             ("unassign", "1/1000", "0/258"), ("destroy", "1/1000", None)]
    assert {s.subject for s in plan.steps} == {"alice"}
    assert plan.wanted == {}


def test_a_uid_given_to_someone_else_takes_the_group_over_with_their_members_only():
    wanted, _, _ = limits.wants([bob(uid=1000)], ENABLED)
    plan = limits.plan(wanted, kernel_as_set(), {"1/1000": "alice"})
    assert actions(plan) == [("assign", "1/1000", "0/300"), ("unassign", "1/1000", "0/256"),
                             ("unassign", "1/1000", "0/257"), ("unassign", "1/1000", "0/258"),
                             ("limit", "1/1000", 50 * MB)]
    assert plan.wanted == {"1/1000": "bob"}


def test_a_group_made_by_someone_else_is_taken_over_when_wanted():
    wanted, _, _ = limits.wants([alice()], ENABLED)
    plan = limits.plan(wanted, kernel_as_set(), {})
    assert plan.steps == [] and plan.wanted == {"1/1000": "alice"}


def test_someone_already_over_the_limit_is_warned():
    kernel = Kernel({"0/256": group(referenced=12 * MB), "0/257": group(referenced=MB),
                     "0/258": group()})
    wanted, _, _ = limits.wants([alice()], ENABLED)
    plan = limits.plan(wanted, kernel, {}, size_text=lambda n: f"{n // MB} MB")
    assert plan.warnings == [("alice", "alice already uses 13 MB, more than the hard limit of "
                                       "10 MB: writes to home and workspace fail (Disk quota "
                                       "exceeded) until space is freed")]


def test_kernel_limit_reads_the_referenced_limit_only():
    kernel = Kernel({"1/1": group(limit=5), "1/2": group(), "1/3": group(limit=5,
                                                                          exclusive_limit=5)})
    assert [kernel.limit(q) for q in ("1/1", "1/2", "1/3", "1/4")] == [5, None, None, None]
