"""Virtual patients for 177Lu-DOTATATE kidney dosimetry with known ground truth.

A voxel phantom (:mod:`.phantom`) with organ time-activity curves (:mod:`.organ_kinetics`) is
imaged by a planar conjugate-view camera (:mod:`.planar`) and a SPECT/CT system (:mod:`.spect`,
:mod:`.ct`); calibration acquisitions come from :mod:`.calibration_sources`.
:func:`generate_virtual_patients` writes the DICOM studies, VOIs, patient tables and a
``truth.json`` per cycle in the layout of ``data/README.md``.
"""

from iluminet.synthetic.virtual.study import (
    SimulationSettings,
    generate_virtual_patients,
    kidney_s_value_gy_per_mbq_h,
)

__all__ = ["SimulationSettings", "generate_virtual_patients", "kidney_s_value_gy_per_mbq_h"]
