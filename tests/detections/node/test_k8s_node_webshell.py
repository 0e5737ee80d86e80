"""K8S.NODE_Webshell learns each container's declared health check from inspect data scanned with the
audit log (the agent gets the same from the Docker API), so the check's own shell is not a web shell."""

from __future__ import annotations

from pathlib import Path

import orjson

from cloudward.detections.node._samples import audit_exec, container_id, inspect_container, shim
from cloudward.pipeline import Pipeline

CID = container_id("cw-healthy-web")
#: a health check that looks like recon: `ps aux` through a shell, as the web account
CHECK = "ps aux | grep -q '[p]hp-fpm: master' || exit 1"


def _scan(tmp_path: Path, audit: str) -> list[str]:
    record = inspect_container(CID, "shop-web", "acme/shop-web:3", path="php-fpm", args=("-F",))
    record["Config"]["Healthcheck"] = {"Test": ["CMD-SHELL", CHECK], "Interval": 30_000_000_000}
    record["Config"]["User"] = "www-data"
    (tmp_path / "inspect.json").write_bytes(orjson.dumps([record]))
    (tmp_path / "audit.log").write_text(audit)
    pipe = Pipeline(only={"K8S.NODE_Webshell"})
    pipe.run_paths([str(tmp_path / "inspect.json"), str(tmp_path / "audit.log")])
    return [a.alert_type for a in pipe.finish()]


def _check_run(code: str) -> str:
    return (shim(15001, 6100, CID)
            + audit_exec(15002, 6110, 6100, ["/bin/sh", "-c", code], exe="/usr/bin/dash", uid=33)
            + audit_exec(15003, 6111, 6110, ["ps", "aux"], exe="/usr/bin/ps", uid=33))


def test_declared_health_check_is_not_a_web_shell(tmp_path: Path) -> None:
    assert _scan(tmp_path, _check_run(CHECK)) == []
    # the same commands, but not what the image declares, are a web shell's
    assert _scan(tmp_path, _check_run(CHECK.replace("master", "pool"))) == ["K8S.NODE_Webshell"]


def test_other_shell_commands_in_the_same_container_are(tmp_path: Path) -> None:
    audit = (shim(15001, 6100, CID)
             + audit_exec(15002, 6110, 6100, ["/bin/sh", "-c", "id; uname -a"], exe="/usr/bin/dash", uid=33))
    assert _scan(tmp_path, audit) == ["K8S.NODE_Webshell"]
