"""A section's work, declared once: the runs it trains and the calls it makes to the store.

A declaration (``sections.phase1.work`` and its kind, listed in ``sections.declared.SECTIONS``) fills
a ``Work``: each training run once (``w.train``), and each analysis as a named ``Call``, a
cached function with its arguments and what it does in words (``w.add``). Three readers,
one list:

- the grid's task graph (``tasks.section_tasks``): one task per call, after the training
  runs in its arguments (so work that depends on results, such as Phase 2 at matched loss,
  depends on the runs it reads);
- the plan (``plan.items``): each task stored or not, and its estimated time;
- the notebook payload (``sections.phaseN.payload``): it reads values only through the
  handles ``w.add`` returned (``w(handle)``), so a value that is not declared cannot be
  read, never a silent computation the grid did not plan.

A call declared with ``into="name"`` also lands in the payload, as ``payload[name]``: one
entry per such call, in the order declared (per seed, when declared per run), each passed
through ``read`` (default: the value itself; the payload is saved as JSON).

``once(declare, S)`` is how the readers reach a declaration: evaluated once per process for
each (frozen, hashable) section, so the task graph and the plan, or the payload, share it.
"""

import dataclasses
import functools
from collections.abc import Callable, Hashable

from lslib.config import TrainConfig


def runs_in(obj) -> list[TrainConfig]:
    """Every training config inside ``obj`` (nested configs, tuples), in order."""
    if isinstance(obj, TrainConfig):
        return [obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [r for f in dataclasses.fields(obj) for r in runs_in(getattr(obj, f.name))]
    if isinstance(obj, list | tuple):
        return [r for v in obj for r in runs_in(v)]
    return []


@dataclasses.dataclass(frozen=True)
class Call:
    """One call ``fn(*args)`` of a cached function; ``what`` it computes, in words
    ("1D lines"); ``into``/``read``: where in the payload its value goes, and how."""

    fn: Callable
    args: tuple
    what: str
    into: str | None = None
    read: Callable | None = None

    def __call__(self):
        return self.fn(*self.args)

    @property
    def runs(self) -> list[TrainConfig]:
        """The training runs it reads (its dependencies)."""
        return runs_in(self.args)


@dataclasses.dataclass(frozen=True)
class Handle:
    """A declared call, as ``Work.add`` returns it: the only way to read its value
    (``w(handle)``), so a payload can read nothing its section did not declare, and a
    misspelt name fails where it is declared, not after the grid ran."""

    work: str  # the name of the Work that declared it
    name: str
    of: Hashable = None


class Work:
    """The runs and calls of one section, in the order declared."""

    def __init__(self, name: str):
        self.name = name
        self.runs: list[TrainConfig] = []
        self.calls: dict[tuple[str, Hashable], Call] = {}

    def train(self, c: TrainConfig) -> TrainConfig:
        """Declare a training run (once); returns it."""
        if c not in self.runs:
            self.runs.append(c)
        return c

    def add(
        self, name: str, fn: Callable, *args, what: str, of=None, into=None, read=None
    ) -> Handle:
        """Declare the call ``fn(*args)`` as ``name`` of ``of`` (a run, a pair of runs, or
        None for a call the section makes once); returns its handle."""
        key = (name, of)
        if key in self.calls:
            raise ValueError(f"{self.name}: {name!r} of {of} is declared twice")
        self.calls[key] = Call(fn, tuple(args), what, into, read)
        return Handle(self.name, name, of)

    def handle(self, name: str, of=None) -> Handle | None:
        """The handle of a call already declared as ``name`` of ``of``, else None."""
        return Handle(self.name, name, of) if (name, of) in self.calls else None

    def call(self, h: Handle) -> Call:
        """The declared call behind a handle of this Work."""
        if not isinstance(h, Handle):
            raise TypeError(
                f"{self.name}: read a value through the handle w.add returned, not {h!r}"
            )
        if h.work != self.name or (h.name, h.of) not in self.calls:
            raise KeyError(f"{self.name}: {h.name!r} of {h.of} is not declared in this Work")
        return self.calls[(h.name, h.of)]

    def __call__(self, h: Handle):
        """The value of a declared call (read from the store, or computed into it)."""
        return self.call(h)()

    def summary(self, c: TrainConfig) -> dict:
        """A declared training run's outcome (``analyses.run_summary``)."""
        from lslib.paper.sections.analyses import run_summary

        if c not in self.runs:
            raise KeyError(f"{self.name}: the run {c} is not declared")
        return run_summary(c)

    def payload(self) -> dict:
        """The payload's entries of the calls declared ``into`` it."""
        out: dict[str, list] = {}
        for call in self.calls.values():
            if call.into is not None:
                value = call()
                out.setdefault(call.into, []).append(
                    value if call.read is None else call.read(value)
                )
        return out


@functools.cache
def once(declare: Callable, S: Hashable):
    """``declare(S)``, evaluated once per process for each declare function and section
    (``settings.Section`` is frozen and hashes by its values): the task graph, the plan and
    the payload read one declaration. Nobody may add to the Work it returns."""
    return declare(S)
