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


# -- the pod-spec getters skip bodies that cannot hold their key (`fields._bodies_lack`) -----------------------
from hypothesis import given  # noqa: E402
from hypothesis import settings as examples  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cloudward.parsers import _k8s  # noqa: E402
from cloudward.parsers.base import ParseContext, RecordRef  # noqa: E402
from cloudward.sigma.fields import COMPUTED  # noqa: E402

_KEYS = ["hostPath", "capabilities", "host\\u0050ath", "c\\u0061pabilities", "hostpath", "path", "add", "volumes",
         "containers", "securityContext", "spec", "template", "kind"]
_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["/", "SYS_ADMIN", "x", "\\u0041"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)),
    max_leaves=12)


def _pod_body(spec: object, kind: str) -> dict:
    return {"kind": kind, "spec": spec}


@examples(max_examples=300, deadline=None)
@given(st.one_of(st.none(), _json_values), st.one_of(st.none(), _json_values),
       st.sampled_from(["Pod", "Deployment", "Status", "CronJob"]), st.sampled_from(["create", "update", "patch"]),
       st.booleans())
def test_pod_getters_read_the_same_with_and_without_decoding_the_bodies(request_spec, response_spec, kind, verb,
                                                                          plain_volume):
    """The hostPath and capabilities getters give on the typed event (bodies kept as bytes, skipped when they
    cannot hold the key) what they give on the event decoded whole, escapes in keys included."""
    import orjson

    doc: dict = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "a1", "verb": verb, "stage":
                 "ResponseComplete", "objectRef": {"resource": "pods", "namespace": "n", "name": "p"},
                 "responseStatus": {"code": 201}, "stageTimestamp": "2026-11-05T10:00:00Z"}
    if request_spec is not None:
        doc["requestObject"] = _pod_body(request_spec, kind)
    if response_spec is not None:
        doc["responseObject"] = _pod_body(response_spec, kind)
    if plain_volume:
        doc.setdefault("requestObject", {"kind": kind, "spec": {}})["spec"] = {
            "volumes": [{"hostPath": {"path": "/var"}}], "containers": [
                {"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}]}
    # keys written with escapes stay escaped on the line (orjson would write the backslash doubled)
    line = orjson.dumps(doc).replace(b"\\\\u", b"\\u")
    ctx = ParseContext()
    typed = _k8s.audit_line_decoder(ctx)
    if typed is None:
        pytest.skip("the typed decoder needs the C accelerator")
    ev = typed(line, RecordRef("x", 1))
    if ev is None:
        return
    whole = _k8s.make_event(orjson.loads(line), RecordRef("x", 1), ctx)
    for name in ("pod_host_paths", "pod_capabilities"):
        assert _read(COMPUTED[name], ev) == _read(COMPUTED[name], whole), name


def _read(get, ev):
    """A getter's value as `EventValues.raw` reads it (a body of the wrong shape reads as absent)."""
    try:
        return get(ev)
    except (AttributeError, TypeError, ValueError):
        return None
