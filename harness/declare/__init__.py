"""harness.declare: what an experiment is, before anything runs.

experiment        an experiment file -> Experiment (arms, seeds, suites, metrics, hypotheses), validated
plan              Experiment -> Plan of ArmPlan units, each with its plan hash; input checks
preview           `harness plan EXP`: what a plan will do and cost (model sizes, memory, GPU-hours, power)
preregistration   hypotheses and design fixed before the data, and the check that a run keeps to them
"""
