"""Starts one container process: `python -m modeldeploy.sandbox.node.launcher SPEC.json`.

With isolation (root, Linux), the launcher gives the container what a container
runtime would, using only kernel namespaces:
- a private mount namespace whose root is an overlay of the host's `/` (writes
  land in a per-run layer in the pod's directory, never on the host), with a
  small private /dev, a fresh /proc, the volumes bind-mounted at their
  `mountPath` and the termination-message file at `terminationMessagePath`, then the
  local installation (the "image") again at its own paths where a volume covered them;
- its own PID namespace, so when the main process ends, or the node agent dies
  (PR_SET_PDEATHSIG), the kernel ends every process the container started;
- its own UTS namespace with the pod name as host name.
Process tree: launcher (waits, forwards the exit code) -> init (PID 1 in the
container, reaps orphans) -> the command. All stay in the launcher's process
group, so the node agent's SIGTERM/SIGKILL to the group reaches the command.

Without isolation (not root) the launcher runs the command as its child in the
same process group (paths were already translated by the node agent); should the
node agent die, the parent-death signal makes the launcher kill that group.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_PDEATHSIG = 1
MAX_SYMLINKS = 40
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def die_with_parent() -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")


def _submounts() -> list[str]:
    """Host mount points below / (top-level ones first), from /proc/self/mountinfo."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point != "/":
            points.append(point)
    return sorted(set(points), key=lambda p: (p.count("/"), p))


def inside_root(root: Path, path: str) -> Path:
    """Where `path` lies as seen from inside `root`: symbolic links (like /var/run -> /run)
    resolve within `root`, never out to the host's tree."""
    current = root
    parts = [part for part in path.split("/") if part not in ("", ".")]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if not candidate.is_symlink():
            current = candidate
            continue
        hops += 1
        if hops > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"too many levels of symbolic links in {path}")
        link = os.readlink(candidate)
        if link.startswith("/"):
            current = root
        parts = [p for p in link.split("/") if p not in ("", ".")] + parts
    return current


def _bind(source: str, target: Path, read_only: bool, recursive: bool = False) -> None:
    if Path(source).is_dir():
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)
    mount(source, str(target), None, MS_BIND | (MS_REC if recursive else 0), None)
    if read_only:
        mount("none", str(target), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)


def _make_dev(root: Path, shm_bytes: int) -> None:
    dev = root / "dev"
    mount("tmpfs", str(dev), "tmpfs", MS_NOSUID, "mode=755")
    for name in _DEVICES:
        if Path(f"/dev/{name}").exists():
            _bind(f"/dev/{name}", dev / name, read_only=False)
    for name in ("pts", "shm"):
        (dev / name).mkdir()
    mount("/dev/pts", str(dev / "pts"), None, MS_BIND, None)
    mount("shm", str(dev / "shm"), "tmpfs", MS_NOSUID | MS_NODEV, f"size={shm_bytes}")
    for index, name in enumerate(("stdin", "stdout", "stderr")):
        (dev / name).symlink_to(f"/proc/self/fd/{index}")
    (dev / "fd").symlink_to("/proc/self/fd")


def build_root(spec: dict[str, Any]) -> Path:
    """Mount the container's file system tree (in the current, private mount namespace)."""
    layer = Path(spec["layer"])
    root, upper, work = layer / "root", layer / "upper", layer / "work"
    for folder in (root, upper, work):
        folder.mkdir(parents=True, exist_ok=True)
    mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    mount("overlay", str(root), "overlay", 0, f"lowerdir=/,upperdir={upper},workdir={work}")
    covered: list[str] = []
    for point in _submounts():
        if point.startswith(("/proc", "/dev")) or any(point.startswith(c + "/") for c in covered):
            continue
        if point == str(root) or point.startswith(str(layer)):
            continue
        if Path(point).is_dir():
            mount(point, str(root / point.lstrip("/")), None, MS_BIND | MS_REC, None)
            covered.append(point)
    _make_dev(root, int(spec.get("shmBytes", 64 * 2**20)))
    mount("proc", str(root / "proc"), "proc", MS_NOSUID | MS_NODEV, None)
    for volume in spec["mounts"]:
        target = inside_root(root, volume["target"])
        _bind(volume["source"], target, bool(volume["readOnly"]))
    # The local installation stands for the image's files: a volume over one of its parents
    # (an emptyDir at /tmp, the checkout under /tmp) must not hide it.
    for path in spec.get("keepVisible") or []:
        _bind(path, inside_root(root, path), read_only=True, recursive=True)
    return root


