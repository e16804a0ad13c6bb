"""The Keras 3 (TensorFlow) backend: each IR layer kind lowered to a ``keras.layers`` layer.

- ``layers``: the one registration table ``LOWERINGS[kind](layer, ctx) -> keras layer``, and the
  thin adapters where Keras-on-TensorFlow does not compute the pinned meaning exactly;
- ``optimizers``: the spec's optimizer as Keras' own optimizer class, the schedule as a
  ``LearningRateSchedule`` (native mode), the loss and the metrics;
- ``trainer``: ``KerasTrainer``, the ``runtime.loop.Trainer`` of this backend, with
  ``native_fit`` (``model.compile`` + ``model.fit``) in native mode.

Importing this package does not import TensorFlow (its modules do); it silences TensorFlow's start-up
logging first (``startup``).
"""

from backends.keras.startup import quiet_tensorflow_startup

quiet_tensorflow_startup()
