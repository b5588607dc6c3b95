"""Research QAT recipes built on the QAT primitives: dMX, compute-optimal QAT schedules, MicroMix, TetraJet."""
