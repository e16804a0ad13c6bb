"""``nnspec search``: a search space's points trained as trials of an Optuna study.

``trial_run`` runs one trial as ``nnspec train`` runs a spec (``runtime.session``); ``objective`` turns a
point of the space (``compiler.space``) into a trial; ``storage``, ``samplers``, ``pruners`` set up the
study; ``study_dir``, ``results`` and ``plots`` write what a study leaves behind; ``workers`` runs several
processes on one study. Optuna is imported inside the functions that need it.
"""
