"""The almost-linear RNN paper (Brenner & Koppe): MAR, training, linear-subregion analyses, sweep, bench."""
