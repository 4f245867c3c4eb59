"""The running daemon: main loop, bus, checkpoint, scheduler, self-metrics, process tuning."""
