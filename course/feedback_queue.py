"""The feedback service's queue: one slot per student and assignment, a
resubmission that replaces the waiting one, and a per-student rate limit.

Fairness under a burst (the last hour before a deadline) comes from the
slots, not from arrival order alone: a student who resubmits ten times while
the queue is long still holds one slot, at the place of their first waiting
submission, and the slot holds their newest notebook. A student is graded by
one worker at a time. The rate limit (``per_hour`` gradings started in the
last hour) defers a submission instead of dropping it: it waits in its slot
until the student's window allows, so the last submission before a deadline
is always graded.

Pure Python, no threads of its own; the service calls it under its lock.
"""

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

WINDOW_S = 3600.0


@dataclass
class Job:
    """One submission to grade: ``key`` is (student, assignment)."""

    student: str
    assignment: str
    submission_id: int
    received: float = field(default_factory=time.time)

    @property
    def key(self):
        return (self.student, self.assignment)


class FairQueue:
    """Slots in first-come order; ``take`` returns the first slot whose student
    is not being graded and is within the rate limit.

    Parameters
    ----------
    per_hour : int
        Gradings a student may start in any hour (0: no limit).
    clock : callable
        Seconds, monotonic (a test passes its own).
    """

    def __init__(self, per_hour=10, clock=time.monotonic):
        if per_hour < 0:
            raise ValueError(f"per_hour must be 0 (no limit) or more, got {per_hour}")
        self.per_hour, self.clock = per_hour, clock
        self.slots = OrderedDict()   # key -> Job, in the order the slots were opened
        self.started = {}            # student -> deque of clock times gradings started
        self.busy = set()            # students being graded now

    def __len__(self):
        return len(self.slots)

    def offer(self, job):
        """Put ``job`` in its slot; returns the job it replaced (None if the slot was new)."""
        old = self.slots.get(job.key)
        self.slots[job.key] = job     # an existing key keeps its place in the order
        return old

    def next_allowed(self, student):
        """Clock time from which ``student`` may start another grading (0: now)."""
        times = self.started.get(student, ())
        if not self.per_hour or len(times) < self.per_hour:
            return 0.0
        return times[-self.per_hour] + WINDOW_S

    def _prune(self, student):
        times = self.started.get(student)
        now = self.clock()
        while times and times[0] <= now - WINDOW_S:
            times.popleft()

    def take(self):
        """The next job to grade, marked as started; None when none may start now."""
        now = self.clock()
        for key, job in self.slots.items():
            if job.student in self.busy:
                continue
            self._prune(job.student)
            if self.next_allowed(job.student) > now:
                continue
            del self.slots[key]
            self.busy.add(job.student)
            self.started.setdefault(job.student, deque()).append(now)
            return job
        return None

    def done(self, job):
        """The grading of ``job`` ended (graded, failed or cut off)."""
        self.busy.discard(job.student)

    def deferred(self):
        """{key: clock time it may start} of the slots held back by the rate limit."""
        now = self.clock()
        out = {}
        for key, job in self.slots.items():
            self._prune(job.student)
            allowed = self.next_allowed(job.student)
            if allowed > now:
                out[key] = allowed
        return out
