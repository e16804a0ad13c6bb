"""The ``shapes(...)`` and ``shape_masks(...)`` generated data sets: coloured shapes to classify (one class per
image), or to label pixel by pixel (a mask per image), drawn with vectorised NumPy.

``draw_shapes`` holds the whole definition and uses nothing but NumPy, so that ``nnspec emit`` copies its
source into the programs it writes (tools/emit/common.py): an emitted program draws the same images from
the same seed without nnspec, and the rule lives here only. For that, the function is written within 84
columns (inside the emitted ``load_data`` it stays within the 88 of the emitted code).
"""

from __future__ import annotations

SHAPE_NAMES = ("disc", "square", "triangle", "plus", "ring", "horizontal bars", "vertical bars", "diamond",
               "diagonal cross", "frame")


def draw_shapes(rng, n_samples, size, channels, classes, noise, masks=False):
    """(x, y): ``n_samples`` images of ``size`` × ``size`` × ``channels`` (uint8,
    values 0..255) and their class indices (int64), drawn from the NumPy generator
    ``rng``. ``masks``: (x, y, m) with m the label of every pixel (uint8,
    n_samples × size × size): 0 off the shape, k + 1 on a shape of class k.

    Class k is shape k mod 10 in colour band g = ⌊k / 10⌋ of G = ⌈classes / 10⌉.
    The shapes, in coordinates p (across) and q (down) from the shape's centre in
    units of its half-extent: 0 disc p² + q² ≤ 1; 1 square max(|p|, |q|) ≤ 0.85;
    2 triangle (apex up) −1 ≤ q ≤ 0.8 and |p| ≤ (q + 1)/1.8; 3 plus (|p| ≤ 0.3 and
    |q| ≤ 1) or (|q| ≤ 0.3 and |p| ≤ 1); 4 ring 0.55² ≤ p² + q² ≤ 1; 5 horizontal
    bars max(|p|, |q|) ≤ 1 and ⌊2.5·(q + 1)⌋ even; 6 vertical bars the same with p;
    7 diamond |p| + |q| ≤ 1; 8 diagonal cross max(|p|, |q|) ≤ 1 and
    min(|p − q|, |p + q|) ≤ 0.42; 9 frame 0.55 ≤ max(|p|, |q|) ≤ 1.

    Labels: class k has ⌊N/K⌋ samples, the first N mod K classes one more. Then,
    in this order from ``rng``: the centre (a, b) ~ U[−0.05, 0.05)² and the
    half-extent s ~ U[0.2, 0.32), in units of the image side (the shape lies
    inside the image); per channel u ~ U[0, 1) and d ~ the integers 96..160.
    Pixel (row i, column j) has t = ((j + ½)/size − ½, (i + ½)/size − ½),
    p = (t₁ − a)/s, q = (t₂ − b)/s (in float32). The shape's colour is
    f = min(⌊256·(g + u)/G⌋, 255) per channel, the background's (f + d) mod 256:
    they differ by 96 to 160 levels (mod 256) in every channel. The samples are
    then put in a random order with ``rng.permutation(N)``. Last, with
    m = round(255·noise) > 0, every value of every image, 256 images at a time in
    that order, moves by an integer drawn uniformly from −m..m, clipped to 0..255.
    """
    import numpy as np

    n, k_all = n_samples, classes
    bands = -(-k_all // 10)
    sizes = [n // k_all + (1 if k < n % k_all else 0) for k in range(k_all)]
    y = np.repeat(np.arange(k_all, dtype=np.int64), sizes)
    centre = rng.uniform(-0.05, 0.05, size=(n, 2)).astype(np.float32)
    half = rng.uniform(0.2, 0.32, size=n).astype(np.float32)
    u = rng.random((n, channels))
    d = rng.integers(96, 161, size=(n, channels))
    fg = np.minimum(np.floor(256 * ((y // 10)[:, None] + u) / bands), 255)
    fg = fg.astype(np.int64)
    bg = ((fg + d) % 256).astype(np.uint8)
    fg = fg.astype(np.uint8)
    t = ((np.arange(size) + 0.5) / size - 0.5).astype(np.float32)
    # the samples of one shape side by side, drawn together
    by_shape = np.argsort(y % 10, kind="stable")
    drawn = np.empty((n, size, size, channels), dtype=np.uint8)
    m_drawn = np.empty((n, size, size), dtype=np.uint8) if masks else None
    start = 0
    for shape in range(min(k_all, 10)):
        idx = by_shape[start:start + sum(sizes[shape::10])]
        s = half[idx, None, None]
        p = (t[None, None, :] - centre[idx, 0, None, None]) / s
        q = (t[None, :, None] - centre[idx, 1, None, None]) / s
        ap, aq = np.abs(p), np.abs(q)
        box = np.maximum(ap, aq)
        if shape == 0:
            mask = p * p + q * q <= 1
        elif shape == 1:
            mask = box <= 0.85
        elif shape == 2:
            mask = (q >= -1) & (q <= 0.8) & (ap <= (q + 1) / 1.8)
        elif shape == 3:
            mask = ((ap <= 0.3) & (aq <= 1)) | ((aq <= 0.3) & (ap <= 1))
        elif shape == 4:
            r2 = p * p + q * q
            mask = (r2 >= 0.55**2) & (r2 <= 1)
        elif shape == 5:
            mask = (box <= 1) & (np.floor(2.5 * (q + 1)) % 2 == 0)
        elif shape == 6:
            mask = (box <= 1) & (np.floor(2.5 * (p + 1)) % 2 == 0)
        elif shape == 7:
            mask = ap + aq <= 1
        elif shape == 8:
            diagonal = np.minimum(np.abs(p - q), np.abs(p + q))
            mask = (box <= 1) & (diagonal <= 0.42)
        else:
            mask = (box >= 0.55) & (box <= 1)
        # one channel at a time: faster than one 4-D np.where
        for c in range(channels):
            drawn[start:start + len(idx), :, :, c] = np.where(
                mask, fg[idx, c, None, None], bg[idx, c, None, None]
            )
        if masks:
            m_drawn[start:start + len(idx)] = mask * (y[idx, None, None] + 1)
        start += len(idx)
    place = np.empty(n, dtype=np.int64)
    place[by_shape] = np.arange(n)  # where sample i was drawn
    order = rng.permutation(n)
    x, y = drawn[place[order]], y[order]
    m_drawn = m_drawn[place[order]] if masks else None
    del drawn
    m = int(round(255 * noise))
    if m:
        for start in range(0, n, 256):
            part = x[start:start + 256].astype(np.int16)
            part += rng.integers(-m, m + 1, size=part.shape, dtype=np.int16)
            x[start:start + 256] = np.clip(part, 0, 255)
    return (x, y, m_drawn) if masks else (x, y)
