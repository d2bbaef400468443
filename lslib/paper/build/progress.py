"""The build's progress against its plan: tasks and notebooks done, what runs now in words,
the time elapsed and an estimate of the time left."""

import sys
import threading
import time

from lslib.paper.build.schedule import clock


class Progress:
    """Tasks and notebooks done out of the plan's, what runs now in words, the time elapsed
    and an estimate of the time left: a tqdm bar in a terminal, plain lines in a log."""

    def __init__(self, estimates: dict[str, float], parallel: float, stream=None):
        self.stream = stream or sys.stdout
        self.est, self.parallel = estimates, max(parallel, 1.0)
        self.done: dict[str, float] = {}
        self.running: dict[str, str] = {}  # key -> what it does now, in words
        self.began: dict[str, float] = {}
        self.start = time.monotonic()
        self.lock = threading.RLock()
        self.bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(
                total=len(estimates),
                file=self.stream,
                dynamic_ncols=True,
                bar_format="{n_fmt}/{total_fmt} |{bar:16}| {desc}",
            )

    def left(self) -> float:
        """The plan's seconds of what is not finished, over the plan's parallelism, corrected
        by how the finished tasks compared with their estimates."""
        with self.lock:
            est_done = sum(self.est.get(k, 0.0) for k in self.done)
            took = sum(self.done.values())
            speed = min(max(took / est_done, 0.25), 4.0) if est_done > 30 else 1.0
            now = time.monotonic()
            rest = sum(
                max(self.est.get(k, 0.0) * speed - (now - self.began.get(k, now)), 0.0)
                for k in self.est
                if k not in self.done
            )
        return rest / self.parallel

    def status(self, text: str) -> str:
        elapsed = time.monotonic() - self.start
        count = "" if self.bar is not None else f"{len(self.done)}/{len(self.est)} done · "
        return f"{count}{text} — {clock(elapsed)} elapsed, ~{clock(self.left())} left"

    def started(self, key: str, text: str, quiet: bool = False) -> None:
        """``key`` runs now, doing ``text`` (``quiet``: in a log, the caller says so)."""
        with self.lock:
            self.began.setdefault(key, time.monotonic())
            self.running[key] = text
            if not quiet or self.bar is not None:
                self._show(text)

    def detail(self, key: str, text: str) -> None:
        with self.lock:
            if key in self.done:
                return
            self.running[key] = text
            self._show(text)

    def finished(self, key: str) -> None:
        with self.lock:
            self.done[key] = time.monotonic() - self.began.get(key, time.monotonic())
            self.running.pop(key, None)
            if self.bar is not None:
                self.bar.update(1)
                now = "; ".join(self.running.values()) or "waiting"
                self.bar.set_description_str(self.status(now), refresh=True)

    def _show(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(self.status("; ".join(self.running.values())))
        else:
            print(self.status(text), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
