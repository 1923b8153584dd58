"""Entry point of headwater's worker processes: ``python -m headwater.exec._worker FD PARENT_PID``.

Started by the session's worker pool with posix_spawn; the loop itself is C (headwater._core).
"""

import signal
import sys

from headwater import _core


class _Cancelled(BaseException):
    """The host cancelled the running task (SIGUSR1)."""


def _cancel(signum, frame):
    raise _Cancelled()


def main() -> None:
    fd, parent = int(sys.argv[1]), int(sys.argv[2])
    # Ctrl-C in the host's terminal reaches the whole process group: the host decides, not us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, _cancel)
    try:
        _core.worker_main(fd, parent)
    except _Cancelled:
        pass  # a cancel that raced the end of the last task
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # nothing to cancel while the process exits


if __name__ == "__main__":
    main()
