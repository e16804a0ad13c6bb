"""The pinned semantics: the one statement of each rule every backend and both emitters consume
(schedules, dropout masks, divergence, canonical initial weights, metrics, penalties, losses — what a
loss reads, the pairings refused, the formulas —, batch order, early stopping). Pure functions and tables; NumPy is imported only by the modules that
compute arrays, never on ``nnspec check``'s path."""
