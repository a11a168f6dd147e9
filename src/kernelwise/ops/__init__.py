"""Differentiable operations: each a Function with forward next to backward.

In data-flow order: ``elementwise`` and ``reduce`` and ``shape`` (what Tensor's
operators call), then ``conv``, ``pool``, ``activation``, ``loss`` and ``norm``
(what ``kernelwise.nn.functional`` calls). ``reference`` holds the plain loop
implementations that specify the fast paths.
"""
