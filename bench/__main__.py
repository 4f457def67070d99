"""python -m bench"""

import os
import signal
import sys

from bench.cli import Terminated, main

try:
    code = main()
except (KeyboardInterrupt, Terminated) as exc:
    # What was measured is stored and the run's workers are gone: the cleanup
    # ran on the way out.  The interpreter's own teardown (a garbage
    # collection through torch, Numba, pandas and the rest) took a second on
    # a quiet machine and over five on a busy one: skip it.
    print("interrupted", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe
            pass
    if isinstance(exc, KeyboardInterrupt):  # end by SIGINT, as a shell expects of Ctrl-C
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(exc.code)
sys.exit(code)
