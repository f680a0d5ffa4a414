"""ts-storage apply counts its steps as ts-storage plan counts them: a step that an earlier one
completed (udev registers a new bcache device) is done, though apply never ran it."""

from trainserver.storage import apply as applying, cli, plan as plans


def step(key, done=False, skipped=None):
    return plans.Step(key, f"the step {key}", done, action="in-process", skipped=skipped)


def rounds(monkeypatch, todo_after_each_round):
    """apply.run over plans whose steps still to do are, round by round, the lists given."""
    every = ["a", "b", "c", "d"]
    made = iter(todo_after_each_round)

    def make(settings, facts, wipe=False, confirmed=()):
        todo = next(made)
        return plans.Plan([step(key, done=key not in todo) for key in every]
                          + [step("timer", skipped="systemd is not running here")], [], [])

    executed = []
    monkeypatch.setattr(applying.survey, "gather", lambda settings: None)
    monkeypatch.setattr(applying.plans, "make", make)
    monkeypatch.setattr(applying, "_execute", lambda s, settings, facts: executed.append(s.key))
    return executed


def test_steps_that_followed_from_others_are_counted_done_and_not_run(monkeypatch):
    # "b" is done once "a" ran, "d" once "c" ran: the plan showed 4 of 5 steps to do.
    executed = rounds(monkeypatch, [["a", "b", "c", "d"], ["c", "d"], []])
    ran, final, planned = applying.run(settings=None)
    assert executed == [s.key for s in ran] == ["a", "c"]
    assert [s.key for s in planned] == ["a", "b", "c", "d"] and not final.todo
    assert cli._done_count(planned, ran) == "4 steps (2 run; the other 2 followed from them)"


def test_when_every_step_ran_the_count_is_just_the_steps(monkeypatch):
    rounds(monkeypatch, [["a", "b", "c", "d"], ["b", "c", "d"], ["c", "d"], ["d"], []])
    ran, _, planned = applying.run(settings=None)
    assert cli._done_count(planned, ran) == "4 steps"
    assert cli._done_count(planned[:1], ran[:1]) == "1 step"
