"""Figures and exports drawn from landscape's HDF5 files alone; never imports torch.

Files are read through :mod:`landscape.io` into the records of :mod:`landscape.records`.

Modules:
    style: the one figure style (sizes, fonts, Okabe-Ito colours, viridis, PDF/SVG/PNG).
    surface: 1D curves, contour lines, filled contours and 3D surfaces.
    levels: colour scales and round contour levels.
    labels: contour and point labels placed inside the axes without overlap.
    surface_notes: axis names, checkpoint marks and points done, from the file.
    export: interactive HTML (plotly) and ParaView VTK (meshio) exports.
"""
