"""The stage runtime: poll, decode, micro-batch, run, encode, produce, store offsets."""
