"""``UpdateUndo``: a copy of the state an update changes, on the device, to go back to."""

from __future__ import annotations

import torch


class UpdateUndo:
    """Copies of every weight (moving statistics included), of ``extra`` state an update changes (the loss
    scale) and of the optimizer's state (slots, ``iterations``), taken before an update (``take``: fused
    copies into buffers allocated once, no host synchronisation) and put back (``restore``)."""

    def __init__(self, weights: list[torch.Tensor], optimizer, extra: list[torch.Tensor] = ()):
        self.weights = list(weights)
        self.extra = list(extra)
        self.optimizer = optimizer
        self.copies: list[torch.Tensor] | None = None
        self.slots: dict[str, list[torch.Tensor]] = {}
        self.iterations, self.attempts = optimizer.iterations, optimizer.attempts

    def state_tensors(self) -> list[torch.Tensor]:
        """Every weight and optimizer slot as they are now (what an update changes)."""
        return [w.detach() for w in self.weights] + [t for ts in self.optimizer.slots().values() for t in ts]

    def _own(self) -> list[torch.Tensor]:
        return [w.detach() for w in self.weights] + self.extra

    @torch.no_grad()
    def take(self) -> None:
        slots = self.optimizer.slots()
        tensors = self._own() + [t for ts in slots.values() for t in ts]
        if self.copies is None or len(self.copies) != len(tensors):
            self.copies = [torch.empty_like(t) for t in tensors]
        if tensors:
            torch._foreach_copy_(self.copies, tensors)
        self.slots, i = {}, len(self.weights) + len(self.extra)
        for name, ts in slots.items():
            self.slots[name] = self.copies[i:i + len(ts)]
            i += len(ts)
        self.iterations, self.attempts = self.optimizer.iterations, self.optimizer.attempts

    @torch.no_grad()
    def restore(self) -> None:
        own = self._own()
        if own:
            torch._foreach_copy_(own, self.copies[:len(own)])
        self.optimizer.load_slots(self.slots, self.iterations)
        self.optimizer.attempts = self.attempts
