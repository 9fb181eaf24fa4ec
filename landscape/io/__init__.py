"""The only code that reads and writes HDF5 groups: one module per group, h5py and numpy only.

Transactions and locks come from :mod:`landscape.store`; results travel as the torch-free
records of :mod:`landscape.records`.
"""
