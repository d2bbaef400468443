"""What the run store recorded: the seconds each entry took, indexed for the plan's estimates.

Every entry keeps the wall and CPU seconds its computation took and its threads; ``Records``
reads them (digest and JSON only, never code) and estimates one computation from the same
entry, another seed's, or the median seconds per unit of ``work`` of its kind, with the
repository's reference build (``reference``, scaled per family to this machine by
``scale``: ``calibrate``) behind them. A kind's seconds per unit of work change with its
sizes (fixed costs per call weigh more in a small profile), so a rate recorded with the
computation's own training set (its profile) comes first, then the reference's where it
was measured at those sizes and brought to this machine, then this store's at other
sizes. An entry that waited for the cores is taken at its CPU time (``alone_s``). ``is_current`` tells an entry of today's code
from older ones by the modules it records; the notebooks' own seconds are recorded beside the store
(``record_notebook``, ``notebook_seconds``).
"""

import dataclasses
import json
import os
import re
import statistics
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

from lslib import cache
from lslib.data import N_TRAIN
from lslib.paper.profiles import PROFILE_SIZES
from lslib.paths import cache_dir

NOTEBOOK_S = 10.0  # a notebook's own time (tables, figures) when none is recorded
TIMES = "notebook_times.json"  # in the run store's folder: the grid's record of them
REFERENCE = Path(__file__).with_name("reference_times.json")  # a reference build's records
# the basis of a kind no build has timed (a new analysis): 0 s, and the plan says so
NO_ESTIMATE = "no estimate yet"
REFERENCE_BASIS = "reference build"  # the basis of an estimate from the reference's rates
OTHER_SIZES = " from other sizes"  # a rate recorded with another training set (profile)
REFERENCE_SUBSET = PROFILE_SIZES["paper"]["subset"]  # the reference build's training set


def reference() -> dict:
    """The reference build's rates, stopping epochs and notebook times ({} without the file)."""
    try:
        return json.loads(REFERENCE.read_text())
    except (OSError, ValueError):
        return {}


def flops(model: str, width: int) -> float:
    """Multiply-adds of one image through ``model`` of ``width`` (lslib.models)."""
    w = width
    if model == "cnn":
        return 28 * 28 * 9 * w + 14 * 14 * 9 * 2 * w * w + 98 * w * 2 * w + 20 * w
    return 784 * w + 10 * w


def runs_of(config) -> list[dict]:
    """The training runs (canonical dicts) inside a canonical config."""
    if isinstance(config, dict):
        if "optimizer" in config and "seed" in config:
            return [config]
        return [r for v in config.values() for r in runs_of(v)]
    if isinstance(config, list):
        return [r for v in config for r in runs_of(v)]
    return []


def _get(config, name, default=1):
    """The first field ``name`` in a canonical config, searched depth first."""
    if isinstance(config, dict):
        if name in config:
            return config[name]
        for v in config.values():
            found = _get(v, name, None)
            if found is not None:
                return found
    if isinstance(config, list):
        for v in config:
            found = _get(v, name, None)
            if found is not None:
                return found
    return default


def work(kind: str, config) -> float:
    """Units of work of one computation (only ratios within a kind are used)."""
    runs = runs_of(config)
    per_image = flops(runs[0]["model"], runs[0]["width"]) if runs else 1.0
    g = lambda name, default=1: _get(config, name, default)  # noqa: E731
    images = g("size", 1)
    if kind == "epoch":
        return per_image * (runs[0].get("subset") or N_TRAIN)
    points = {
        "lines": g("n_dirs") * g("line_steps"),
        "plane": g("grid") ** 2,
        "trajectory_plane": g("grid") ** 2,
        "trajectory": g("pc1_steps") * 6,
        "connectivity": g("points") * 4,
    }.get(kind)
    if points is not None:
        extra = g("bezier_epochs", 0) * (runs[0].get("subset") or N_TRAIN) if runs else 0
        return per_image * (points * images + extra)
    if kind in ("hessian",):
        return per_image * g("n_batches") * g("batch_size")
    if kind == "flatness":
        return per_image * (g("hessian_batches") * 128 + g("trace_samples") * 128 + 200 * images)
    return per_image * images * g("batch_size")


def strip_fields(config, fields=("seed",)):
    """A canonical config without ``fields`` at any depth (the same computation, any seed)."""
    if isinstance(config, dict):
        return {k: strip_fields(v, fields) for k, v in config.items() if k not in fields}
    if isinstance(config, list):
        return [strip_fields(v, fields) for v in config]
    return config


