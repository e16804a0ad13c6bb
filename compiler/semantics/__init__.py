"""The pinned semantics: the one statement of each rule every backend and both emitters consume —
schedules, dropout masks, divergence, canonical initial weights, metrics (the accuracy rule), penalties,
losses (what a loss reads, the pairings refused, the formulas), optimizers (update rules, slots,
clipping), batch order, early stopping, Normalization's statistics. Pure functions and tables; NumPy is
imported only by the modules that compute arrays, never on ``nnspec check``'s path."""
