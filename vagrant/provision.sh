#!/usr/bin/env bash
# Installs uwsgi_reload and serves examples/plain under uWSGI with reloading on.
#
# In the Vagrant VM (run as root by `vagrant up`): apt packages, a venv in
# /opt/uwsgi-reload and a systemd service serving the shared folder's
# examples/plain on port 8000, so edits made on the host reload it.
#
# Throwaway mode, for testing this script without a VM (vagrant/check.sh):
#   UWSGI_RELOAD_PREFIX=/some/tmp/dir [UWSGI_RELOAD_PORT=8000] bash provision.sh
# puts everything under the prefix, skips apt and systemd, needs no root, and
# starts uWSGI on 127.0.0.1:PORT, checks that the example answers and reloads
# after an edit, then stops it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Vagrant uploads this script to /tmp, so it passes the shared folder's path.
source_dir=${UWSGI_RELOAD_SOURCE:-$(dirname "$here")}
throwaway_prefix=${UWSGI_RELOAD_PREFIX:-}
prefix=${throwaway_prefix:-/opt/uwsgi-reload}
port=${UWSGI_RELOAD_PORT:-8000}
python=${UWSGI_RELOAD_PYTHON:-python3}

say() { printf 'provision: %s\n' "$*"; }

# The body at / once it equals $1, or exit 1 after 60 s.
wait_for_body() {
    local expected=$1 body="" deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        body=$(curl -sS --max-time 5 "http://127.0.0.1:$port/" 2>/dev/null || true)
        if [[ $body == "$expected" ]]; then
            say "127.0.0.1:$port answers: $body"
            return 0
        fi
        sleep 0.2
    done
    say "127.0.0.1:$port did not answer '$expected' within 60 s (last answer: '$body')"
    return 1
}

if [[ -z $throwaway_prefix ]]; then
    say "installing Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # uWSGI from PyPI is compiled at install: it needs a C compiler and the
    # Python headers. curl checks the result.
    apt-get install -y -q --no-install-recommends python3-venv python3-dev build-essential curl
fi

mkdir -p "$prefix"
# Build from a copy: pip builds in the source tree, and writing egg-info into
# the shared folder would litter the host's checkout (or fail on NFS with
# root_squash).
say "copying $source_dir to $prefix/src"
rm -rf "$prefix/src"
mkdir "$prefix/src"
tar -C "$source_dir" -c \
    --exclude=.git --exclude=.vagrant --exclude=.venv --exclude=build \
    --exclude='*.egg-info' --exclude=__pycache__ . | tar -C "$prefix/src" -x

say "installing uwsgi_reload[uwsgi] into $prefix/venv (compiling uWSGI takes a while)"
"$python" -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install -q "$prefix/src[uwsgi]"

if [[ -n $throwaway_prefix ]]; then
    # A copy, so the reload check below can edit it.
    app_dir=$prefix/app
    rm -rf "$app_dir"
    cp -R "$source_dir/examples/plain" "$app_dir"
    address=127.0.0.1:$port
else
    # The shared folder itself: host edits are what the demo is about.
    app_dir=$source_dir/examples/plain
    # All addresses: VirtualBox and libvirt forward host ports to the guest's
    # network interface, not to its loopback.
    address=0.0.0.0:$port
fi

# examples/plain/uwsgi.ini as it is, except for the address, which uWSGI
# cannot override: a second http-socket would add a socket, not replace one.
ini=$prefix/uwsgi.ini
cat >"$ini" <<EOF
[uwsgi]
chdir = $app_dir
wsgi-file = $app_dir/app.py
http-socket = $address
master = true
processes = 2
import = uwsgi_reload
uwsgi-reload-interval = 1
EOF

if [[ -z $throwaway_prefix ]]; then
    say "installing the systemd service uwsgi-reload-demo"
    cat >/etc/systemd/system/uwsgi-reload-demo.service <<EOF
[Unit]
Description=uWSGI serving uwsgi_reload's examples/plain
After=network-online.target remote-fs.target

[Service]
User=${UWSGI_RELOAD_USER:-vagrant}
ExecStart=$prefix/venv/bin/uwsgi --ini $ini
# After a reboot Vagrant mounts the shared folder only once the VM is up:
# keep retrying until the app is there.
Restart=always
RestartSec=2
# uWSGI 2.0 reloads on SIGTERM; SIGINT stops it.
KillSignal=SIGINT
Type=notify
NotifyAccess=all

[Install]
WantedBy=multi-user.target
EOF
    systemctl daemon-reload
    systemctl enable uwsgi-reload-demo
    systemctl restart uwsgi-reload-demo
    wait_for_body "$(sed -n 's/^TEXT = "\(.*\)"$/\1/p' "$app_dir/greeting.py")"
    say "open http://127.0.0.1:$port/ on the host and edit examples/plain/greeting.py there"
    exit 0
fi

log=$prefix/uwsgi.log
say "starting uWSGI on $address (log: $log)"
"$prefix/venv/bin/uwsgi" --ini "$ini" >"$log" 2>&1 &
uwsgi_pid=$!

# A zombie still answers kill -0: read the process state instead.
alive() {
    local state
    { read -r _ _ state _ <"/proc/$uwsgi_pid/stat"; } 2>/dev/null || return 1
    [[ $state != Z ]]
}
gone_within_20s() {
    local deadline=$((SECONDS + 20))
    while alive && ((SECONDS < deadline)); do sleep 0.2; done
    ! alive
}
signal_all() {
    local pid
    for pid in $(cat "/proc/$uwsgi_pid/task/$uwsgi_pid/children" 2>/dev/null) "$uwsgi_pid"; do
        kill -s "$1" "$pid" 2>/dev/null || true
    done
}
# SIGINT stops uWSGI 2.0 (SIGTERM would reload it). A worker forked a moment
# before may miss it and keep the master waiting: then signal each by PID.
stop_uwsgi() {
    kill -s INT "$uwsgi_pid" 2>/dev/null || true
    if ! gone_within_20s; then
        say "uWSGI still runs 20 s after SIGINT; signalling its processes by PID"
        signal_all INT
        gone_within_20s || signal_all KILL
    fi
    wait "$uwsgi_pid" 2>/dev/null || true
    say "uWSGI (pid $uwsgi_pid) stopped"
}
failed() {
    say "failed; last lines of $log, without the request lines:"
    grep -v '^\[pid: ' "$log" | tail -n 40 >&2
}
trap stop_uwsgi EXIT
trap failed ERR

wait_for_body "Hello from plain WSGI"
# The installed package really reloads: a different size, so stat sees it
# whatever the clock granularity.
printf 'TEXT = "Hello again from plain WSGI"\n' >"$app_dir/greeting.py"
wait_for_body "Hello again from plain WSGI"
grep -q "uwsgi_reload: greeting.py changed, reloading" "$log"
say "throwaway run passed"
