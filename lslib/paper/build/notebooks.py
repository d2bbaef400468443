"""One notebook of the grid, executed: papermill, the kernels' sockets, the page finished.

A notebook executes into a temporary file that is renamed to its final name only when every
cell finished, so a failed, killed or crashed run never leaves a page the book would render
(the failed copy is kept as ``<name>.failed.ipynb`` for debugging).
"""

import os
from pathlib import Path

from lslib.paper.names import NAMES

_KERNELS: dict = {}  # the private folder of this process's kernel sockets, once made


def _kernel_folder() -> Path:
    """A folder only this user can enter (mode 0700, made by mkdtemp) for the kernels'
    sockets, short enough for a Unix socket's path limit; removed by ``drop_kernel_folder``."""
    if "dir" not in _KERNELS:
        import tempfile

        _remove_dead_kernel_folders(Path(tempfile.gettempdir()))
        _KERNELS["dir"] = Path(tempfile.mkdtemp(prefix=f"lslib-kernels-{os.getpid()}-"))
    return _KERNELS["dir"]


def _remove_dead_kernel_folders(tmp: Path) -> None:
    """Remove this user's kernel folders (``lslib-kernels-<pid>-*``) whose process is gone:
    a killed grid never ran ``drop_kernel_folder``."""
    import shutil

    for d in tmp.glob("lslib-kernels-*-*"):
        pid = d.name.split("-")[2]
        try:
            mine = d.lstat().st_uid == os.getuid() and d.is_dir() and not d.is_symlink()
        except OSError:
            continue
        if mine and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_kernel_folder() -> None:
    """Remove this process's private folder of kernel sockets, if it made one."""
    import shutil

    if "dir" in _KERNELS:
        shutil.rmtree(_KERNELS.pop("dir"), ignore_errors=True)


def _kernel_manager():
    """Jupyter's kernel manager with the kernel's channels on Unix sockets in a private
    folder (``_kernel_folder``) instead of TCP ports on 127.0.0.1: no other user of the
    machine can reach a notebook's kernel, and the kernel does not warn that its TCP
    traffic is unencrypted."""
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("connection_file")
        def _default_connection_file(self):  # the sockets are named after it, next to it
            return str(_kernel_folder() / f"k{uuid.uuid4().hex[:8]}.json")

    return IPCKernelManager


def declared(nb: Path, place: dict) -> dict:
    """The entries of ``place`` (the build's results folder and grid file) that the
    notebook's parameters cell declares: a notebook is passed only what it asks for."""
    import papermill as pm

    names = pm.inspect_notebook(str(nb))
    return {k: v for k, v in place.items() if k in names}


def execute(nb: Path, out: Path, params: dict, root: Path, place: dict | None = None) -> str | None:
    """Run one notebook into ``out``; None on success, else the error in one line.

    Args:
        nb, out: the notebook and its executed copy.
        params: its parameters (profile, model).
        root: the folder it runs in.
        place: the build's ``results_dir`` and ``grid_file``; each is passed as a parameter
            where the notebook's parameters cell declares it.
    """
    import papermill as pm

    tmp = out.with_name(f".{out.stem}.running.ipynb")
    failed = out.with_name(f"{out.stem}.failed.ipynb")
    out.unlink(missing_ok=True)  # a stale page must not survive a failed rerun
    failed.unlink(missing_ok=True)
    try:
        pm.execute_notebook(
            str(nb),
            str(tmp),
            parameters=params | declared(nb, place or {}),
            cwd=str(root),
            kernel_name="python3",
            progress_bar=False,
            kernel_manager_class=_kernel_manager(),
        )
    except pm.PapermillExecutionError as e:
        error = f"cell {e.exec_count}: {e.ename}: {e.evalue}"
    except Exception as e:  # a dead kernel (killed, out of memory), a timeout, ...
        error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        if "DeadKernel" in type(e).__name__:
            error += " (the kernel died: killed, or out of memory?)"
    else:
        finish_page(tmp, params)
        os.replace(tmp, out)
        return None
    if tmp.exists():
        os.replace(tmp, failed)
    return error


def finish_page(path: Path, params: dict) -> None:
    """Ready an executed notebook for the book: papermill's injected parameters cell is
    tagged so it is not rendered (the .ipynb keeps it), and the page title names the model
    ("Phase 1: width scaling — MLP"), since one notebook makes a page per model."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    model = params.get("model")
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if model in NAMES and first is not None and first.source.startswith("# "):
        title, _, rest = first.source.partition("\n")
        first.source = f"{title} — {NAMES[model]}\n{rest}"
    nbformat.write(nb, str(path))
