"""The samples' XML escaping is `xml.sax.saxutils.escape` without its import (which pulls in urllib.request)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from hypothesis import given
from hypothesis import strategies as st

from cloudward.detections.node._samples import _escape


@given(st.text(alphabet=st.sampled_from("&<>;amplgt\"' x\\\u00e9\U0001f600")))
def test_the_same_as_saxutils(text: str) -> None:
    assert _escape(text) == escape(text)


def test_ampersand_first() -> None:
    assert _escape("<&gt;>") == "&lt;&amp;gt;&gt;"
