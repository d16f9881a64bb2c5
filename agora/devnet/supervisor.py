"""The devnet's process supervisor: starts detached services with a log file and a pid file each, tells whether
they still run, and stops exactly the processes it started (pid + start time, so a recycled pid is never hit).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    fields = raw[raw.rfind(")") + 2:].split()
    if fields and fields[0] == "Z":  # a zombie has exited; only its parent has not reaped it yet
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


@dataclass
class ServiceRecord:
    """What the pid file of one service holds."""

    name: str
    pid: int
    start_time: int | None
    log: str
    cmd: list[str]
    # What a restart needs; the environment holds paths and URLs, never a key (keys travel in key files).
    env: dict[str, str] | None = None
    cwd: str | None = None

    @property
    def running(self) -> bool:
        now = _start_time(self.pid)
        return now is not None and (self.start_time is None or now == self.start_time)


class Supervisor:
    """Services under `root`: `root/pids/<name>.json` and `root/logs/<name>.log`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pid_dir = root / "pids"
        self.log_dir = root / "logs"

    def pid_file(self, name: str) -> Path:
        return self.pid_dir / f"{name}.json"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(
        self, name: str, cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> ServiceRecord:
        """Starts `cmd` in its own session (it outlives this process; stopping reaches its children too)."""
        old = self.record(name)
        if old is not None and old.running:
            raise RuntimeError(f"service {name} is already running (pid {old.pid})")
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_file(name)
        with open(log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} start: {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(cmd),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
            )
        record = ServiceRecord(name, proc.pid, _start_time(proc.pid), str(log_path), list(cmd),
                               {k: v for k, v in env.items() if k.startswith(("AGORA_", "PYTHON", "PATH"))}
                               if env is not None else None, str(cwd) if cwd else None)
        # The Popen object is dropped on purpose: the service belongs to the devnet, not to this process.
        proc.returncode = 0  # keeps Popen.__del__ from warning about a child we deliberately do not wait for
        tmp = self.pid_file(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(self.pid_file(name))
        return record

    def record(self, name: str) -> ServiceRecord | None:
        try:
            raw = json.loads(self.pid_file(name).read_text())
        except (OSError, ValueError):
            return None
        return ServiceRecord(**raw)

    def names(self) -> list[str]:
        if not self.pid_dir.exists():
            return []
        return sorted(p.stem for p in self.pid_dir.glob("*.json"))

    def state(self, name: str) -> str:
        """running | exited | stopped (no pid file)."""
        rec = self.record(name)
        if rec is None:
            return "stopped"
        return "running" if rec.running else "exited"

    def signal(self, name: str, sig: int) -> bool:
        """Sends `sig` to the service's whole process group; False when it is not running."""
        rec = self.record(name)
        if rec is None or not rec.running:
            return False
        try:
            os.killpg(rec.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            os.kill(rec.pid, sig)
        return True

    def stop(self, name: str, *, timeout_s: float = 10.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout_s`; removes the pid file. True when something was running."""
        return bool(self.stop_all([name], timeout_s=timeout_s))

    def stop_all(self, names: list[str], *, timeout_s: float = 10.0) -> list[str]:
        """`stop` for several services side by side: all get SIGTERM at once, the ones still running after
        `timeout_s` get SIGKILL (a worker finishing its task no longer holds up the next one's shutdown).
        Returns the names that were running."""
        running = []
        for name in names:
            rec = self.record(name)
            if rec is not None and rec.running:
                self.signal(name, signal.SIGTERM)
                running.append((name, rec))
        for sig, wait_s in ((signal.SIGKILL, timeout_s), (None, 5.0)):
            deadline = time.monotonic() + wait_s
            while any(rec.running for _, rec in running) and time.monotonic() < deadline:
                for _, rec in running:
                    _reap(rec.pid)
                time.sleep(0.05)
            if sig is not None:
                for name, rec in running:
                    if rec.running:
                        self.signal(name, sig)
        for name in names:
            self.pid_file(name).unlink(missing_ok=True)
        return [name for name, _ in running]

    def restart(self, name: str) -> ServiceRecord:
        """Stops the service if it runs and starts the same command again, in the same environment."""
        rec = self.record(name)
        if rec is None:
            raise RuntimeError(f"no service {name} was started here")
        self.stop(name)
        return self._start_from(rec, name)

    def start_like(self, model: str, name: str) -> ServiceRecord:
        """Starts `name` with the command and environment `model` was started with (e.g. a second worker
        process of the same provider: it consumes the same queue and shares the provider's workspace)."""
        rec = self.record(model)
        if rec is None:
            raise RuntimeError(f"no service {model} was started here")
        return self._start_from(rec, name)

    def _start_from(self, rec: ServiceRecord, name: str) -> ServiceRecord:
        env = None
        if rec.env is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
            env.update(rec.env)
        return self.start(name, rec.cmd, env=env, cwd=Path(rec.cwd) if rec.cwd else None)

    def kill(self, name: str) -> bool:
        """SIGKILL at once (tests of crash recovery); keeps the pid file so status shows `exited`."""
        rec = self.record(name)
        if rec is None or not self.signal(name, signal.SIGKILL):
            return False
        deadline = time.monotonic() + 5
        while rec.running and time.monotonic() < deadline:
            _reap(rec.pid)
            time.sleep(0.05)
        return True


def _reap(pid: int) -> None:
    """Collects the exit status when the service happens to be our own child (started in this process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
