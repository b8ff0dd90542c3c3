"""bench.startup finds gunicorn's workers by the process tree, as `make run` starts it: make, a shell
that runs gunicorn, gunicorn's master, and the workers the master forks."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.startup import gunicorn_workers, worker_memory

# A stand-in for gunicorn: a master that forks two workers, all sleeping.
MASTER = """
import os, time
for _ in range(2):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
time.sleep(60)
"""


def test_only_the_masters_children_are_counted_as_workers(tmp_path):
    script = tmp_path / "gunicorn"
    script.write_text(MASTER)
    shell = subprocess.Popen(
        ["/bin/sh", "-c", f"{sys.executable} {script}; true"],  # the shell's command line names gunicorn too
        start_new_session=True,
    )
    try:
        workers = []
        for _ in range(100):
            workers = gunicorn_workers(shell.pid)
            if len(workers) == 2:
                break
            time.sleep(0.05)
        master = [pid for pid in gunicorn_workers_and_master(shell.pid) if pid not in workers]
        assert len(workers) == 2 and len(master) == 1
        assert all(parent_of(pid) == master[0] for pid in workers)
        sizes = worker_memory(shell.pid)
        assert len(sizes) == 2 and all(0 < pss <= rss for rss, pss in sizes)
    finally:
        os.killpg(shell.pid, signal.SIGTERM)
        shell.wait()


def parent_of(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def gunicorn_workers_and_master(session):
    """Every process of the session running the stand-in script."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if (
                int(stat[stat.rindex(")") + 2 :].split()[3]) == session
                and command[1:2]
                and command[1].endswith(b"/gunicorn")
            ):
                found.append(int(entry))
    return found
