"""What apply changes: only what differs, and nothing on a second run."""

from trainserver.caches import acl, plan, spec
from trainserver.caches.plan import DirFacts, FileFacts

GID = 994
APT = 42


def as_applied(want):
    return DirFacts(want.relative, True, True, want.uid, want.gid, want.mode,
                    acl.wanted(want.gid) if want.with_acl else None)


def wants(enabled=("pip", "go", "apt")):
    return plan.wants(enabled, GID, APT)


def test_wants_cover_the_subdirectories_and_apts_owners():
    found = {w.relative: w for w in wants()}
    assert list(found) == ["cache/pip", "cache/go", "cache/go/mod", "cache/go/build",
                           "cache/apt", "cache/apt/archives", "cache/apt/archives/partial"]
    assert (found["cache/pip"].gid, found["cache/pip"].mode) == (GID, 0o2775)
    assert found["cache/go/mod"].with_acl and found["cache/go/mod"].create == "directory"
    assert (found["cache/apt"].gid, found["cache/apt"].mode) == (0, 0o755)
    assert not found["cache/apt"].with_acl
    partial = found["cache/apt/archives/partial"]
    assert (partial.uid, partial.mode, partial.check_owner) == (APT, 0o700, False)


def test_as_applied_there_is_nothing_to_change():
    want_list = wants()
    result = plan.plan_dirs(want_list, {w.relative: as_applied(w) for w in want_list}, "mlusers")
    assert result.steps == [] and result.problems == []


def test_a_fresh_subvolume_from_ts_storage_gets_group_mode_and_acl():
    want_list = wants(("pip",))
    fresh = {"cache/pip": DirFacts("cache/pip", True, True, 0, 0, 0o755,
                                   acl.parse("user::rwx\ngroup::r-x\nother::r-x\n"))}
    steps = plan.plan_dirs(want_list, fresh, "mlusers").steps
    assert [(s.kind, s.value) for s in steps] == [("chown", (0, GID)), ("chmod", 0o2775),
                                                  ("setfacl", GID)]
    assert steps[0].why == "owner 0:0, want root:mlusers"
    assert steps[1].why == "mode 0755, want 2775"
    assert "default:group:mlusers:rwx" in steps[2].why


def test_only_a_lost_group_write_is_mended():
    want_list = wants(("pip",))
    facts = {"cache/pip": DirFacts("cache/pip", True, True, 0, GID, 0o2755,
                                   acl.wanted(GID))}
    [step] = plan.plan_dirs(want_list, facts, "mlusers").steps
    assert (step.kind, step.value, step.subject) == ("chmod", 0o2775, "pip")


def test_missing_directories_are_created_with_everything():
    want_list = wants(("go",))
    facts = {w.relative: DirFacts(w.relative, False) for w in want_list}
    facts["cache/go"] = as_applied(want_list[0])
    steps = plan.plan_dirs(want_list, facts, "mlusers").steps
    assert [(s.target, s.kind) for s in steps] == [
        ("cache/go/mod", "create"), ("cache/go/mod", "chown"), ("cache/go/mod", "chmod"),
        ("cache/go/mod", "setfacl"), ("cache/go/build", "create"), ("cache/go/build", "chown"),
        ("cache/go/build", "chmod"), ("cache/go/build", "setfacl")]
    assert steps[0].value == "directory"


def test_a_file_where_a_cache_should_be_is_refused_with_its_subdirectories():
    want_list = wants(("go", "pip"))
    facts = {w.relative: as_applied(w) for w in want_list}
    facts["cache/go"] = DirFacts("cache/go", True, False, 0, 0, 0o644)
    result = plan.plan_dirs(want_list, facts, "mlusers")
    assert result.steps == []
    assert [subject for subject, _ in result.problems] == ["go"]


def test_apts_partial_is_left_to_apt_unless_others_could_write():
    want_list = wants(("apt",))
    facts = {w.relative: as_applied(w) for w in want_list}
    facts["cache/apt/archives/partial"] = DirFacts("cache/apt/archives/partial", True, True,
                                                   0, 0, 0o755)
    assert plan.plan_dirs(want_list, facts, "mlusers").steps == []
    facts["cache/apt/archives/partial"] = DirFacts("cache/apt/archives/partial", True, True,
                                                   APT, 0, 0o777)
    [step] = plan.plan_dirs(want_list, facts, "mlusers").steps
    assert step.kind == "chmod" and step.value == 0o700


def test_a_dry_run_before_the_group_exists_plans_every_change():
    want_list = plan.wants(("pip",), None, APT)
    facts = {"cache/pip": DirFacts("cache/pip", True, True, 0, 0, 0o755, frozenset())}
    kinds = [s.kind for s in plan.plan_dirs(want_list, facts, "mlusers").steps]
    assert kinds == ["chown", "chmod", "setfacl"]


def test_files_ts_caches_owns():
    text = spec.profile_text("/mnt/storage", ["pip"])
    missing = FileFacts(spec.PROFILE, False)
    step, problem = plan.plan_file(missing, text)
    assert (step.kind, step.value, problem) == ("write", text, None)
    assert plan.plan_file(missing, None) == (None, None)
    same = FileFacts(spec.PROFILE, True, text=text)
    assert plan.plan_file(same, text) == (None, None)
    old = FileFacts(spec.PROFILE, True, text=spec.profile_text("/mnt/storage", ["conda"]))
    assert plan.plan_file(old, text)[0].kind == "write"
    assert plan.plan_file(old, None)[0].kind == "remove"


def test_a_file_ts_caches_did_not_write_is_never_touched():
    admin = FileFacts(spec.PROFILE, True, text="export PIP_CACHE_DIR=/elsewhere\n")
    step, problem = plan.plan_file(admin, spec.profile_text("/mnt/storage", ["pip"]))
    assert step is None and "not written by ts-caches" in problem
    assert plan.plan_file(admin, None) == (None, None)
    link = FileFacts(spec.ENVIRONMENT_D, True, is_link=True)
    step, problem = plan.plan_file(link, "x")
    assert step is None and problem


def test_pip_conf_steps():
    cache_dir = "/mnt/storage/cache/pip"
    step, problem, note = plan.plan_pip_conf(FileFacts(spec.PIP_CONF, False), cache_dir)
    assert step.kind == "write" and "cache-dir = " + cache_dir in step.value
    done = FileFacts(spec.PIP_CONF, True, text=step.value)
    assert plan.plan_pip_conf(done, cache_dir) == (None, None, None)
    step, _, _ = plan.plan_pip_conf(done, None)
    assert step.kind == "remove"  # nothing but the block was in it
    assert plan.plan_pip_conf(FileFacts(spec.PIP_CONF, False), None) == (None, None, None)
    admin = FileFacts(spec.PIP_CONF, True, text="[global]\nno-cache-dir = true\n")
    step, problem, note = plan.plan_pip_conf(admin, cache_dir)
    assert step is None and problem is None and "kept" in note
    broken = FileFacts(spec.PIP_CONF, True, text=spec.BLOCK_BEGIN + "\n")
    assert plan.plan_pip_conf(broken, cache_dir)[1]
