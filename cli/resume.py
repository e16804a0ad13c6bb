"""The command that continues an interrupted run: ``nnspec train SPEC --resume RUN_DIR`` with the options it
was started with (``runtime.run_options`` says which a checkpoint records and how a resume uses them)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from runtime.run_options import FLAGS, NEGATABLE, plain


def resume_command(spec_path: Path, run_dir: Path, overrides: dict[str, Any]) -> str:
    """``nnspec train SPEC --resume RUN_DIR`` with every recorded override, shell-quoted."""
    words = ["nnspec", "train", str(spec_path), "--resume", str(run_dir)]
    for key, value in plain(overrides).items():
        flag = FLAGS.get(key, "--" + key.replace("_", "-"))
        if value is False and key in NEGATABLE:
            words.append(flag.replace("--", "--no-", 1))
        else:
            words += [flag] if value is True else [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)
