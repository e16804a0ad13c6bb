"""Progress for ``nnspec train``: a rich bar per epoch (on a terminal), then one line of metrics per
epoch; under ``-q``, nothing (the command's final lines say how the run ended)."""

from __future__ import annotations

from backends.contract import LoopEvents


def format_logs(logs: dict) -> str:
    parts = [f"{k} {v}" if isinstance(v, int) else f"{k} {v:.4f}" for k, v in logs.items()  # counts as counts
             if k not in ("epoch", "seconds", "learning_rate") and "/" not in k]  # not the --track statistics
    return "  ".join(parts) + f"  ({logs['seconds']:.1f}s)"


class TrainingProgress:
    """Shows a bar while an epoch runs (when the terminal is interactive) and a line when it ends;
    with ``quiet``, neither."""

    def __init__(self, epochs: int, quiet: bool = False):
        from rich.console import Console

        self.epochs = epochs
        self.console = Console()
        self.quiet = quiet
        self.show_bar = not quiet and self.console.is_terminal
        self.completed: list[dict] = []
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.show_bar:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(),
                                      console=self.console, transient=True)
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False

    def events(self) -> LoopEvents:
        def epoch_start(epoch, steps):
            if self._progress is not None:
                if self._task is not None:
                    self._progress.remove_task(self._task)
                self._task = self._progress.add_task(f"epoch {epoch + 1}/{self.epochs}", total=steps, loss=0.0)

        def batch_end(batch, loss):
            if self._progress is not None:
                if loss is None:
                    self._progress.update(self._task, advance=1)
                else:
                    self._progress.update(self._task, advance=1, loss=loss)

        def epoch_end(epoch, logs):
            self.completed.append(logs)
            if self.quiet:
                return
            self.console.print(f"epoch {epoch + 1}/{self.epochs}  {format_logs(logs)}", highlight=False,
                               soft_wrap=True)

        return LoopEvents(epoch_start, batch_end, epoch_end)
