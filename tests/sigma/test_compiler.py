"""Every condition form and value modifier, on real SigmaHQ rules that use it (positive and negative events
in Cloudward's real input formats, through the real pipeline) and, for modifiers no snapshot rule uses, on
small rules written here."""

from __future__ import annotations

import base64
import time

import orjson
import pytest
from sigma_helpers import (
    AUDITD,
    EMERGING,
    K8S,
    LINUX_PROC,
    RULES,
    SNAPSHOT,
    WEB,
    alert_types,
    combined,
    scan,
    sysmon_exec,
    write_rule,
)

from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.detections.node._samples import audit_connect, audit_exec
from cloudward.sigma.compiler import EventValues, RuleCompiler
from cloudward.sigma.fields import load_mappings
from cloudward.sigma.loader import load_text


def _id(path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("id:"):
            return "SIGMA_" + line.split(":", 1)[1].strip()
    raise AssertionError(path)


def _jsonl(*records) -> str:
    return "".join(orjson.dumps(r).decode() + "\n" for r in records)


# -- condition forms and string modifiers on real rules ----------------------------------------
def test_contains_list_is_or():
    rule = WEB / "web_path_traversal_exploitation_attempt.yml"
    hits = scan(combined("/cgi-bin/../../../etc/passwd", status=400), [rule])
    assert alert_types(hits) == {_id(rule)}
    assert hits[0].entities["source_ip"] == "203.0.113.9" and hits[0].severity == "medium"
    assert scan(combined("/etc/passwd.html") + combined("/docs/../index.html"), [rule]) == []


def test_endswith_and_map_is_and():
    rule = WEB / "web_f5_tm_utility_bash_api_request.yml"
    assert alert_types(scan(combined("/mgmt/tm/util/bash", method="POST"), [rule])) == {_id(rule)}
    assert scan(combined("/mgmt/tm/util/bash", method="GET"), [rule]) == []          # method differs
    assert scan(combined("/mgmt/tm/util/bash/x", method="POST"), [rule]) == []       # not at the end


def test_case_insensitive_strings():
    rule = WEB / "web_f5_tm_utility_bash_api_request.yml"
    assert alert_types(scan(combined("/MGMT/TM/Util/Bash", method="POST"), [rule])) == {_id(rule)}


def test_keywords_search_the_raw_line():
    rule = WEB / "web_java_payload_in_access_logs.yml"
    assert alert_types(scan(combined("/x?q=%24%7B%28%23a%3D%40ognl"), [rule])) == {_id(rule)}
    # a keyword in the user agent is in the record too
    assert alert_types(scan(combined("/", agent="x ${@java.lang.Runtime}"), [rule])) == {_id(rule)}
    assert scan(combined("/java/index.html"), [rule]) == []


def test_selection_and_keywords_and_not_filter_with_number():
    rule = WEB / "web_sql_injection_in_access_logs.yml"
    assert alert_types(scan(combined("/item?id=1%20UNION%20SELECT%20password"), [rule])) == {_id(rule)}
    assert scan(combined("/item?id=1%20UNION%20SELECT%20password", status=404), [rule]) == []  # filtered status
    assert scan(combined("/item?id=1%20UNION%20SELECT%20password", method="POST"), [rule]) == []


def test_null_means_absent_or_empty():
    rule = WEB / "web_webshell_regeorg.yml"
    hit = combined("/tunnel.jsp?cmd=connect&target=10.0.0.5&port=22", method="POST", agent="-")
    assert alert_types(scan(hit, [rule])) == {_id(rule)}
    with_agent = combined("/tunnel.jsp?cmd=connect&target=10.0.0.5&port=22", method="POST")
    assert scan(with_agent, [rule]) == []


def test_re_modifier_on_a_real_rule():
    """`cs-host|re: '.{150}'`: the site (here from the configuration) must be 150 characters or more."""
    from cloudward.config import from_dict
    from cloudward.pipeline import scan_text

    rule = EMERGING / "2023/Exploits/CVE-2023-4966" / \
        "web_exploit_cve_2023_4966_citrix_sensitive_information_disclosure_exploit_attempt.yml"
    line = combined("/oauth/idp/.well-known/openid-configuration")
    config = from_dict({"site": "a" * 160 + ".example", "sigma": {"paths": [str(rule)]}})
    alerts, _ = scan_text(line, config=config, only={"SIGMA_*"})
    assert alert_types(alerts) == {_id(rule)}
    config = from_dict({"site": "short.example", "sigma": {"paths": [str(rule)]}})
    assert scan_text(line, config=config, only={"SIGMA_*"})[0] == []


def test_all_of_pattern_and_re_on_process_creation():
    rule = LINUX_PROC / "proc_creation_lnx_susp_inod_listing.yml"
    pos = audit_exec(1, 100, 1, ["/usr/bin/ls", "-id", "/"])
    neg = audit_exec(2, 101, 1, ["/usr/bin/ls", "-la", "/"])
    assert alert_types(scan(pos, [rule])) == {_id(rule)}
    assert scan(neg, [rule]) == []


def test_one_of_and_parentheses():
    rule = LINUX_PROC / "proc_creation_lnx_clear_syslog.yml"
    assert alert_types(scan(audit_exec(1, 100, 1, ["/usr/bin/rm", "-f", "/var/log/syslog"]), [rule])) == {_id(rule)}
    assert alert_types(scan(audit_exec(2, 101, 1, ["/usr/bin/journalctl", "--vacuum-time=1s"]), [rule])) == \
        {_id(rule)}
    assert scan(audit_exec(3, 102, 1, ["/usr/bin/cat", "/var/log/syslog"]), [rule]) == []


def test_not_one_of_filters():
    rule = LINUX_PROC / "proc_creation_lnx_services_stop_and_disable.yml"
    assert alert_types(scan(audit_exec(1, 100, 1, ["/usr/bin/systemctl", "stop", "auditd"]), [rule])) == \
        {_id(rule)}
    # the rule's own filter: snapd's upgrade stops its unit
    assert scan(audit_exec(2, 101, 1, ["/usr/bin/systemctl", "stop", "snap-snapd-123"]), [rule]) == []


def test_windash_and_list_of_maps_on_windows_process_creation():
    rule = RULES / "windows/process_creation/proc_creation_win_certutil_certificate_installation.yml"
    certutil = "C:\\Windows\\System32\\certutil.exe"
    for cli in ("certutil -addstore -f root evil.der", "certutil /addstore root evil.der",
                "certutil \u2013addstore root evil.der"):
        assert alert_types(scan(sysmon_exec(certutil, cli), [rule])) == {_id(rule)}, cli
    renamed = sysmon_exec("C:\\Users\\Public\\cu.exe", "cu.exe -addstore root x.der", original="CertUtil.exe")
    assert alert_types(scan(renamed, [rule])) == {_id(rule)}  # OriginalFileName from the Sysmon record
    assert scan(sysmon_exec(certutil, "certutil -verify root.cer"), [rule]) == []


def test_cidr_and_numbers_on_network_connection():
    rule = RULES / "linux/network_connection/net_connection_lnx_susp_malware_callback_port.yml"
    out = audit_connect(1, 300, 1, "/tmp/.x/kworker", ["/tmp/.x/kworker"], "198.51.100.20", 4444)
    assert alert_types(scan(out, [rule])) == {_id(rule)}
    local = audit_connect(2, 301, 1, "/tmp/.x/kworker", ["/tmp/.x/kworker"], "10.1.2.3", 4444)
    other_port = audit_connect(3, 302, 1, "/usr/bin/curl", ["curl"], "198.51.100.20", 443)
    assert scan(local + other_port, [rule]) == []


def test_auditd_rules_match_record_fields():
    rule = AUDITD / "execve" / "lnx_auditd_dd_delete_file.yml"
    assert alert_types(scan(audit_exec(1, 400, 1, ["dd", "if=/dev/zero", "of=/var/log/x"], exe="/usr/bin/dd"),
                            [rule])) == {_id(rule)}
    assert scan(audit_exec(2, 401, 1, ["dd", "if=disk.img", "of=/dev/sdb"], exe="/usr/bin/dd"), [rule]) == []


def test_kubernetes_rule_with_nested_pod_spec_fields():
    host_path = K8S / "kubernetes_audit_hostpath_mount.yml"
    caps = K8S / "kubernetes_audit_privileged_pod_creation.yml"
    mounted = pod("miner", [container("c", "alpine:3.19")])
    mounted["spec"]["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
    with_caps = pod("netadm", [container("c", "alpine:3.19")])
    with_caps["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": ["NET_ADMIN"]}}
    plain = pod("web", [container("c", "nginx:1.25")])
    events = _jsonl(audit("create", "pods", mounted, when="2026-11-02T09:15:01Z"),
                    audit("create", "pods", with_caps, when="2026-11-02T09:15:02Z"),
                    audit("create", "pods", plain, when="2026-11-02T09:15:03Z"))
    alerts = scan(events, [host_path, caps], fmt=None)
    by_type = {a.alert_type: a for a in alerts}
    assert set(by_type) == {_id(host_path), _id(caps)}
    assert by_type[_id(host_path)].count == 1 and by_type[_id(caps)].count == 1
    assert by_type[_id(caps)].entities["user"] == "alice@example.com"


def test_kubernetes_numbers_and_one_of_selection_pattern():
    unauth = K8S / "kubernetes_audit_unauthorized_unauthenticated_actions.yml"
    denied = audit("get", "secrets", None, name="db", code=403)
    ok = audit("get", "secrets", None, name="db", code=200)
    alerts = scan(_jsonl(denied, ok), [unauth])
    assert alert_types(alerts) == {_id(unauth)} and alerts[0].count == 1


# -- modifiers no snapshot rule uses: rules written here ----------------------------------------
def _rule(body: str, logsource: str = "{category: webserver}", rid: str = "0f0e0d0c-0000-4000-8000-000000000001"):
    return f"title: Test rule\nid: {rid}\nlogsource: {logsource}\nlevel: high\n{body}"


MODIFIER_CASES = [
    # (detection yaml, positive target, negative target)
    ("detection:\n  sel:\n    cs-uri-query|base64offset|contains: 'cmd.exe'\n  condition: sel",
     "/?p=" + base64.b64encode(b"run cmd.exe now").decode(), "/?p=" + base64.b64encode(b"run bash now").decode()),
    ("detection:\n  sel:\n    cs-uri-query|base64|contains: 'whoami'\n  condition: sel",
     "/?c=" + base64.b64encode(b"whoami").decode(), "/?c=whoami"),
    ("detection:\n  sel:\n    cs-uri-query|utf16le|base64offset|contains: 'ping'\n  condition: sel",
     "/?e=" + base64.b64encode("ping 1.2.3.4".encode("utf-16-le")).decode(),
     "/?e=" + base64.b64encode(b"ping").decode()),
    ("detection:\n  sel:\n    cs-uri-query|wide|base64offset|contains: 'ping'\n  condition: sel",
     "/?e=" + base64.b64encode("ping 1.2.3.4".encode("utf-16-le")).decode(),
     "/?e=" + base64.b64encode(b"ping").decode()),
    ("detection:\n  sel:\n    cs-uri-query|re|i: 'union.{0,5}select'\n  condition: sel",
     "/?q=UNION%20SELECT", "/?q=union-and-then-select"),
    ("detection:\n  sel:\n    cs-uri-query|re: 'UNION'\n  condition: sel", "/?q=UNION", "/?q=union"),
    ("detection:\n  sel:\n    cs-uri-query|re|s: 'a.b'\n  condition: sel", None, None),
    ("detection:\n  sel:\n    cs-uri-query|cased: '/Admin'\n  condition: sel", "/Admin", "/admin"),
    ("detection:\n  sel:\n    cs-uri-stem: '/adm?n/*.php'\n  condition: sel", "/admin/x.php", "/adminn/x.php"),
    ("detection:\n  sel:\n    cs-uri-stem: '/star\\*'\n  condition: sel", "/star*", "/starry"),
    ("detection:\n  sel:\n    sc-status|gte: 500\n  condition: sel", ("/", 503), ("/", 404)),
    ("detection:\n  sel:\n    sc-status|gt: 499\n    sc-status|lt: 502\n  condition: sel", ("/", 500), ("/", 502)),
    ("detection:\n  sel:\n    sc-status|lte: 200\n  condition: sel", ("/", 200), ("/", 201)),
    ("detection:\n  sel:\n    cs-user-agent|exists: true\n  condition: sel", "/", None),
    ("detection:\n  sel:\n    cs-uri-query|contains|all: ['alpha', 'beta']\n  condition: sel",
     "/?a=alpha&b=beta", "/?a=alpha"),
    ("detection:\n  sel:\n    cs-uri-query|fieldref|contains: cs-method\n  condition: sel", "/api/GET/x", "/api/x"),
    ("detection:\n  sel:\n    cs-uri-stem: /login\n    cs-uri-query|neq: /login\n  condition: sel", None, None),
    ("detection:\n  sel:\n    cs-uri-stem: /x\n    sc-status|neq: 200\n  condition: sel", ("/x", 500), ("/x", 200)),
]


@pytest.mark.parametrize(("detection", "positive", "negative"), MODIFIER_CASES, ids=lambda v: str(v)[:40])
def test_modifiers(tmp_path, detection, positive, negative):
    path = write_rule(tmp_path, _rule(detection))
    rid = "SIGMA_0f0e0d0c-0000-4000-8000-000000000001"

    def line(case):
        target, status = (case, 200) if isinstance(case, str) else case
        return combined(target, status=status)

    if positive is None:  # compiles (the flag is accepted), nothing more to show on one-line records
        assert scan(combined("/"), [path]) == []
        return
    assert alert_types(scan(line(positive), [path])) == {rid}
    if negative is not None:
        assert scan(line(negative), [path]) == []


def test_exists_false_and_null_on_missing_field(tmp_path):
    path = write_rule(tmp_path, _rule("detection:\n  sel:\n    objectRef.subresource|exists: false\n"
                                      "    verb: create\n  condition: sel", "{product: kubernetes, service: audit}"))
    rid = "SIGMA_0f0e0d0c-0000-4000-8000-000000000001"
    plain = audit("create", "pods", pod("p", [container("c", "nginx")]))
    exec_ = audit("create", "pods", None, name="p", subresource="exec")
    assert alert_types(scan(_jsonl(plain), [path])) == {rid}
    assert scan(_jsonl(exec_), [path]) == []


def test_expand_placeholders_from_config(tmp_path):
    path = write_rule(tmp_path, _rule("detection:\n  sel:\n    user.username|expand: '%admins%'\n"
                                      "  condition: sel", "{product: kubernetes, service: audit}"))
    rid = "SIGMA_0f0e0d0c-0000-4000-8000-000000000001"
    ev = _jsonl(audit("delete", "pods", None, name="p", user="breakglass@example.com"),
                audit("delete", "pods", None, name="q", user="dev@example.com"))
    alerts = scan(ev, [path], extra={"placeholders": {"admins": ["root", "breakglass@*"]}})
    assert alert_types(alerts) == {rid} and alerts[0].count == 1


def test_regex_cost_is_linear_on_attacker_text(tmp_path):
    # a pattern that backtracks exponentially in Python's re; RE2 runs it in linear time
    path = write_rule(tmp_path, _rule("detection:\n  sel:\n    cs-uri-query|re: '^(a+)+$'\n  condition: sel"))
    evil = "/" + "a" * 30_000 + "!"
    started = time.perf_counter()
    assert scan(combined(evil), [path]) == []
    assert time.perf_counter() - started < 2.0


def test_literals_prefilter_never_hides_a_match():
    """The shared-literal prefilter and the full evaluation agree on every rule, event by event."""
    text = (SNAPSHOT.parents[1] / "web" / "annotated" / "combined.log").read_bytes().decode(
        "utf-8", "replace") + "".join([
        combined("/cgi-bin/../../../etc/passwd"), combined("/?q=${jndi:ldap://x/a}"), combined("/index.html"),
        combined("/wp-login.php", method="POST"), combined("/x", agent="sqlmap/1.7"),
        combined("/item?id=1%20UNION%20SELECT%201"), combined("/mgmt/tm/util/bash", method="POST"),
    ])
    from cloudward.config import Config
    from cloudward.inputs import InputFile
    from cloudward.parsers import by_name
    from cloudward.parsers.base import ParseContext
    from cloudward.sigma import build

    ruleset = build(Config(), [RULES / "web", EMERGING])
    web = next(g for g in ruleset.groups if g.name == "webserver")
    src = InputFile.from_bytes(text.encode(), "t.log")
    events = list(by_name("combined").parse(src, ParseContext()))
    assert len(events) > 7
    for ev in events:
        values = EventValues(ev, web.getters)
        fast = {web.rules[i].card.id for i in web.candidates(ev) if web.rules[i].matches(values)}
        full = {r.card.id for r in web.rules if r.matches(EventValues(ev, web.getters))}
        assert fast == full


def test_compiled_rule_explains_matching_selections():
    loaded = load_text((WEB / "web_sql_injection_in_access_logs.yml").read_text(), "sqli.yml")
    mapping = next(m for m in load_mappings() if m.name == "webserver")
    rc = RuleCompiler(loaded.rules[0], mapping, {})
    named = {n: rc.detection(d) for n, d in loaded.rules[0].detection.detections.items()}
    assert set(named) == {"selection", "keywords", "filter_main_status"}
