"""The pod-spec cards' content interest (`parsers._k8s.content_interest`, `_speedups.audit_content`): a pod line
is skipped before decoding only when the full parse would raise nothing from it and count nothing.

Three kinds of proof: alerts and counters with the prefilter on equal those of a full parse of every line (the
audit corpora and both benchmark profiles); hypothesis-generated pod events, written with escapes, reordered
keys, white space and duplicate keys, give the same alerts and counters either way; and the C needle scan
agrees with a plain substring search.
"""

from __future__ import annotations

import importlib.util
import random
import re
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cloudward.parsers._k8s as k8s
import cloudward.parsers.k8s_audit as k8s_audit
from cloudward.engine import Engine
from cloudward.inputs import InputFile
from cloudward.pipeline import Pipeline

pytestmark = pytest.mark.skipif(k8s._audit_content is None, reason="the C accelerator is not built")

ROOT = Path(__file__).resolve().parent.parent.parent
CORPORA = sorted(
    [p for p in (ROOT / "tests" / "data" / "k8s" / "falco-trace-files").glob("*.json")]
    + [p for p in (ROOT / "src" / "cloudward" / "samples" / "k8s").iterdir() if p.is_file()]
)


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_bench", ROOT / "benchmarks" / "k8s_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("k8s_bench", module)
    spec.loader.exec_module(module)
    return module


