"""``DeviceSteps``: the torch trainer's steps for the shared loop (``backends.contract.Steps``), with no
host synchronisation per step.

- Data: on the device when the training and validation arrays together take at most
  ``DEVICE_DATA_FRACTION`` of the device's free memory (always on the CPU, where "the device" is host memory,
  shared with NumPy without a copy); otherwise in pinned host memory, each batch gathered on the host and
  copied without blocking, one batch ahead (``HostBatches``). A batch is gathered by ``index_select`` with the
  epoch's order, uploaded once per epoch.
- Results: each step writes its loss and its metrics' sums (``compiler.semantics.metrics.metric_terms``) into
  a row of a buffer on the device; ``read()`` copies the rows to the host in one transfer and folds them into
  the running sums in step order (``compiler.semantics.metrics.MetricSums``, as the host steps keep them).
- Divergence (``compiler.semantics.divergence``): found at ``read()``, from the steps' losses and one fused
  finiteness check of every weight and optimizer slot (a non-finite gradient leaves a non-finite weight or
  slot behind it). When a read finds one, the trainer goes back to the copy taken at the previous read
  (weights, slots, iteration count, loss scale: ``UpdateUndo`` on the device) and replays the steps since
  with the checked ``train_batch``, which stops at the first bad step, undoes it and raises ``Diverged``;
  this raises it on, with ``step_index`` set and the sums those of the good steps.
- ``mixed_float16``: the steps loss scaling skipped are counted from their overflow flags at each read.
"""

from __future__ import annotations

import numpy as np
import torch

from backends.torch.device import float_buffer_dtype
from backends.torch.undo import UpdateUndo
from compiler.semantics.divergence import Diverged, loss_diverged
from compiler.semantics.metrics import MetricSums, metric_terms
from compiler.semantics.outputs import heads as output_heads

DEVICE_DATA_FRACTION = 0.25
MAX_PENDING = 512  # steps between two reads at most (a read is forced when the buffer is full)


def fits_on_device(device: torch.device, nbytes: int) -> bool:
    """True when ``nbytes`` of data may live on ``device`` (see the module docstring)."""
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= DEVICE_DATA_FRACTION * free
    return nbytes <= 1 << 30  # mps: no query of free memory; a GiB at most


class DeviceBatches:
    """The data set on the device; ``batch(rows)`` gathers the rows (a device index tensor)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device):
        self.x, self.y = x.to(device), y.to(device)

    def batch(self, rows: torch.Tensor, key) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x.index_select(0, rows), self.y.index_select(0, rows)


class HostBatches:
    """The data set in pinned host memory; a batch is gathered on the host and copied without blocking, and
    the next one is started before the current one is used (``batch(rows, key, following)``)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device):
        self.pin = device.type == "cuda"  # pinned memory is CUDA's (elsewhere the same path runs unpinned)
        self.x = x.pin_memory() if self.pin else x
        self.y = y.pin_memory() if self.pin else y
        self.device = device
        self.ahead: tuple = (None, None)

    def _start(self, rows_host: torch.Tensor):
        xb = torch.empty((len(rows_host), *self.x.shape[1:]), dtype=self.x.dtype, pin_memory=self.pin)
        yb = torch.empty((len(rows_host), *self.y.shape[1:]), dtype=self.y.dtype, pin_memory=self.pin)
        torch.index_select(self.x, 0, rows_host, out=xb)
        torch.index_select(self.y, 0, rows_host, out=yb)
        return xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)

    def batch(self, rows_host: torch.Tensor, key, following: torch.Tensor | None = None):
        got_key, got = self.ahead
        current = got if got_key == key else self._start(rows_host)
        self.ahead = (None, None)
        if following is not None:
            self.ahead = ((key[0], key[1] + 1), self._start(following))
        return current


