"""Source adapters, one per kind: list responses → entries, article responses → fields."""

from __future__ import annotations

from ..config import SourceConfig
from .base import SourceAdapter
from .choice import ChoiceAdapter
from .eastmoney import EastmoneyAdapter
from .fastnews import FastNewsAdapter

ADAPTERS: dict[str, type[SourceAdapter]] = {
    ChoiceAdapter.kind: ChoiceAdapter,
    EastmoneyAdapter.kind: EastmoneyAdapter,
    FastNewsAdapter.kind: FastNewsAdapter,
}


def adapter_for(source: SourceConfig) -> SourceAdapter:
    return ADAPTERS[source.kind](source)
