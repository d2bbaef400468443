"""The sections, by name: the grid's task graph, the plan and the notebooks all reach a
section's declaration through here (see ``work``). Each section module (``phase1``,
``phase2``, ``phase3``) owns its whole story: ``work(S)`` declares its runs and calls once,
``payload(S)`` reads them into the notebook's payload and figures."""

from types import ModuleType

from lslib.paper.sections import phase1, phase2, phase3
from lslib.paper.sections.work import Work
from lslib.paper.settings import Section

SECTIONS: dict[str, ModuleType] = {"phase1": phase1, "phase2": phase2, "phase3": phase3}


def declared(S: Section) -> Work:
    """The section's work, as its module declares it (``SECTIONS[S.name].work``)."""
    return SECTIONS[S.name].work(S)
