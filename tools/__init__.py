"""Tools built on the runtime: equiv, diagnose, lr-find, report, and the code emitters (``tools.emit``)."""
