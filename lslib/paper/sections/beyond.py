"""The instruments beyond the report's, in the sections: their declarations and what the
payloads take from them.

- REPAIR (Jordan et al. 2023): inside Phase 3's connectivity; ``repair_numbers`` reads a
  pair's barriers after alignment and REPAIR.
- Adaptive sharpness (Andriushchenko et al. 2023): declared for every trained model of
  Phases 1-3 (``add_adaptive``); each section's rows carry their own
  (``adaptive_numbers``), and Phase 3 also declares and reads every model of its family
  (``declare_family``, ``family``): the models the correlation between sharpness and
  generalization is taken over.
- The edge of stability (Cohen et al. 2021, 2022): lambda_1 after every epoch of the first
  seed of each Phase 2 optimizer (``add_edge``, ``edge_numbers``).
"""

import dataclasses

import numpy as np

from lslib.paper.sections import analyses_beyond, analyses_curvature
from lslib.paper.sections.calls import adaptive_config, edge_config, hessian_config
from lslib.paper.sections.measures import error_barrier
from lslib.paper.sections.work import Handle, Work
from lslib.train import path_of

MEASURES = ("max_linf", "max_l2", "avg")  # the adaptive measures, in the payload's keys


def add_adaptive(w: Work, S, c) -> Handle:
    """Declare the adaptive sharpness of run ``c`` (once); its handle."""
    if (h := w.handle("adaptive", c)) is not None:
        return h
    return w.add(
        "adaptive", analyses_beyond.adaptive, adaptive_config(S, c), what="adaptive sharpness", of=c
    )


def adaptive_numbers(w: Work, handles: list[Handle]) -> dict:
    """Per seed (``handles``: each seed's adaptive sharpness): the adaptive measures, the
    losses at the final weights on the training split and the test set, their gap, and the
    test error."""
    v = [w(h) for h in handles]
    out = {f"adaptive_{k}": [r[k] for r in v] for k in MEASURES}
    return out | {
        "final_train_loss": [r["train_loss"] for r in v],
        "gap": [r["test_loss"] - r["train_loss"] for r in v],
        "test_error": [1 - r["test_acc"] for r in v],
    }


def repair_numbers(conn: dict) -> dict:
    """A pair's loss and error barriers on test data after alignment and REPAIR."""
    e = error_barrier(conn["test_repair_acc"])
    return {
        "repair_barrier": conn["test_repair_barrier"]["height"],
        "repair_error_barrier": e["height"],
        "repair_error_connected": e["connected"],
    }


def add_edge(w: Work, S, c) -> Handle:
    """Declare lambda_1 after every epoch of run ``c`` (the edge of stability)."""
    return w.add("edge", analyses_beyond.edge, edge_config(S, c), what="λ1 after every epoch", of=c)


def edge_numbers(w: Work, first: dict) -> dict:
    """Per optimizer (``first``: its first seed's run and the handle of its edge):
    lambda_1 per epoch, Adam's preconditioned lambda_1, and the thresholds."""
    out = {}
    for o, (c, h) in first.items():
        e = w(h)
        pre = e["preconditioned"]
        out[o] = {
            "seed": c.seed,
            "lr": e["lr"],
            "epochs": [int(i) for i in e["epochs"]],
            "lambda1": [float(v) for v in e["lambda1"]],
            "preconditioned": None if pre is None else [float(v) for v in pre],
            "threshold": e["threshold"],
            "gd_threshold": e["gd_threshold"],
            "momentum_threshold": e["momentum_threshold"],
        }
    return out


# ---------------------------------------------------------------- every model of a family


def family_sections(S) -> list:
    """The Phase 1 and Phase 2 sections of S's family in S's profile (their defaults)."""
    from lslib.paper.profiles import section

    return [section(n, {"model": S.model, "profile": S.profile}) for n in ("phase1", "phase2")]


def family_models(S) -> list[tuple[str, list, object]]:
    """(name, runs over seeds, section) of every trained model of S's family: Phase 1's
    widths, Phase 2's optimizers, Phase 3's model."""
    from lslib.paper.names import label

    S1, S2 = family_sections(S)
    out = [
        (label(S.model, k), [S1.train(width=k, seed=s) for s in S1.seeds], S1) for k in S1.widths
    ]
    for o in S2.optimizers:
        name = f"{label(S.model, S2.width)}, {o}, {S2.epochs} ep."
        out.append((name, [S2.train(optimizer=o, seed=s) for s in S2.seeds], S2))
    name = f"{label(S.model, S.width)}, {S.epochs} ep. (Phase 3)"
    return out + [(name, [S.train(seed=s) for s in S.seeds], S)]


@dataclasses.dataclass(frozen=True)
class Member:
    """A model of the family: its name, runs over seeds, section, and the handles of its
    adaptive sharpness and (outside Phase 3, whose flatness has it) its Hessian top-3."""

    name: str
    runs: tuple
    section: object
    adaptive: tuple[Handle, ...]
    hessian: tuple[Handle, ...] | None


def declare_family(w: Work, S) -> list[Member]:
    """Declare, in Phase 3's Work, every model of the family with its adaptive sharpness
    and (outside Phase 3, whose flatness has it) its Hessian top-3."""
    out = []
    for name, runs, Sx in family_models(S):
        adaptive, hessian = [], []
        for c in runs:
            w.train(c)
            adaptive.append(add_adaptive(w, Sx, c))
            if Sx is not S:
                h = w.handle("hessian", c) or w.add(
                    "hessian",
                    analyses_curvature.hessian,
                    hessian_config(Sx, c),
                    what="Hessian top-3",
                    of=c,
                )
                hessian.append(h)
        out.append(Member(name, tuple(runs), Sx, tuple(adaptive), tuple(hessian) or None))
    return out


def _identity(w: Work, runs) -> tuple:
    """What makes two models the same weights: the trajectory and the epochs trained."""
    return tuple((str(sorted(path_of(c).items())), w.summary(c)["epochs"]) for c in runs)


def family(w: Work, members: list[Member], flatness: list[Handle]) -> list[dict]:
    """Every distinct model of the family: per seed its generalization (gap, test error) and
    sharpness (lambda_1, the adaptive measures; epsilon-sharpness where Phase 3 has it, read
    through ``flatness``, its runs' flatness handles)."""
    out, seen = [], set()
    for m in members:
        ident = _identity(w, m.runs)
        if ident in seen:  # a Phase 3 run that stopped where its Phase 1 twin did
            continue
        seen.add(ident)
        row = {"model": m.name, "section": m.section.name} | adaptive_numbers(w, m.adaptive)
        if m.hessian is None:
            flats = [w(h) for h in flatness]
            row["l1"] = [float(np.mean(f["lambda1"])) for f in flats]
            row["eps_sharpness"] = [f["eps_sharpness"] for f in flats]
        else:
            row["l1"] = [float(np.asarray(w(h)["values"])[:, 0].mean()) for h in m.hessian]
        out.append(row)
    return out
