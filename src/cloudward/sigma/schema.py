"""The `[sigma]` section's schema for the whole-file validator (`cloudward config check`)."""

from __future__ import annotations

from cloudward.config_schema import Key, register_section

register_section("sigma", {
    "paths": Key("list", "Sigma rule files or folders run next to the cards (relative to the configuration file).",
                 [], items=Key("path", "")),
    "license": Key("string", "Licence shown on alerts of rules that state none.", ""),
    "placeholders": Key("map", "Values of %name% placeholders for the `expand` modifier, by name.", {},
                        values=Key("any", "")),
    "field_mappings": Key("map", "Field mappings by log source, added to the shipped ones "
                          "(see src/cloudward/data/sigma_field_mappings.yaml).", {}, values=Key("any", "")),
    "cache": Key("boolean", "Keep the compiled rules in the user cache folder ($XDG_CACHE_HOME/cloudward, else "
                 "~/.cache/cloudward) so later runs skip parsing them; false parses the rule files every run.", True),
})
