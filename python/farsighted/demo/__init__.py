"""Demonstrations of farsighted, and the generators of the data it ships: not part of the
library API, which may change them without notice.

- :py:mod:`farsighted.demo.point_charges`: the point-charge demonstration that
  ``farsighted demo`` runs (learning curves of SOAP, LODE and multi-scale ridge models);
- :py:mod:`farsighted.demo.learning_curves`: learning curves of ridge models and their plot;
- :py:mod:`farsighted.demo.generate_nacl_boxes` and
  :py:mod:`farsighted.demo.generate_point_charges`: how ``nacl_boxes.xyz`` and
  ``point_charges.xyz`` of :py:mod:`farsighted.data` were made, with their reference energies
  and forces (``python -m farsighted.demo.generate_point_charges``).

They need the ``demo`` extra (``pip install farsighted[demo]``: matplotlib for the plot,
pymatgen for the Coulomb references), which the library itself never imports.
"""
