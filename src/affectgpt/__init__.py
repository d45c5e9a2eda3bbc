"""affectgpt: keeps an AffectGPT emotion-understanding multimodal LLM fresh in production.

The library holds the domain logic (dataset build, model, training, MER-UniBench, registry,
features, drift); pipeline components and the CLI are thin wrappers around it.
"""

__version__ = "0.1.0"
