"""Great Expectations 1.x checkpoints that guard the warehouse (python -m expectations).

suites.py       what is checked: one Expectation Suite per table, in code
checkpoints.py  which tables each checkpoint (raw_layer, staging_layer, marts_layer) validates
context.py      the committed File Data Context in gx/, kept equal to the code (sync)
runner.py       pre-flight as ecom_auditor, run, one line per failure, quality.checkpoint_runs
"""
