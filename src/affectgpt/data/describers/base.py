"""The describer protocol and the factory that turns a config name into a describer.

A describer's (name, version) goes into the per-clip cache key and into every record's
`describers` column, so a new version recomputes its clues and the data says who wrote what.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from affectgpt.data.config import DescribersConfig
    from affectgpt.data.signals import ClipSignals
    from affectgpt.media import ClipMedia

Modality = Literal["audio", "visual"]


@runtime_checkable
class Describer(Protocol):
    name: str
    version: str
    modality: Modality
    needs_media: bool  # False: works from cached ClipSignals alone (no decoding on a cache hit)

    def describe(self, clip: dict, signals: ClipSignals, media: ClipMedia | None) -> str:
        """One clue: a few sentences on what this modality shows about the person's emotion."""
        ...


def available_describers(config: DescribersConfig) -> dict[str, Modality]:
    """Every describer name the config can build, with its modality."""
    names: dict[str, Modality] = {"acoustic": "audio", "fer": "visual"}
    names.update({d.name: d.modality for d in config.hf})
    names.update({d.name: d.modality for d in config.endpoint})
    return names


def make_describer(name: str, config: DescribersConfig) -> Describer:
    """Build the describer called `name` (built-in, or an `hf`/`endpoint` entry of the config)."""
    if name == "acoustic":
        from affectgpt.data.describers.acoustic import AcousticDescriber

        return AcousticDescriber()
    if name == "fer":
        from affectgpt.data.describers.visual import FaceExpressionDescriber

        return FaceExpressionDescriber()
    for hf_config in config.hf:
        if hf_config.name == name:
            from affectgpt.data.describers.hf import HFDescriber

            return HFDescriber(hf_config)
    for endpoint_config in config.endpoint:
        if endpoint_config.name == name:
            from affectgpt.data.describers.endpoint import EndpointDescriber

            return EndpointDescriber(endpoint_config)
    raise KeyError(f"unknown describer {name!r}; known: {sorted(available_describers(config))} "
                   "(add hf/endpoint describers under 'describers' in the build config)")
