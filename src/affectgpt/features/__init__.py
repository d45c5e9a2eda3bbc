"""features: frozen-encoder features per clip, and the Feast repo that serves them (entity `clip`,
views clip_metadata, clip_embeddings, model_outputs) to training, inference and the drift monitor."""
