"""The submission's process tree in its own namespaces (bubblewrap), bounded as a whole.

Why: a worker that is merely a separate process, run as the harness's user, can read the
harness's memory and command line (ground truth, the secret file's path), forge journal files and
records, and leave children running. Under bubblewrap (the sandbox Flatpak uses) the worker gets
its own user, PID, IPC, network, UTS (and where possible cgroup) namespaces and a mount namespace
that shows, read-only, only the system, the Python installation, the oneshotbench package, the
submission's folder and the files it declares; ``/tmp`` and ``/dev/shm`` are private. bwrap's own
arguments are passed through a pipe (``--args``), because bwrap's argv is readable inside as
``/proc/1/cmdline``. When bwrap's PID 1 dies the kernel kills every process of the namespace.

:class:`TreeMemory` bounds memory over every process of the run: a cgroup (v1 memory controller
or v2) where one can be created, else the summed resident memory of the process tree (psutil).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from oneshotbench.errors import OneshotbenchError

MODES = ("auto", "bubblewrap", "none")
ENV_ALLOW = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "CUDA_LAUNCH_BLOCKING",
    "CUBLAS_WORKSPACE_CONFIG",
    "PYTORCH_CUDA_ALLOC_CONF",
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
    "ONESHOTBENCH_CHECKPOINT",
)
"""Variables a submission gets from the harness's environment (if set); others only by --env."""

_SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt")
_SANDBOX_HOME = "/tmp"
_SET_INSIDE = ("HOME", "TMPDIR", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")
_cgroup_serial = itertools.count()


class SandboxUnavailable(OneshotbenchError):
    """bubblewrap was asked for explicitly but cannot make a sandbox here."""


class SandboxWarning(UserWarning):
    """The submission runs without a sandbox because none can be made here."""


@functools.cache
def probe_bubblewrap() -> str | None:
    """None when bwrap can create the namespaces used here, else why not (checked once)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed; on Debian/Ubuntu: apt-get install bubblewrap"
    cmd = [bwrap, *_NAMESPACES, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return f"bwrap does not run: {err}"
    if done.returncode != 0:
        return f"bwrap cannot create namespaces here: {done.stderr.strip() or done.returncode}"
    return None


def resolve_mode(requested: str) -> tuple[str, str | None]:
    """The mechanism to use for ``requested`` (auto|bubblewrap|none) and a warning, if any.

    ``auto`` falls back to ``none`` (with a warning to show loudly) where bwrap cannot run;
    an explicit ``bubblewrap`` that cannot run raises :class:`SandboxUnavailable`.
    """
    if requested not in MODES:
        raise OneshotbenchError(f"unknown sandbox {requested!r}; choose one of {', '.join(MODES)}")
    if requested == "none":
        return "none", None
    problem = probe_bubblewrap()
    if problem is None:
        return "bubblewrap", None
    if requested == "bubblewrap":
        raise SandboxUnavailable(problem)
    return "none", (
        f"NOT SANDBOXED: {problem}. The submission runs as a plain process that can read this "
        "process's memory and files; its record says sandbox: none"
    )


def worker_env(passed: Iterable[str] = (), *, sandboxed: bool) -> dict[str, str]:
    """The submission's environment: the allow-list plus the names passed, nothing else."""
    names = dict.fromkeys([*ENV_ALLOW, *passed])
    env = {name: os.environ[name] for name in names if name in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    if sandboxed:
        env.update(HOME=_SANDBOX_HOME, TMPDIR=_SANDBOX_HOME, PYTHONDONTWRITEBYTECODE="1")
    elif "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    return env


def env_paths(env: dict[str, str], names: Iterable[str]) -> list[Path]:
    """The existing files or folders that passed variables name (made readable in the sandbox).

    Only variables the user passes (``--env``) and the checkpoint count: the sandbox's own HOME
    and TMPDIR (``/tmp``) and the allow-list's paths must never show the machine's folders.
    """
    paths = []
    for name in names:
        if name in _SET_INSIDE or (name in ENV_ALLOW and name != "ONESHOTBENCH_CHECKPOINT"):
            continue
        value = env.get(name, "")
        if value.startswith("/") and os.path.exists(value):
            paths.append(Path(value))
    return paths


@dataclass(frozen=True)
class Layout:
    """What the sandbox shows: read-only paths, paths hidden inside those, GPU, working folder."""

    readable: tuple[Path, ...]
    hidden: tuple[Path, ...] = ()
    gpu: bool = False
    workdir: Path = Path(_SANDBOX_HOME)


def python_paths() -> list[Path]:
    """The interpreter, its installation, the environment and every import root in use."""
    import oneshotbench

    paths = [Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.executable)]
    paths.append(Path(oneshotbench.__file__).parent)
    for name, module in list(sys.modules.items()):  # packages of editable installs (setuptools)
        mapping = getattr(module, "MAPPING", None) if name.startswith("__editable__") else None
        if isinstance(mapping, dict):
            paths += [Path(p) for p in mapping.values() if isinstance(p, str)]
    paths += [Path(p) for p in sys.path if p and os.path.isdir(p) and Path(p) != Path.cwd()]
    return paths


_NAMESPACES = (
    "--unshare-user",
    "--disable-userns",
    "--unshare-ipc",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
)


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _via_link(path: Path, roots: Sequence[Path]) -> bool:
    """Whether ``path`` is reached through a symbolic link below the visible root that holds it.

    Inside the sandbox such a link points at the target's real path, which is hidden (or not
    shown) in its own right; a stand-in at the linked path itself cannot even be created.
    """
    root = max((r for r in roots if _under(path, [r])), key=lambda r: len(r.parts))
    return any(p.is_symlink() for p in [path, *path.parents] if root in p.parents)


def _with_real(paths: Iterable[Path]) -> list[Path]:
    """Each existing path and its resolved target (a venv's python links elsewhere), deduplicated,
    outermost first, nested ones dropped."""
    found: list[Path] = []
    for path in paths:
        path = Path(os.path.abspath(path))
        for candidate in (path, path.resolve()):
            if candidate.exists() and candidate not in found:
                found.append(candidate)
    found.sort(key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in found:
        if not _under(path, kept):
            kept.append(path)
    return kept


def bwrap_args(layout: Layout, env: dict[str, str]) -> list[str]:
    """bwrap's options (order matters: mounts apply in sequence) for ``layout`` and ``env``."""
    args = [*_NAMESPACES, "--clearenv"]
    for name, value in sorted(env.items()):
        args += ["--setenv", name, value]
    for top in _SYSTEM:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    readable = [p for p in _with_real(layout.readable) if not _under(p, [Path(t) for t in _SYSTEM])]
    for path in readable:  # after the private /tmp, so that a folder under /tmp shows through
        args += ["--ro-bind", str(path), str(path)]
    roots = [Path(t) for t in _SYSTEM] + readable
    hidden = [p for p in _with_real(layout.hidden) if _under(p, roots) and not _via_link(p, roots)]
    for path in hidden:  # an empty stand-in for each, made read-only below
        args += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    for path in layout.readable:  # e.g. a declared checkpoint inside the hidden cache
        path = Path(os.path.abspath(path))
        if path.exists() and _under(path, hidden) and path not in hidden:
            args += ["--ro-bind", str(path), str(path)]
    for path in hidden:
        if path.is_dir():
            args += ["--remount-ro", str(path)]
    if layout.gpu:
        args += ["--ro-bind", "/sys", "/sys"]
        for node in sorted(Path("/dev").glob("nvidia*")):
            if node.name != "nvidia-modeset":  # display control, not compute
                args += ["--dev-bind-try", str(node), str(node)]
    workdir = layout.workdir if _under(layout.workdir, readable) else Path(_SANDBOX_HOME)
    return args + ["--chdir", str(workdir)]


# --------------------------------------------------------------------------- memory of the tree


def _own_cgroup_v1() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    except (OSError, ValueError):
        pass
    return None


def _own_cgroup_v2() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    except OSError:
        pass
    return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class TreeMemory:
    """Memory of every process the run starts: a cgroup with a hard limit where one can be
    created (then the kernel enforces the limit even between polls), else psutil's summed RSS.

    ``usage()`` is what is compared with the limit; ``oom_killed()`` says whether the kernel
    killed a process of the group for exceeding it.
    """

    def __init__(self, limit: int | None):
        self.limit = limit
        self.kind = "rss"
        self.path: Path | None = None
        self._procs: Path | None = None
        self._pid: int | None = None
        self._seen: dict[int, psutil.Process] = {}
        if limit is not None:
            with contextlib.suppress(OSError):
                self._make_cgroup(limit)

    def _make_cgroup(self, limit: int) -> None:
        name = f"oneshotbench-{os.getpid()}-{next(_cgroup_serial)}"
        v1 = _own_cgroup_v1()
        if v1 is not None and (v1 / "memory.limit_in_bytes").is_file():
            path = v1 / name
            path.mkdir()
            self.path, self.kind = path, "cgroup-v1"
            (path / "memory.limit_in_bytes").write_text(str(limit))
            memsw = path / "memory.memsw.limit_in_bytes"
            if memsw.is_file():  # without it the group just swaps
                memsw.write_text(str(limit))
            self._procs = path / "cgroup.procs"
            return
        v2 = _own_cgroup_v2()
        if v2 is not None and "memory" in (v2 / "cgroup.controllers").read_text().split():
            path = v2 / name
            path.mkdir()
            self.path, self.kind = path, "cgroup-v2"
            (path / "memory.max").write_text(str(limit))
            with contextlib.suppress(OSError):
                (path / "memory.swap.max").write_text("0")
            self._procs = path / "cgroup.procs"

    def enter(self) -> None:
        """Move the calling process into the group (run in the child before it execs)."""
        if self._procs is not None:
            with contextlib.suppress(OSError):
                self._procs.write_text(str(os.getpid()))

    def attach(self, pid: int) -> None:
        self._pid = pid
        if self._procs is not None and str(pid) not in self._procs.read_text().split():
            self.kind, self._procs = "rss", None  # the child could not join: poll instead

    def _read(self, name: str) -> str:
        assert self.path is not None
        return (self.path / name).read_text()

    def usage(self) -> int | None:
        """Bytes in use by the run's processes (anonymous, shared-memory and tmpfs pages)."""
        if self.kind == "cgroup-v1":
            stat = dict(line.split() for line in self._read("memory.stat").splitlines())
            return int(stat.get("total_rss", 0)) + int(stat.get("total_shmem", 0))
        if self.kind == "cgroup-v2":
            stat = dict(line.split() for line in self._read("memory.stat").splitlines())
            return int(stat.get("anon", 0)) + int(stat.get("shmem", 0))
        return self._tree_rss()

    def tree(self) -> list[psutil.Process]:
        """The launched process and its descendants now; each is remembered, so that one
        re-parented away later (without a PID namespace) is still ended by :meth:`kill_all`."""
        if self._pid is None:
            return []
        try:
            root = psutil.Process(self._pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        for proc in procs:
            self._seen.setdefault(proc.pid, proc)
        return procs

    def _tree_rss(self) -> int | None:
        total = 0
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total or None

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the cgroup for exceeding the limit."""
        with contextlib.suppress(OSError, ValueError):
            if self.kind == "cgroup-v1":
                for line in self._read("memory.oom_control").splitlines():
                    if line.startswith("oom_kill "):
                        return int(line.split()[1]) > 0
            if self.kind == "cgroup-v2":
                for line in self._read("memory.events").splitlines():
                    if line.startswith("oom_kill "):
                        return int(line.split()[1]) > 0
        return False

    def pids(self) -> list[int]:
        """Every process of the run still alive: the cgroup's members, or the known tree."""
        if self._procs is not None:
            with contextlib.suppress(OSError, ValueError):
                return [int(p) for p in self._procs.read_text().split()]
        self.tree()
        return [pid for pid, proc in self._seen.items() if _alive(proc)]

    def kill_all(self) -> None:
        """SIGKILL every process of the run until none is left (a fork may race one round)."""
        for _ in range(50):
            pids = [p for p in self.pids() if p != os.getpid()]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError, psutil.Error):
                    if pid in self._seen:
                        self._seen[pid].kill()  # psutil checks it is still the same process
                    else:
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def close(self) -> None:
        """Kill what is left and remove the cgroup."""
        self.kill_all()
        if self.path is not None:
            for _ in range(100):
                try:
                    self.path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # killed processes take a moment to leave the group
                    time.sleep(0.01)


# --------------------------------------------------------------------------- launching


@dataclass
class Sandboxed:
    """A started worker: its Popen, the tree's memory, and how to end every process of it."""

    proc: subprocess.Popen
    memory: TreeMemory
    mode: str

    def exit_status(self, code: int) -> int:
        """The worker's own status: bwrap reports a signal death as 128 + n."""
        if self.mode == "bubblewrap" and code > 128:
            return -(code - 128)
        return code

    def kill(self) -> None:
        """End every process of the run: the sandbox's PID 1 (taking its PID namespace with it),
        the process group, the cgroup's members and every descendant seen; remove the cgroup."""
        self.memory.tree()  # remember the descendants before the root goes
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                self.proc.kill()
        self.proc.wait()
        self.memory.close()


def launch(
    command: Sequence[str],
    *,
    mode: str,
    layout: Layout,
    env: dict[str, str],
    memory_limit: int | None,
    stdout: int,
    pass_fds: Sequence[int],
) -> Sandboxed:
    """Start ``command`` under ``mode`` ("bubblewrap" or "none") inside a fresh memory group.

    Must be called from a thread that outlives the run: bwrap's --die-with-parent (and the
    worker's own parent-death signal) fire when the *thread* that forked them exits.
    """
    memory = TreeMemory(memory_limit)
    fds = list(pass_fds)
    if mode == "bubblewrap":
        read, write = os.pipe()
        payload = b"".join(a.encode() + b"\0" for a in bwrap_args(layout, env))
        try:
            os.write(write, payload)  # well under a pipe's 64 KiB buffer
        finally:
            os.close(write)
        argv = [shutil.which("bwrap") or "bwrap", "--args", str(read), "--", *command]
        fds.append(read)
        child_env: dict[str, str] | None = {}
        cwd = None
    else:
        argv, child_env, cwd = list(command), env, str(layout.workdir)
        read = -1
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            pass_fds=fds,
            env=child_env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=memory.enter if memory.path is not None else None,  # noqa: PLW1509
        )
    except BaseException:
        memory.close()
        raise
    finally:
        if read >= 0:
            os.close(read)
    memory.attach(proc.pid)
    return Sandboxed(proc, memory, mode)