def blob(kind, config) -> str:
    """The key of an entry in the records: its kind and canonical config, as JSON."""
    return json.dumps([kind, config], sort_keys=True)


_MODULE = re.compile(r"lslib(\.[a-z_][a-z0-9_]*)+")


def is_current(meta: dict) -> bool:
    """Whether a store entry was computed by today's code: the fingerprint of the modules it
    records as its code (``cache.cached`` writes them) is its own. Only ``lslib``'s own
    modules are fingerprinted; an entry that names others, or none (an older entry), counts
    as computed by other code."""
    modules = meta.get("modules")
    if not (isinstance(modules, list) and modules):
        return False
    if not all(isinstance(m, str) and _MODULE.fullmatch(m) for m in modules):
        return False
    try:
        return cache.fingerprint(*modules) == meta.get("code")
    except (ImportError, ValueError):  # a module that no longer exists: other code
        return False


# An entry whose CPU time per thread is below this share of its wall time waited for the
# cores (something else ran beside it): its wall time says more about that than about it.
CONTENDED = 0.5


def busy(meta: dict) -> float | None:
    """CPU seconds per thread per wall second of an entry computed on the CPU (1.0: its
    threads never waited), or None where that is not known (no CPU time recorded, as in
    older entries, or a GPU entry, whose CPU threads wait for the device by design)."""
    cpu, wall, threads = meta.get("cpu_s"), meta.get("wall_s"), meta.get("threads")
    if meta.get("device_type", "cpu") != "cpu":
        return None
    if not (isinstance(cpu, (int, float)) and isinstance(threads, int) and threads > 0):
        return None
    return cpu / (threads * wall) if wall and wall > 0 else None


def busy_share(metas) -> dict:
    """Per kind, the median ``busy`` of its entries that were not contended: how busy that
    kind keeps its threads when it runs alone."""
    found = defaultdict(list)
    for meta in metas:
        if (u := busy(meta)) is not None and u >= CONTENDED:
            found[meta["kind"]].append(u)
    return {k: statistics.median(v) for k, v in found.items()}


def alone_s(meta: dict, usual: dict) -> float:
    """The seconds an entry would take alone. Its wall time, unless it was contended (it
    waited for the cores): then its CPU seconds per thread over how busy its kind keeps its
    threads alone (``busy_share``). Where its kind has no uncontended entry to go by, its
    wall time (an overestimate, never an underestimate)."""
    u, usual_u = busy(meta), usual.get(meta["kind"])
    if u is None or u >= CONTENDED or usual_u is None:
        return float(meta["wall_s"])
    return meta["cpu_s"] / meta["threads"] / usual_u


