"""One training per run folder: a lock that names the process holding it.

Two trainings started into the same ``output_folder`` would log every epoch twice, count each other's steps and
delete each other's checkpoints. :func:`lock_run_folder` takes an exclusive ``flock`` on ``<folder>/.run.lock``
for the life of the process and writes who holds it there; a second process is refused with that description.
The kernel releases the lock when the process ends, however it ends (``kill -9`` included), so a run that died
never blocks the next one.

Authors
-------
* The summarymixing contributors (2026)
"""

import fcntl
import json
import os
import socket
import sys
import time

LOCK_FILE = ".run.lock"

_held = {}
"""Run folders this process holds: realpath -> open lock file (kept open, so the lock lasts)."""


class RunFolderBusyError(RuntimeError):
    """Another process trains into the same run folder."""


def lock_run_folder(folder):
    """Takes the run folder's lock for this process (again, when it holds it already).

    Arguments
    ---------
    folder : str
        The run folder (created if needed).

    Raises
    ------
    RunFolderBusyError
        Another live process holds the lock; the message says which (process id, host, command, start time).

    Example
    -------
    >>> folder = str(getfixture("tmp_path"))
    >>> lock_run_folder(folder)
    >>> lock_run_folder(folder)  # the same process may take it again
    >>> import subprocess, sys
    >>> code = "import sys; from summarymixing.experiment.run_lock import lock_run_folder; lock_run_folder(sys.argv[1])"
    >>> other = subprocess.run([sys.executable, "-c", code, folder], capture_output=True, text=True)
    >>> "is in use by process" in other.stderr
    True
    """
    key = os.path.realpath(folder)
    if key in _held:
        return
    os.makedirs(folder, exist_ok=True)
    handle = open(os.path.join(folder, LOCK_FILE), "a+", encoding="utf-8")  # noqa: SIM115 (held for the process)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        try:
            described = json.loads(holder)
            who = (
                f"process {described['pid']} on {described['host']} ({described['command']}, started "
                f"{described['started']})"
            )
        except (ValueError, KeyError, TypeError):
            who = "another process"
        raise RunFolderBusyError(
            f"output_folder {folder} is in use by {who}: wait for it to finish, or give another --output_folder"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(
        json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    )
    handle.flush()
    _held[key] = handle
