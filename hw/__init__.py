"""Gateware of the sparse accelerator: the configuration, the shared layouts and the blocks.

Nothing in this package imports ``host``, ``gen`` or ``sim_tb``.
"""