@dataclasses.dataclass
class Records:
    """The seconds the store recorded, indexed for the estimates."""

    exact: dict
    other_seed: dict
    rate: dict  # (kind, family) and (kind, None) -> seconds per unit of work
    stopped: dict  # a run's trajectory without its seed -> epochs stored per seed
    reference: dict = dataclasses.field(default_factory=dict)  # (kind, family) -> s per unit
    threads: int | None = None  # the torch threads most entries were computed with
    scale: dict = dataclasses.field(default_factory=dict)  # family -> factor on its reference
    sized: dict = dataclasses.field(default_factory=dict)  # (kind, family, subset) -> rates

    @classmethod
    def read(cls, folder=None, fallback: bool = True, keep=None) -> "Records":
        """The records of the store in ``folder`` (default: the one in use); ``fallback``:
        with the reference build's behind them; ``keep(meta)``: only the entries it accepts."""
        exact, other, rate, sized = {}, defaultdict(list), defaultdict(list), defaultdict(list)
        epochs, threads, metas, old = defaultdict(dict), [], [], 0
        folder = cache_dir() if folder is None else folder
        for path in sorted(folder.glob("*/*.pt")):
            try:
                meta = cache.decode_meta(path.read_bytes())  # digest, then JSON: never code
                if "config" not in meta or not isinstance(meta["kind"], str):
                    continue
                if not float(meta["wall_s"]) >= 0:
                    continue
            except cache.OldFormat:
                old += 1
                continue
            except Exception:  # corrupt or foreign: the store deals with it when it is read
                continue
            if keep is None or keep(meta):
                metas.append(meta)
        if old:
            warnings.warn(
                f"{old} entries of {folder} are in the old pickled format, which is never "
                "loaded (it could run code): their times are not used, and they are "
                "recomputed when needed",
                stacklevel=2,
            )
        usual = busy_share(metas)
        for meta in metas:
            kind, config, wall = meta["kind"], meta["config"], alone_s(meta, usual)
            threads.append(meta.get("threads"))
            exact[blob(kind, config)] = wall
            fields = ("seed", "epoch") if kind == "epoch" else ("seed",)
            other[blob(kind, strip_fields(config, fields))].append(wall)
            runs = runs_of(config)
            u = work(kind, config)
            rate[(kind, runs[0]["model"] if runs else None)].append(wall / u)
            if runs:
                sized[(kind, runs[0]["model"], runs[0].get("subset"))].append(wall / u)
            rate[(kind, None)].append(wall / u)
            if kind == "epoch":
                run = config["run"]
                key = blob("run", strip_fields(run))
                epochs[key][run["seed"]] = max(epochs[key].get(run["seed"], 0), config["epoch"])
        ref = reference() if fallback else {}
        for key, seeds in ref.get("stopped", {}).items():  # the store's own come first
            epochs.setdefault(key, {int(k): v for k, v in seeds.items()})
        refrate = {tuple(k.split(" ")): v for k, v in ref.get("rates", {}).items()}
        counted = [t for t in threads if isinstance(t, int)] or (
            [ref["threads"]] if "threads" in ref else []
        )
        most = max(set(counted), key=counted.count) if counted else None
        return cls(exact, dict(other), dict(rate), dict(epochs), refrate, most, sized=dict(sized))

    def summary(self) -> dict:
        """Per kind and family, the median seconds per unit of work: what the reference
        file keeps (``scripts/reference_times.py``)."""
        return {
            f"{kind} {family}": statistics.median(r)
            for (kind, family), r in sorted(self.rate.items(), key=str)
            if family is not None
        }

    def seconds(self, kind: str, config, exact: bool = True) -> tuple[float, str]:
        """Estimated seconds of one computation, and how it was estimated (``exact=False``:
        skip the entry's own record, for an epoch: the median epoch of its trajectory)."""
        if exact and (s := self.exact.get(blob(kind, config))) is not None:
            return s, "recorded"
        fields = ("seed", "epoch") if kind == "epoch" else ("seed",)
        if s := self.other_seed.get(blob(kind, strip_fields(config, fields))):
            return statistics.median(s), "epochs of its seeds" if kind == "epoch" else "other seeds"
        runs = runs_of(config)
        family, size = (runs[0]["model"], runs[0].get("subset")) if runs else (None, None)
        if r := self.sized.get((kind, family, size)):
            return statistics.median(r) * work(kind, config), "scaled"
        ref = self.reference.get((kind, str(family)))
        # the reference's rate at these sizes, brought to this machine, before this
        # machine's at other sizes (a kind's seconds per unit of work change with its sizes)
        if ref and family in self.scale and size == REFERENCE_SUBSET:
            return ref * self.scale[family] * work(kind, config), REFERENCE_BASIS
        for fam in (family, None):
            if r := self.rate.get((kind, fam)):
                how = "scaled" if fam else "scaled from the other family"
                return statistics.median(r) * work(kind, config), f"{how}{OTHER_SIZES}"
        if ref:
            return ref * self.scale.get(family, 1.0) * work(kind, config), REFERENCE_BASIS
        return 0.0, NO_ESTIMATE


# ---------------------------------------------------------------- notebooks' own times


def notebook_seconds(name: str, profile: str, folder=None) -> float:
    """A notebook's own seconds: recorded in the store in ``folder`` (default: the one in
    use), else in the reference build."""
    try:
        times = json.loads(((cache_dir() if folder is None else Path(folder)) / TIMES).read_text())
    except (OSError, ValueError):
        times = {}
    times = reference().get("notebooks", {}) | times
    return float(times.get(f"{name} {profile}", NOTEBOOK_S))


def record_notebook(name: str, profile: str, seconds: float) -> None:
    """Record a notebook's own seconds in the run store's folder (``TIMES``), atomically."""
    path = cache_dir() / TIMES
    try:
        times = json.loads(path.read_text())
    except (OSError, ValueError):
        times = {}
    times[f"{name} {profile}"] = round(seconds, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own: two processes recording at once never share a temporary
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{TIMES}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(times, indent=1, sort_keys=True))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
