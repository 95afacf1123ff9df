"""Worker processes and Ray clusters without torch: what the trainer's pools
(``netsim/learn/pool.py``) and the sweeps (``netsim/sweep.py``) share, light enough for the
command line to import before it knows whether a run will train (``netsim list`` and
``netsim --help`` must not wait for torch).

* local workers: :func:`worker_setup` (an initializer: ends with its parent, ignores
  SIGINT), :func:`stop_workers`, :func:`die_with_parent`;
* Ray: :func:`check_ray` refuses at once what would make ``ray.init`` fail or retry
  (:class:`RayUnavailable`, naming the setting and the address), :func:`connect_ray`.
"""

from __future__ import annotations

import os
from typing import Any


def worker_setup() -> None:
    """Pool-worker initializer (local pools: the trainer's and the sweep's): the worker ends
    with its parent (:func:`die_with_parent`) and ignores SIGINT. Ctrl-C reaches every
    process of the terminal's process group; the parent alone handles it (it shuts the pool
    down: :meth:`ProcessPool.close`, :func:`stop_workers`), so the user sees its one line,
    not a KeyboardInterrupt traceback from each worker. (A worker still importing torch has
    not run its initializer yet: a Ctrl-C in a pool's first seconds can still show one.)"""
    import signal

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_workers(executor: Any) -> None:
    """Terminate the processes of a ``ProcessPoolExecutor`` now (work under way is dropped;
    the caller then shuts the executor down): what ends a sweep's points under way after a
    Ctrl-C, as its workers ignore SIGINT (:func:`worker_setup`). Only for results that are
    small (a sweep's row: one pipe write, which a termination cannot cut in half); a worker
    terminated while it writes a large result (a trainer's chunk) leaves the executor's
    reader waiting for the rest of the message forever."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def die_with_parent() -> None:
    """Pool-worker initializer: end this worker as soon as its parent dies (kill -9
    included), so no orphan goes on computing or writing. A daemon thread waits on the
    parent's sentinel (a pipe end that becomes readable when the parent is gone): no
    polling, on every platform."""
    import multiprocessing
    import multiprocessing.connection
    import threading

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


class RayUnavailable(ValueError):
    """Ray cannot be used as asked (not installed, nothing answers at the address, no
    cluster to join, a cluster of another Ray version); the message names the setting
    (``learning.ray_address`` or ``--ray-address``) and the address."""


RAY_PROBE_S = 3.0  # how long a TCP connect to a cluster's address may take before it is refused
RAY_ADDRESSES = "'local', 'auto', 'HOST:PORT' or 'ray://HOST:PORT'"


def _named(setting: str, address: str) -> str:
    """``--ray-address '...'`` (a flag) or ``learning.ray_address = '...'`` (a field)."""
    return f"{setting} '{address}'" if setting.startswith("-") else f"{setting} = '{address}'"


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT``, ``[IPv6]:PORT`` or ``ray://HOST:PORT``; None if it is
    none of them."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def check_ray(address: str, setting: str) -> None:
    """Refuse at once (:class:`RayUnavailable`) what would make ``ray.init`` fail or retry
    for minutes: Ray not installed, an address of no known form, ``HOST:PORT`` where nothing
    answers a TCP connect within :data:`RAY_PROBE_S` seconds, ``auto`` with no running
    cluster to find. ``local`` (a Ray started here) needs only Ray itself."""
    import socket

    named = _named(setting, address)
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RayUnavailable(
            f"{named} needs Ray, which is not installed: pip install 'netsim[ray]'"
        ) from None
    if address == "local":
        return
    if address == "auto":
        try:  # Ray's own lookup (RAY_ADDRESS, the last `ray start`, a running GCS)
            from ray._private.services import canonicalize_bootstrap_address

            found = canonicalize_bootstrap_address("auto")
        except ConnectionError:
            raise RayUnavailable(
                f"{named}: no running Ray cluster was found on this machine (none started "
                "with 'ray start --head', no RAY_ADDRESS); start one, give its HOST:PORT, or "
                "use 'local' to start Ray here"
            ) from None
        except Exception:  # noqa: BLE001 - Ray's private API moved: ray.init will say
            return
        target = _host_port(found) if found else None
    else:
        target = _host_port(address)
        if target is None:
            raise RayUnavailable(f"{named}: not an address Ray takes; expected {RAY_ADDRESSES}")
    if target is None:
        return
    host, port = target
    try:
        with socket.create_connection((host, port), timeout=RAY_PROBE_S):
            pass
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {RAY_PROBE_S:g} s"
        else:
            reason = exc.strerror or str(exc)
        where = "" if address != "auto" else ", the cluster 'auto' found"
        raise RayUnavailable(
            f"{named}: nothing answers at {host}:{port}{where} ({reason}); start the cluster "
            "there (ray start --head) or correct the address"
        ) from None


def connect_ray(address: str, setting: str) -> bool:
    """``ray.init`` for ``address`` ("local" starts Ray here) unless this process is
    connected already, after :func:`check_ray`; a failure of ``ray.init`` itself (e.g. a
    cluster of another Ray or Python version) becomes a :class:`RayUnavailable` naming
    ``setting`` and the address. Returns whether this call connected (the caller then
    calls ``ray.shutdown()``)."""
    try:
        import ray

        connected = ray.is_initialized()
    except ImportError:
        connected = False
    if connected:
        return False
    check_ray(address, setting)  # Ray missing: says so
    import ray

    try:
        ray.init(
            address=None if address == "local" else address,
            include_dashboard=False,
            log_to_driver=False,
        )
    except (RuntimeError, ConnectionError, ValueError, TimeoutError) as exc:
        text = " ".join(str(exc).split())
        text = text if len(text) <= 400 else text[:397] + "..."
        raise RayUnavailable(
            f"{_named(setting, address)}: Ray could not connect: {type(exc).__name__}: {text}"
        ) from None
    return True
