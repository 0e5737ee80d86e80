"""The console's UI strings in English and Korean, from `strings.yaml` beside this module."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

LANGUAGES = ("en", "ko")


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """key -> {"en": ..., "ko": ...}; a key missing either language is a packaging error."""
    text = resources.files("cloudward.console").joinpath("strings.yaml").read_text(encoding="utf-8")
    doc: Any = yaml.safe_load(text)
    strings = doc["strings"]
    for key, entry in strings.items():
        if not isinstance(entry, dict) or any(not entry.get(lang) for lang in LANGUAGES):
            raise ValueError(f"console strings.yaml: {key} needs both en and ko")
    return {str(k): {lang: str(v[lang]) for lang in LANGUAGES} for k, v in strings.items()}


class Translator:
    """`t("key")` in templates; `t("key", n=3)` fills `{n}`. An unknown key shows itself (a bug, visibly)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        self._strings = catalogue()

    def __call__(self, key: str, **values: Any) -> str:
        entry = self._strings.get(key)
        text = entry[self.lang] if entry else key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._strings

    def maybe(self, prefix: str, name: str) -> str:
        """The translation of `prefix.name` when there is one, else `name` itself (identifiers)."""
        key = f"{prefix}.{name}"
        return self(key) if key in self._strings else name
