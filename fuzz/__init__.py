"""make fuzz: hostile input through the real local gateway (see fuzz/run.py)."""
