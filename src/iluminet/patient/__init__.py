"""One patient's kidney dosimetry, from calibrated kidney activities to the next-cycle decision.

Validated patient tables (:mod:`.records`), the entry levels — measurements or images —
(:mod:`.entry`), time-activity fits (:mod:`.kinetics`), absorbed dose from S-values
(:mod:`.dosimetry`), BED by the linear-quadratic model (:mod:`.radiobiology`), the protocol's cycle
decision (:mod:`.planning`) and the chain that runs them in order (:mod:`.chain`).
"""
