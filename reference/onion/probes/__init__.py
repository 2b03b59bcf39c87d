"""Probes: decoders trained to read the whole sequence out of the frozen encoder's final state (spec §4.4)."""
