"""The soak: the local gateway under load with injected faults (python -m soak, make soak)."""
