"""The NumPy backend: the reference meaning of a spec, with backpropagation written by hand."""
