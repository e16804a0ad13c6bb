"""The PyTorch backend: the IR lowered to ``torch.nn`` modules, trained with Keras' pinned semantics.

- ``layers``: the one registration table ``LOWERINGS[kind](layer, ctx) -> nn.Module`` (torch's own
  layers where they can be configured to match, thin adapters where they cannot) and the
  activations table ``ACTIVATIONS``.
- ``model``: the lowered network (channels-first inside, NHWC at its edges), its activation split
  (a final softmax/sigmoid fused with a ``from_logits=false`` cross-entropy, as Keras does) and the
  weight table that maps ``"layer/weight"`` in Keras layouts to torch tensors.
- ``losses``: Keras' loss formulas (clipping, renormalisation, mean over the batch).
- ``optimizers``: Keras' update rules on torch tensors (``torch.optim`` where it matches) and clipping.
- ``initializers``: native mode's initial weights, drawn with torch's RNG from Keras' distributions.
- ``trainer``: ``TorchTrainer``, the ``runtime.loop.Trainer`` of this backend.
"""
