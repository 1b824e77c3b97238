"""Language identification (CLD3-like): hashed character n-gram features and an int8 model."""
