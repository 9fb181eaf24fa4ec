"""Are two solutions in the same basin? Barriers, permutation alignment and curves.

* :mod:`~landscape.connect.barrier`: the loss barrier along a path (Frankle et al. 2020);
* :mod:`~landscape.connect.path`: points on a line, quadratic Bezier curve or polygonal
  chain between two checkpoints, and their loss with BatchNorm statistics interpolated or
  recomputed;
* :mod:`~landscape.connect.permutation`: the permutation groups of a model's hidden units,
  found by tracing it with ``torch.fx``;
* :mod:`~landscape.connect.align`: weight matching (Ainsworth et al. 2023);
* :mod:`~landscape.connect.curve`: fitting a curve of low loss (Garipov et al. 2018).
"""
