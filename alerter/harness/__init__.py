"""Drivers for the kill-loop test, the soak bench and the hostile-input bench."""
