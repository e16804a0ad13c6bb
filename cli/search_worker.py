"""A worker process of ``nnspec search --jobs N``: ``python -m cli.search_worker OUT INDEX``.

It runs its share of the study's trials (``tools.search.workers.run_one_worker``) with Ctrl-C and
SIGTERM deferred to the training loop's next step boundary (``cli.stop_signals``), as ``nnspec train``
does; its stderr is the worker's log. Exit 0 when the study is done, 130 when stopped, 2 on an error (one
line), 70 on an internal one."""

from __future__ import annotations

import os
import sys

from cli.exit_codes import EXIT_ERRORS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK


def main(argv: list[str]) -> int:
    from backends.contract import Interrupted
    from cli.stop_signals import deferred_stop_signals
    from spec_lang.diagnostics import SpecError
    from tools.search.objective import MetricMissing
    from tools.search.storage import StorageError
    from tools.search.study_dir import StudyDirError
    from tools.search.workers import run_one_worker

    out, index = argv[0], int(argv[1])
    with deferred_stop_signals() as stops:
        try:
            ended = run_one_worker(out, index, should_stop=lambda: bool(stops))
        except (Interrupted, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        except (SpecError, MetricMissing, StorageError, StudyDirError) as exc:
            print(f"worker {index}: error: {exc}", file=sys.stderr)
            return EXIT_ERRORS
        except Exception as exc:  # a bug: one line in the log (NNSPEC_DEBUG=1 shows the traceback)
            if os.environ.get("NNSPEC_DEBUG"):
                raise
            print(f"worker {index}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_INTERNAL
    return EXIT_INTERRUPTED if ended == "stopped" else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
