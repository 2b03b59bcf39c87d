"""Temporal superposition (Sharma, Proca, Prieto, Mediano, ICLR 2026): delayed recall of sparse features."""
