"""`Llm`: an OpenAI-compatible chat endpoint for the one call, the LLM namer and IC|TC."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union


@dataclass(frozen=True)
class Llm:
    """An OpenAI-compatible endpoint (llama.cpp, vLLM, Ollama, OpenAI, ...).

    The API key is read from the environment variable named by `api_key_env` when a call is
    made; it is never passed as a value, stored or printed."""

    base_url: str
    model: str = "default"
    api_key_env: str = "CLUSTERBY_LLM_API_KEY"

    def _native(self) -> Tuple[str, str, str]:
        return (self.base_url, self.model, self.api_key_env)


def as_llm(llm: Union[None, str, Llm]) -> Union[None, Llm]:
    """`Llm`, a base URL, or None."""
    if llm is None or isinstance(llm, Llm):
        return llm
    if isinstance(llm, str):
        return Llm(llm)
    raise TypeError(f"llm must be a clusterby.Llm or a base URL, not {type(llm).__name__}")
