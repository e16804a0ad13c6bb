"""The shared runtime every backend trains through: the loop, data, checkpoints, the run directory,
its lock and its writes, plots, and ``make_trainer`` (``runtime.trainers``)."""
