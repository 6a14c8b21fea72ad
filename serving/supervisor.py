"""The parent process of ``triage serve``: starts the workers, replaces the ones that die, stops in time.

Built on uvicorn's ``Multiprocess`` supervisor (signals, health-check pings), with three changes:

- **Connections spread over the workers.** On Linux each worker listens on a socket of its own bound with
  ``SO_REUSEPORT``, and the kernel spreads new connections over the workers' sockets (by a hash of the
  client's address and port). With one shared socket, the worker that wakes first accepted every
  connection of a burst: 16 keep-alive clients all ended on one worker while the other idled. The
  parent holds a bound, non-listening socket on the port so the port stays reserved.
- **No crash loops.** A worker that exits before it was ever ready (invalid settings, a model that does
  not load, a crash in start-up) would fail the same way again: the supervisor stops the server with one
  error line instead of restarting it forever; so it does when ready workers crash ``CRASH_LIMIT`` times
  within ``CRASH_WINDOW_S``. A worker that restarted itself after a stuck inference call
  (``EXIT_RECYCLED``) or that died later (killed, out of memory) is replaced.
- **Bounded shutdown.** On SIGTERM / SIGINT the workers get SIGTERM, drain their requests for up to the
  graceful timeout and exit; any worker still there ``stop_timeout_s`` after the signal is killed.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import socket
import sys
import time

from uvicorn.config import Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from serving.exits import EXIT_CONFIG, EXIT_CRASHED, EXIT_RECYCLED, SUPERVISED_ENV

log = logging.getLogger("triage.serving")

CRASH_LIMIT = 5
CRASH_WINDOW_S = 60.0
PING_TIMEOUT_S = 0.5


def reuse_port_supported() -> bool:
    """SO_REUSEPORT spreads connections over sockets on Linux only (elsewhere it is not a balancer)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def tcp_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound (not yet listening) TCP socket; listening starts when a worker serves on it.

    Created with ``IPPROTO_TCP`` as its protocol, unlike uvicorn's own sockets: asyncio sets TCP_NODELAY on
    accepted connections only when the listening socket says it is TCP. Without it, Nagle's algorithm and
    the client's delayed ACK added ~40 ms to every response with 2 workers.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), port))
    sock.set_inheritable(True)
    return sock


class Worker(Process):
    """One worker process; with ``listen`` set it binds its own ``SO_REUSEPORT`` socket to that address."""

    def __init__(self, config: Config, sockets: list[socket.socket], listen: tuple[str, int] | None) -> None:
        self.listen = listen
        self.ready_seen = False  # the worker answered a health check saying it serves
        self.last_answer = time.monotonic()
        super().__init__(config, sockets)

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # runs in the worker process
        os.environ[SUPERVISED_ENV] = "1"
        try:
            if self.listen is not None:
                sockets = [tcp_socket(*self.listen, reuse_port=True)]
            super().target(sockets)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            log.exception("worker crashed", extra={"pid": os.getpid()})  # one JSON line, stack included
            raise SystemExit(EXIT_CRASHED) from None


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def decide(pid: int | None, code: int | None, ready_seen: bool, recent_crashes: int) -> tuple[bool, str]:
    """(stop the server?, what to log) when worker ``pid`` has exited with ``code``."""
    if code == EXIT_RECYCLED:
        return False, f"worker [{pid}] restarted itself after a stuck inference call; starting a fresh one"
    if code == EXIT_CONFIG:
        return True, "a worker could not read its settings (the line above says why); stopping the server"
    if not ready_seen:
        return True, (
            f"worker [{pid}] exited ({describe_exit(code)}) before it was ready; stopping the server rather "
            "than restarting it in a loop (its log above says why)"
        )
    if recent_crashes >= CRASH_LIMIT:
        return True, f"workers exited {recent_crashes} times within {CRASH_WINDOW_S:g} s; stopping the server"
    return False, f"worker [{pid}] exited ({describe_exit(code)}); starting a replacement"


class Supervisor(Multiprocess):
    """See the module docstring. After ``run``, ``failure`` holds the reason when it stopped on its own."""

    def __init__(
        self, config: Config, sockets: list[socket.socket], *, listen: tuple[str, int] | None, stop_timeout_s: float
    ) -> None:
        super().__init__(config, sockets)
        self.listen = listen
        self.stop_timeout_s = stop_timeout_s
        self.failure: str | None = None
        self._crashes: collections.deque[float] = collections.deque()

    def _spawn(self) -> Worker:
        worker = Worker(self.config, self.sockets, self.listen)
        worker.start()
        return worker

    def init_processes(self) -> None:
        self.processes = [self._spawn() for _ in range(self.processes_num)]

    def run(self) -> None:
        log.info(f"supervisor [{os.getpid()}] starting {self.processes_num} worker(s)")
        self.init_processes()
        while not self.should_exit.wait(0.5):
            self.handle_signals()
            self.keep_subprocess_alive()
        self.stop_workers()

    def _gone(self, worker: Worker) -> bool:
        """True when ``worker`` has exited, or hung (no answer within the health-check timeout) and was killed."""
        if not worker.process.is_alive():
            return True
        now = time.monotonic()
        if worker.ping(PING_TIMEOUT_S):
            worker.last_answer = now
            if not worker.ready_seen:
                worker.ready_seen = worker.is_ready(PING_TIMEOUT_S)
            return False
        if now - worker.last_answer < self.config.timeout_worker_healthcheck or not worker.process.is_alive():
            return not worker.process.is_alive()
        log.error(f"worker [{worker.pid}] has not answered for {self.config.timeout_worker_healthcheck} s; killing it")
        worker.kill()
        return True

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, worker in enumerate(self.processes):
            if not isinstance(worker, Worker) or not self._gone(worker):
                continue
            worker.process.join()
            if self.should_exit.is_set():
                return
            now = time.monotonic()
            if worker.exitcode != EXIT_RECYCLED:
                self._crashes.append(now)
            while self._crashes and now - self._crashes[0] > CRASH_WINDOW_S:
                self._crashes.popleft()
            stop, message = decide(worker.pid, worker.exitcode, worker.ready_seen, len(self._crashes))
            if stop:
                log.error(message)
                self.failure = message
                self.should_exit.set()
                return
            log.warning(message)
            self.processes[idx] = self._spawn()

    def stop_workers(self) -> None:
        """SIGTERM every worker; kill those still running ``stop_timeout_s`` later."""
        for worker in self.processes:
            worker.terminate()
        deadline = time.monotonic() + self.stop_timeout_s
        for worker in self.processes:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.error(f"worker [{worker.pid}] did not stop within {self.stop_timeout_s:g} s; killing it")
                worker.process.kill()
                worker.process.join(5)

    def restart_all(self) -> None:
        """SIGHUP: replace each worker, bringing the new one into service before stopping the old one."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.process.join()
                log.error(f"worker [{new.pid}] was not ready in time; keeping worker [{old.pid}]")
                return
            new.ready_seen = True
            old.terminate()
            old.process.join(self.stop_timeout_s)
            self.processes[idx] = new

    def handle_ttin(self) -> None:
        log.info("SIGTTIN: one more worker")
        self.processes_num += 1
        self.processes.append(self._spawn())
