"""Threat intelligence: feeds of indicators (addresses, networks, domains, URLs) and fast lookups.

`feeds.load_feed` reads one feed (plain list, CSV, STIX 2.1 bundle, MISP event JSON, or a TAXII 2.1
collection) into an `IntelIndex`; `IntelIndex.lookup_ip` / `lookup_domain` return `Hit`s that carry
the feed's name and the indicator's context into alerts.
"""

from cloudward.intel.indicators import Hit, IntelIndex

__all__ = ["Hit", "IntelIndex"]