def _run_init(spec: dict[str, Any]) -> int:
    """PID 1 of the container: set up the tree, start the command, reap until it ends."""
    die_with_parent()
    hostname = spec.get("hostname", "")
    if hostname:
        _check(_libc.sethostname(hostname.encode(), len(hostname.encode())), "sethostname")
    root = build_root(spec)
    working_dir = spec.get("workingDir") or "/"
    inside_root(root, working_dir).mkdir(parents=True, exist_ok=True)
    error_fd = _open_start_error(spec)
    os.chroot(root)
    os.chdir(working_dir)
    return _run_command(spec, error_fd)


def _run_command(spec: dict[str, Any], error_fd: int) -> int:
    """Fork and exec the command, tell the agent once it runs, reap until it ends."""
    # The agent signals the whole process group: the command gets SIGTERM itself.
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda *_: None)
    execed_r, execed_w = os.pipe()  # both close-on-exec: EOF once the command is exec'd
    command = os.fork()
    if command == 0:
        os.close(execed_r)
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        _exec(spec, error_fd)
    os.close(execed_w)
    os.read(execed_r, 1)
    os.close(execed_r)
    os.close(spec["startedFd"])  # tells the node agent the command now runs (or failed to)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == command:
            return os.waitstatus_to_exitcode(status)


def _open_start_error(spec: dict[str, Any]) -> int:
    """The file that explains a failed start; closed by a successful exec (O_CLOEXEC)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    return os.open(spec["startErrorFile"], flags, 0o644)


def _exec(spec: dict[str, Any], error_fd: int) -> None:
    argv, env = spec["argv"], spec["env"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as error:
        reason = "executable file not found in $PATH" if error.errno == 2 else error.strerror
        os.write(error_fd, f'exec: "{argv[0]}": {reason}'.encode())
        os._exit(128)


def _exit_like(code: int) -> None:
    """End with the child's status; a death by signal N becomes 128+N, as container runtimes
    report it (PID 1 of a namespace cannot re-raise the signal on itself)."""
    os._exit(128 - code if code < 0 else code & 0xFF)


def _kill_own_group(*_: object) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _run_unisolated(spec: dict[str, Any]) -> None:
    """Without namespaces the launcher stays as the command's parent: if the node agent dies,
    SIGUSR1 (the parent-death signal) makes it kill its whole process group, children of the
    command included (they share the group unless they leave it)."""
    signal.signal(signal.SIGUSR1, _kill_own_group)
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGUSR1, 0, 0, 0), "prctl")
    if os.getppid() == 1:  # the agent died before the signal was armed
        _kill_own_group()
    error_fd = _open_start_error(spec)
    if spec.get("workingDir"):
        try:  # never created here: that would be a folder on the host, not in a container
            os.chdir(spec["workingDir"])
        except OSError as error:
            message = f'chdir to cwd ("{spec["workingDir"]}") failed: {error.strerror}'
            os.write(error_fd, message.encode())
            os._exit(128)
    _exit_like(_run_command(spec, error_fd))


def launch(spec: dict[str, Any]) -> None:
    """`startedFd` (inherited from the node agent) is closed once the command is exec'd (the
    launcher or the container's init waits for its child's exec)."""
    os.set_inheritable(spec["startedFd"], False)
    if not spec.get("isolate"):
        _run_unisolated(spec)
    die_with_parent()
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS), "unshare")
    init = os.fork()
    if init == 0:
        try:
            code = _run_init(spec)
        except OSError as error:
            Path(spec["startErrorFile"]).write_text(f"container setup failed: {error}")
            code = 128
        _exit_like(code)
    os.close(spec["startedFd"])
    Path(spec["initPidFile"]).write_text(str(init))
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda *_: None)  # the group signal reaches the command itself
    _, status = os.waitpid(init, 0)
    _exit_like(os.waitstatus_to_exitcode(status))


def isolation_works(scratch: Path) -> bool:
    """Whether this machine lets us build containers (namespaces, overlay, bind mounts), with
    the layers on the same file system as the real ones (`scratch` is in the sandbox dir)."""
    try:
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS), "unshare")
        mount("none", "/", None, MS_REC | MS_PRIVATE, None)
        layer = {name: scratch / name for name in ("upper", "work", "root")}
        for folder in layer.values():
            folder.mkdir(parents=True, exist_ok=True)
        options = f"lowerdir=/,upperdir={layer['upper']},workdir={layer['work']}"
        mount("overlay", str(layer["root"]), "overlay", 0, options)
        _bind("/dev/null", layer["root"] / "tmp" / "probe", read_only=True)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        sys.exit(0 if isolation_works(Path(sys.argv[2])) else 1)
    launch(json.loads(Path(sys.argv[1]).read_text()))
