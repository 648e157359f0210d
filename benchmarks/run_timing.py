"""One run of a benchmark program, timed: wall time from the parent's
monotonic clock (time.perf_counter) and CPU time (user + system, every
thread) from the child's rusage (os.wait4), both to the microsecond.
/usr/bin/time's 10 ms ticks are too coarse for a 0.3 s program. The
program's output is discarded; a nonzero exit raises."""
import os
import subprocess
import time


def run_once(binary, args, env=None):
    """(wall seconds, CPU seconds) of one run of `binary args`."""
    start = time.perf_counter()
    p = subprocess.Popen([binary] + list(args), env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, [binary] + list(args))
    return wall, usage.ru_utime + usage.ru_stime
