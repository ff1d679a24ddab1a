"""Synthetic data with known truth, labelled synthetic wherever it is shown.

- :mod:`.virtual` — virtual patients at image level (voxel phantom, planar/SPECT/CT DICOM, VOIs,
  calibration acquisitions, ``truth.json``);
- :mod:`.demo_patients` — measurement-level demo patients, one per branch of the cycle decision;
- :mod:`.trial` — a synthetic ILUMINET-like trial in the cohort table layout.
"""
