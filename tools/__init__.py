"""The command-line front: thin shells over library functions. Nothing imports ``tools``."""