class DeviceSteps:
    """``backends.contract.Steps`` for ``backends.torch.trainer.TorchTrainer`` (see the module docstring)."""

    def __init__(self, trainer, x: np.ndarray, y: np.ndarray):
        self.trainer = trainer
        self.x_host, self.y_host = x, y
        head = output_heads(trainer.spec)[0]  # the one output (its loss and metrics, also when written per key)
        self.metrics, self.loss_ir = list(head.metrics), head.loss
        self.device = trainer.device
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=trainer.np_dtype))
        yt = torch.from_numpy(trainer.target_array(y))
        self.on_device = fits_on_device(self.device, xt.nbytes + yt.nbytes)
        self.data = (DeviceBatches if self.on_device else HostBatches)(xt, yt, self.device)
        width = 1 + len(self.metrics)  # loss, then each metric's sum
        self.rows = torch.zeros((MAX_PENDING, width), dtype=float_buffer_dtype(self.device), device=self.device)
        self.flags = torch.zeros(MAX_PENDING, device=self.device)  # loss scaling's overflow flags
        self.state_flag = torch.zeros((), device=self.device)
        self.undo = UpdateUndo([e.tensor for e in trainer.model.entries], trainer.optimizer,
                               [trainer.loss_scale, trainer._growth_tracker] if trainer.scaling else [])
        self.pending: list[tuple[int, int, float, int]] = []  # (batch, step, lr, size) since the last read
        self.order: list[np.ndarray] = []
        self.epoch_key = 0
        self.snapshot = None
        self.reset({})

    # ---- the running sums ----------------------------------------------------------------------------
    def reset(self, sums: dict) -> None:
        self.pending.clear()
        self.sums = MetricSums(self.metrics, self.loss_ir, self.trainer.outputs_are_logits, sums)

    def _state(self) -> dict[str, float]:
        return self.sums.state()

    def _fold(self, rows: np.ndarray, sizes: list[int]) -> None:
        """Add steps' rows (loss, metric sums) to the running sums, in order."""
        for row, n in zip(rows, sizes):
            self.sums.add_terms(float(row[0]), n, row[1:])

    def _record(self, k: int, out: torch.Tensor, loss: torch.Tensor, yb: torch.Tensor) -> None:
        """Row ``k``: the step's loss and metric sums, on the device."""
        row = self.rows[k]
        row[0].copy_(loss.detach())
        if self.metrics:
            out = out.detach()
            if out.dtype in (torch.bfloat16, torch.float16):
                out = out.float()
            logits = self.trainer.outputs_are_logits
            for j, name in enumerate(self.metrics, start=1):
                row[j].copy_(metric_terms(name, self.loss_ir, out, yb, logits))

    # ---- training -----------------------------------------------------------------------------------------
    def set_order(self, order: list[np.ndarray]) -> None:
        self.order = order
        self.epoch_key += 1
        perm = np.concatenate(order) if order else np.zeros(0, dtype=np.int64)
        rows = torch.from_numpy(perm.astype(np.int64))
        self.perm = rows.to(self.device) if self.on_device else rows
        self.offsets = np.concatenate([[0], np.cumsum([len(o) for o in order])]).astype(np.int64)
        if self.snapshot is None:
            self._take_snapshot()

    def _rows(self, b: int) -> torch.Tensor:
        return self.perm[self.offsets[b]:self.offsets[b + 1]]

    def _batch(self, b: int):
        if self.on_device:
            return self.data.batch(self._rows(b), None)
        following = self._rows(b + 1) if b + 1 < len(self.order) else None
        return self.data.batch(self._rows(b), (self.epoch_key, b), following)

    def train(self, b: int, step: int, lr: float) -> None:
        if len(self.pending) == MAX_PENDING:
            self.read()
        k = len(self.pending)
        xb, yb = self._batch(b)
        found = self.flags[k]
        found.zero_()
        out, loss = self.trainer._update(xb, yb, step, lr, found)
        self._record(k, out, loss, yb)
        self.pending.append((b, step, lr, len(self.order[b])))

    # ---- evaluation -----------------------------------------------------------------------------------------
    def evaluate(self, batch_size: int) -> None:
        tr = self.trainer
        tr.ctx.training = False
        n = len(self.x_host)
        with torch.no_grad():
            for start in range(0, n, batch_size):
                if len(self.pending) == MAX_PENDING:
                    self.read()
                rows = torch.arange(start, min(start + batch_size, n), device=self.device if self.on_device
                                    else None)
                xb, yb = (self.data.batch(rows, None) if self.on_device
                          else self.data.batch(rows, ("eval", start)))
                out, loss = tr._total_loss(xb, yb)
                k = len(self.pending)
                self._record(k, out, loss, yb)
                self.pending.append((-1, -1, 0.0, len(rows)))

    # ---- reading: the one wait for the device --------------------------------------------------------------
    def read(self) -> dict[str, float]:
        """Fold every pending step into the sums; on divergence, go back and replay (module docstring)."""
        n = len(self.pending)
        if n == 0:
            return self._state()
        tr = self.trainer
        sizes = [p[3] for p in self.pending]
        rows = self.rows[:n].cpu().numpy()
        if self.pending[0][1] < 0:  # evaluation
            self._fold(rows, sizes)
            self.pending.clear()
            return self._state()
        self.state_flag.zero_()
        tr._flag_non_finite(self.undo.state_tensors(), self.state_flag)
        if bool(self.state_flag.item()) or any(loss_diverged(float(v)) for v in rows[:, 0]):
            self._replay()  # raises Diverged, unless the replay found every step good after all
        else:
            self._fold(rows, sizes)
            if tr.scaling:
                tr._skipped(int(self.flags[:n].sum().item()))
        self.pending.clear()
        self._take_snapshot()
        return self._state()

    def _take_snapshot(self) -> None:
        self.undo.take()
        self.snapshot = self.trainer.skipped_steps

    def _replay(self) -> None:
        """Back to the last read's copy, then the pending steps again, checked one by one (``train_batch``):
        the first bad one is undone and raises ``Diverged``, raised on with ``step_index`` and the sums of
        the good steps folded in."""
        tr = self.trainer
        self.undo.restore()
        tr.skipped_steps = self.snapshot
        steps, self.pending = list(self.pending), []
        for b, step, lr, _ in steps:
            idx = self.order[b]
            x, y = self.x_host[idx], self.y_host[idx]
            try:
                loss, out = tr.train_batch(x, y, step, lr)
            except Diverged as exc:
                exc.step_index = step
                self._take_snapshot()
                raise
            self.sums.add(loss, out, y)
