"""train"""

# The checkpoint folder inside a training output: resume state, never read downstream (the
# pipeline copies a model folder without it).
CHECKPOINTS_DIR = "checkpoints"
