"""Field mappings as data, overridable in `[sigma.field_mappings]`, and the `[sigma]` section's checks."""

from __future__ import annotations

import pytest
from sigma_helpers import alert_types, combined, scan, write_rule

from cloudward.config import ConfigError, from_dict
from cloudward.events import HttpRequest, K8sAudit
from cloudward.sigma import build, settings
from cloudward.sigma.fields import load_mappings

RULE = """title: Forwarded
id: 4a000000-0000-4000-8000-000000000001
logsource: {category: webserver}
detection: {sel: {x-client: 198.51.100.77}, condition: sel}
level: low
"""


def test_shipped_mappings_cover_the_issue_fields():
    by_name = {m.name: m for m in load_mappings()}
    web = by_name["webserver"]
    for f in ("cs-method", "cs-uri-stem", "cs-uri-query", "c-ip", "c-useragent", "cs-user-agent", "sc-status",
              "cs-referer", "cs-host"):
        assert web.field_getter(f) is not None, f
    k8s = by_name["kubernetes_audit"]
    for f in ("verb", "objectRef.resource", "user.username", "sourceIPs", "userAgent", "responseStatus.code",
              "hostPath", "capabilities", "user.extra.anything"):
        assert k8s.field_getter(f) is not None, f
    assert by_name["linux_process_creation"].field_getter("ParentCommandLine") is not None
    assert by_name["linux_auditd"].field_getter("a0") is not None
    assert web.kinds == (HttpRequest,) and k8s.kinds == (K8sAudit,)


def test_override_adds_a_field(tmp_path):
    path = write_rule(tmp_path, RULE)
    assert build(from_dict({}), [path]).problems[0].kind == "unsupported"
    extra = {"field_mappings": {"webserver": {"fields": {"x-client": "attr:client_ip"}}}}
    alerts = scan(combined("/", ip="198.51.100.77") + combined("/", ip="198.51.100.78"), [path], extra=extra)
    assert alert_types(alerts) == {"SIGMA_4a000000-0000-4000-8000-000000000001"} and alerts[0].count == 1


@pytest.mark.parametrize(("section", "message"), [
    ({"paths": "rules/"}, "sigma.paths: expected a list"),
    ({"bogus": 1}, "sigma.bogus: unknown key"),
    ({"placeholders": {"admins": [1]}}, "placeholders.admins must be a list of strings"),
    ({"license": 3}, "sigma.license: expected a string"),
])
def test_section_errors_name_the_key(section, message):
    with pytest.raises(ConfigError, match=message):
        settings(from_dict({"sigma": section}, "cloudward.toml"))


def test_mapping_errors_name_the_key_path():
    with pytest.raises(ConfigError, match=r"\[sigma.field_mappings.webserver\].fields.x.*not a value spec"):
        load_mappings({"webserver": {"fields": {"x": "nonsense"}}}, "cloudward.toml")
    with pytest.raises(ConfigError, match="unknown keys colour"):
        load_mappings({"webserver": {"colour": "red"}}, "cloudward.toml")
    with pytest.raises(ConfigError, match="not an event kind"):
        load_mappings({"webserver": {"event": "Teapot"}}, "cloudward.toml")