def _no_prefilter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line parsed in full: no raw-bytes filter at all."""
    monkeypatch.setattr(k8s_audit, "verb_line_filter", lambda interest: None)
    monkeypatch.setattr(k8s_audit, "verb_block_filter", lambda interest: None)


def _scan(paths: list[Path]) -> tuple[list[dict[str, Any]], int, int]:
    pipe = Pipeline(raise_errors=True)
    for path in paths:
        pipe.run_input(InputFile(str(path)))
    alerts = sorted((a.to_dict() for a in pipe.finish()), key=lambda a: a["id"])
    return alerts, pipe.stats.uninspectable, pipe.stats.skipped


def _compare(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> int:
    """Alerts and uninspectable counts with the prefilter equal a full parse; returns the lines skipped."""
    alerts, uninspectable, skipped = _scan(paths)
    with monkeypatch.context() as m:
        _no_prefilter(m)
        full_alerts, full_uninspectable, full_skipped = _scan(paths)
    assert full_skipped == 0
    assert alerts == full_alerts
    assert uninspectable == full_uninspectable
    return skipped


def test_corpora_alerts_equal_a_full_parse(monkeypatch):
    _compare(CORPORA, monkeypatch)
    for path in CORPORA:
        _compare([path], monkeypatch)


@pytest.mark.parametrize("profile", ["realistic", "existing"])
def test_benchmark_profiles_equal_a_full_parse(profile, tmp_path, monkeypatch):
    bench = _bench()
    path = tmp_path / f"{profile}.log"
    (bench.generate_realistic if profile == "realistic" else bench.generate)(path, 3000)
    skipped = _compare([path], monkeypatch)
    alerts, _, _ = _scan([path])
    expected = bench.REALISTIC_ALERTS if profile == "realistic" else bench.EXISTING_ALERTS
    assert {a["alert_type"] for a in alerts} == expected
    assert skipped > 0


def test_realistic_pod_creates_are_skipped_before_decoding(tmp_path):
    """The replicaset controller's ordinary pods (most of the realistic profile's kept lines before) no longer
    reach the decoder; its attack pods do."""
    bench = _bench()
    path = tmp_path / "realistic.log"
    bench.generate_realistic(path, 3000)
    lines = path.read_bytes().splitlines(keepends=True)
    engine = Engine()
    interest = engine.ctx.interest
    assert interest.audit_content is not None and interest.audit_content.needles is not None
    line_filter = k8s.verb_line_filter(interest)
    block_filter = k8s.verb_block_filter(interest)
    data = b"".join(lines)
    spans, count = block_filter(data, 0, len(data))
    kept = {i for i, s, e in spans if line_filter(data, s, e)}
    assert count == len(lines)
    pod_creates = [i for i, line in enumerate(lines)
                   if b'"verb":"create"' in line and b'"resource":"pods"' in line and b'"subresource"' not in line]
    assert len(pod_creates) > 200
    assert len([i for i in pod_creates if i in kept]) <= 5  # the attacks
    attacks = [i for i, line in enumerate(lines) if b"xmrig" in line or b'"privileged":true' in line]
    assert attacks and all(i in kept for i in attacks)


# -- hypothesis: pod events written every way JSON allows --------------------------------------------------------

_ESCAPABLE = re.compile(r"[A-Za-z/\-]")


def _encode(value: Any, draw: Any, style: dict[str, Any], depth: int = 0) -> str:
    """JSON text of `value`, with the drawn style: escapes (\\u00XX for letters, \\/ for slashes), white space,
    key order."""
    if isinstance(value, dict):
        items = list(value.items())
        if style["shuffle"] and depth > 0:
            random.Random(style["seed"] + depth).shuffle(items)
        sep = ": " if style["spaces"] else ":"
        parts = [_encode_str(k, draw, style) + sep + _encode(v, draw, style, depth + 1) for k, v in items]
        return "{" + (", " if style["spaces"] else ",").join(parts) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_encode(v, draw, style, depth + 1) for v in value) + "]"
    if isinstance(value, str):
        return _encode_str(value, draw, style)
    return orjson.dumps(value).decode()


def _encode_str(text: str, draw: Any, style: dict[str, Any]) -> str:
    out = orjson.dumps(text).decode()[1:-1]
    if style["escape"] and text in style["escape_targets"]:
        def esc(m: re.Match[str]) -> str:
            ch = m.group(0)
            if ch == "/" and style["slash"]:
                return "\\/"
            return f"\\u{ord(ch):04{'X' if style['upper_hex'] else 'x'}}"
        out = _ESCAPABLE.sub(esc, out, count=style["escape_count"])
    return '"' + out + '"'


IMAGES = ["nginx:1.25", "ghcr.io/acme/web:2.1", "docker.io/metal3d/xmrig:latest", "minerd", "quay.io/x/KINSING-agent",
          "registry.k8s.io/kube-proxy:v1.29.2"]
ARGS = [[], ["--port=8080"], ["--donate-level=1"], ["-o", "stratum+tcp://pool.minexmr.com:4444"],
        ["-u", "4" + "A" * 94], ["--user", "bc1" + "q" * 40], ["--coin", "monero"], ["sleep", "3600"]]


@st.composite
def pod_lines(draw: Any) -> bytes:
    namespace = draw(st.sampled_from(["shop", "kube-system", "team-3", "kube-public"]))
    container: dict[str, Any] = {"name": "app", "image": draw(st.sampled_from(IMAGES))}
    if args := draw(st.sampled_from(ARGS)):
        container["args"] = args
    privileged = draw(st.sampled_from([None, False, True, "dup-true", "dup-false"]))
    if privileged in (False, True):
        container["securityContext"] = {"privileged": privileged}
    if draw(st.booleans()):
        container["env"] = [{"name": "POOL", "value": draw(st.sampled_from(["db.svc", "xmrpool.eu:3333", "x"]))}]
    spec: dict[str, Any] = {"containers": [container]}
    host_path = draw(st.sampled_from([None, "/etc", "/data/cache", "/var/run/docker.sock"]))
    if host_path:
        spec["volumes"] = [{"name": "h", "hostPath": {"path": host_path}}]
        container["volumeMounts"] = [{"name": "h", "mountPath": "/host"}]
    if draw(st.booleans()):
        spec["hostPID"] = True
    kind = draw(st.sampled_from(["Pod", "Pod", "Pod", "ReplicaSet", "Job", None]))
    body: dict[str, Any] = {"apiVersion": "v1", "metadata": {
        "name": "web-7d9c5b6f4-x2l8q", "namespace": namespace,
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9c5b6f4", "controller": True}]}, "spec": spec}
    if kind:
        body["kind"] = kind
    subresource = draw(st.sampled_from([None, None, "status", "ephemeralcontainers", "exec", ""]))
    ref: dict[str, Any] = {"resource": "pods", "namespace": namespace, "name": "web-7d9c5b6f4-x2l8q",
                           "apiVersion": "v1"}
    if subresource is not None:
        ref["subresource"] = subresource
    level = draw(st.sampled_from(["RequestResponse", "RequestResponse", "Metadata"]))
    event: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": "a-1",
        "stage": "ResponseComplete", "requestURI": f"/api/v1/namespaces/{namespace}/pods",
        "verb": draw(st.sampled_from(["create", "create", "patch", "update"])),
        "user": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                 "groups": ["system:serviceaccounts", "system:authenticated"]},
        "sourceIPs": ["10.0.0.2"], "userAgent": "kube-controller-manager/v1.29.2", "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": draw(st.sampled_from([201, 200, 403]))},
    }
    if level == "RequestResponse":
        event["requestObject"] = body
        if draw(st.booleans()):
            event["responseObject"] = {**body, "kind": draw(st.sampled_from(["Pod", "Status", "ReplicaSet"]))}
    event["requestReceivedTimestamp"] = event["stageTimestamp"] = "2026-11-02T09:15:28.000000Z"
    targets = draw(st.sets(st.sampled_from(
        ["privileged", "hostPath", "kube-system", "kube-public", "xmrig", "minerd", "stratum+tcp://pool.minexmr.com:4444",
         "--donate-level=1", "pods", "resource", "objectRef", "requestObject", "kind", "Pod", "ReplicaSet",
         "docker.io/metal3d/xmrig:latest", "/etc", "status", "subresource", "4" + "A" * 94, "monero"]), max_size=3))
    style = {"shuffle": draw(st.booleans()), "seed": draw(st.integers(0, 1000)), "spaces": draw(st.booleans()),
             "escape": bool(targets), "escape_targets": targets, "slash": draw(st.booleans()),
             "upper_hex": draw(st.booleans()), "escape_count": draw(st.integers(1, 3))}
    text = _encode(event, draw, style)
    if privileged in ("dup-true", "dup-false"):  # duplicate keys: the last one counts
        last = privileged == "dup-true"
        text = text.replace('"name":"app"', f'"securityContext":{{"privileged":{orjson.dumps(not last).decode()}}},'
                            f'"securityContext":{{"privileged":{orjson.dumps(last).decode()}}},"name":"app"', 1)
    return text.encode()


_OPENER = orjson.dumps({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "o-1",
                        "stage": "ResponseComplete", "requestURI": "/api/v1/nodes", "verb": "list",
                        "user": {"username": "system:node:n1"}, "objectRef": {"resource": "nodes"},
                        "responseStatus": {"code": 200}, "stageTimestamp": "2026-11-02T09:15:27Z"})


def _engine_result(data: bytes) -> tuple[list[tuple[str, Any]], int, int]:
    engine = Engine()
    alerts = engine.feed_bytes("s", data, final=True) + engine.advance(None)
    return ([(a.alert_type, a.to_dict()["entities"]) for a in alerts], engine.stats.uninspectable,
            engine.stats.skipped)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod_lines())
def test_pod_lines_skipped_only_when_a_full_parse_finds_nothing(line):
    orjson.loads(line)  # the generator writes valid JSON
    data = _OPENER + b"\n" + line + b"\n"
    with pytest.MonkeyPatch.context() as m:
        _no_prefilter(m)
        full = _engine_result(data)
    assert full[2] == 0
    assert _engine_result(data)[:2] == full[:2]


def test_escaped_needles_keep_the_line():
    """`\\u0070rivileged` is `privileged` and `xmr\\/ig`-style escapes could spell anything: such a line is kept."""
    engine = Engine()
    content = k8s._content_args(engine.ctx.interest.audit_content)
    assert content is not None
    matcher = content[0]
    base = (b'{"verb":"create","objectRef":{"resource":"pods"},"requestObject":{"kind":"Pod","spec":{"containers":'
            b'[{"name":"a","image":"IMG","securityContext":{"KEY":true}}]}}}')
    plain = base.replace(b"IMG", b"nginx").replace(b"KEY", b"runAsUser")
    assert k8s._audit_content(matcher, plain, 0, len(plain)) == (False, b"pods", b"", True, (b"Pod",))
    for img, key in [(b"nginx", b"\\u0070rivileged"), (b"xm\\u0072ig", b"runAsUser"), (b"a\\/xmrig", b"runAsUser"),
                     (b"nginx", b"privileged"), (b"XMRig", b"runAsUser"), (b"nginx\xc3\xa9", b"runAsUser")]:
        line = base.replace(b"IMG", img).replace(b"KEY", key)
        found = k8s._audit_content(matcher, line, 0, len(line))
        assert found is None or found[0], line


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["xmrig", "Stratum+TCP://", "0x", "bc1", "nginx", "a", "-", "b" * 50, "4" * 60,
                                 "K" * 40, "miner", "mIneR", "x", "kube-system", "privileged"]), max_size=8),
       st.sampled_from(["privileged", "hostPath", "runAsUser", "kube-system"]), st.integers(0, 1))
def test_needle_scan_agrees_with_substring_search(words, key, shift):
    interest = Engine().ctx.interest.audit_content
    matcher = k8s._matcher(interest)
    line = (" " * shift + '{"objectRef":{"resource":"pods"},"requestObject":{"v":"' + "".join(words) + '","'
            + key + '":1}}').encode()
    found = k8s._audit_content(matcher, line, 0, len(line))
    low = line.lower()
    expected = (any(n.encode() in low for n in interest.needles.folded)
                or any(n.encode() in line for n in interest.needles.exact)
                or re.search(rb"[1-9A-HJ-NP-Za-km-z]{95}", line) is not None)
    assert found is not None and found[0] == expected
