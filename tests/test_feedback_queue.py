"""The feedback service's queue: one slot per student and assignment, a
resubmission replacing the waiting one in place, one grading per student at
a time, and the hourly rate limit deferring (never dropping) a submission."""

import pytest

from course.feedback_queue import WINDOW_S, FairQueue, Job


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_resubmission_replaces_the_waiting_one_in_its_place():
    q = FairQueue(per_hour=0)
    q.offer(Job("ada", "single_channel", 1))
    q.offer(Job("bob", "single_channel", 2))
    replaced = q.offer(Job("ada", "single_channel", 3))
    assert replaced.submission_id == 1
    assert len(q) == 2
    first = q.take()
    assert (first.student, first.submission_id) == ("ada", 3)  # ada's slot came first
    assert q.take().student == "bob"
    assert q.take() is None


def test_one_student_is_graded_by_one_worker_at_a_time():
    q = FairQueue(per_hour=0)
    q.offer(Job("ada", "single_channel", 1))
    q.offer(Job("ada", "output_size", 2))
    q.offer(Job("bob", "single_channel", 3))
    a = q.take()
    assert a.student == "ada"
    assert q.take().student == "bob"      # ada's second slot waits while she is graded
    assert q.take() is None
    q.done(a)
    assert q.take().submission_id == 2


def test_the_rate_limit_defers_and_then_lets_the_newest_through():
    clock = Clock()
    q = FairQueue(per_hour=2, clock=clock)
    for sid in (1, 2):
        q.offer(Job("ada", "single_channel", sid))
        job = q.take()
        assert job.submission_id == sid
        q.done(job)
        clock.now += 60
    q.offer(Job("ada", "single_channel", 3))
    q.offer(Job("bob", "single_channel", 4))
    assert q.take().student == "bob"      # ada is over her limit, bob is not held up
    assert q.take() is None
    allowed = q.deferred()[("ada", "single_channel")]
    assert allowed == pytest.approx(1000.0 + WINDOW_S)  # when her first grading leaves the hour
    q.offer(Job("ada", "single_channel", 5))             # replaces 3 while it waits
    clock.now = allowed
    job = q.take()
    assert job.submission_id == 5
    assert not q.deferred()


def test_no_limit_and_bad_limits():
    q = FairQueue(per_hour=0)
    for sid in range(50):
        q.offer(Job("ada", "single_channel", sid))
        q.done(q.take())
    with pytest.raises(ValueError, match="per_hour"):
        FairQueue(per_hour=-1)
