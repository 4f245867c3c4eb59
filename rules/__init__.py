"""The rules engine: rule model and loader, windows, alert state machine, rule tests, replay.

Pure: nothing here reads the clock, the disk or the network; time is passed in.
"""
