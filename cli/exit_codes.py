"""The exit codes of every ``nnspec`` command: one table, documented in the README.

====  ====================  ===================================================================
code  name                  meaning
====  ====================  ===================================================================
0     EXIT_OK               success
1     EXIT_FINDINGS         the command ran and found something: warnings under ``check
                            --strict``, files to reformat under ``fmt --check``, backends that
                            part under ``equiv``
2     EXIT_ERRORS           a user error: a bad spec, data file, argument or output path;
                            nothing was written
3     EXIT_DIVERGED         training diverged (``compiler.semantics.divergence``); the weights after the
                            last good step are saved
74    EXIT_IO               a file could not be written (disk full, file too large, I/O error);
                            the previous file (a checkpoint) is intact, no temporary file is left
70    EXIT_INTERNAL         a bug in nnspec (``NNSPEC_DEBUG=1`` shows the traceback)
130   EXIT_INTERRUPTED      stopped by Ctrl-C or SIGTERM; ``train`` wrote a checkpoint first
====  ====================  ===================================================================
"""

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERRORS = 2
EXIT_DIVERGED = 3
EXIT_INTERNAL = 70
EXIT_IO = 74
EXIT_INTERRUPTED = 130

# (code, name, meaning) rows, for the README's table and `nnspec --help`.
EXIT_CODES = (
    (EXIT_OK, "ok", "success"),
    (EXIT_FINDINGS, "findings", "warnings under `check --strict`, unformatted files under `fmt --check`, "
                                "backends that part under `equiv`"),
    (EXIT_ERRORS, "error", "a bad spec, data file, argument or output path; nothing was written"),
    (EXIT_DIVERGED, "diverged", "training diverged; the weights after the last good step are saved"),
    (EXIT_INTERNAL, "internal error", "a bug in nnspec (NNSPEC_DEBUG=1 shows the traceback)"),
    (EXIT_IO, "write failed", "a file could not be written (disk full, file too large, I/O error); "
                              "the previous checkpoint is intact and no temporary file is left"),
    (EXIT_INTERRUPTED, "interrupted", "Ctrl-C or SIGTERM; `train` wrote a checkpoint first"),
)
