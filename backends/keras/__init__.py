"""The Keras 3 (TensorFlow) backend: each IR layer kind lowered to a ``keras.layers`` layer.

- ``layers``: the one registration table ``LOWERINGS[kind](layer, ctx) -> keras layer``, and the
  thin adapters where Keras-on-TensorFlow does not compute the pinned meaning exactly;
- ``optimizers``: the spec's optimizer as Keras' own optimizer class, the schedule as a
  ``LearningRateSchedule`` (native mode) and the loss;
- ``trainer``: ``KerasTrainer``, this backend's ``backends.contract.Trainer``: one traced step per
  batch (in native mode Keras' own: compiled loss, initializers, ``SeedGenerator`` dropout), driven by
  the shared loop like every backend;
- ``guard``: the divergence check inside the traced step (and the skipped step of loss scaling);
- ``placement``: the device a trainer runs on (``tf.device``) and TensorFlow's TF32 and op-determinism
  switches.

Importing this package does not import TensorFlow (its modules do); it silences TensorFlow's start-up
logging first (``startup``).
"""

from backends.keras.startup import quiet_tensorflow_startup

quiet_tensorflow_startup()
