#!/usr/bin/env bash
# What CI can check of the Vagrant demo without a VM: the Vagrantfile is valid,
# provision.sh is shellcheck-clean, and provision.sh in throwaway mode installs
# uwsgi_reload[uwsgi] into a temporary prefix and serves examples/plain, which
# answers on loopback and reloads after an edit. Exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in vagrant shellcheck curl; do
    if ! command -v "$tool" >/dev/null; then
        echo "check.sh: $tool is missing (Debian: apt-get install vagrant shellcheck curl)" >&2
        exit 1
    fi
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "check.sh: vagrant validate"
# Offline: validate reads the Vagrantfile only, without a box. CI has no VM
# provider (VirtualBox, libvirt), and without --ignore-provider validate stops
# at "No usable default provider could be found". Its .vagrant state goes to
# the scratch folder, not the checkout. NFS is validated against the host's
# nfsd, which CI does not have: check the rest with rsync.
(cd "$here" && VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_DOTFILE_PATH="$scratch/dot-vagrant" \
    UWSGI_RELOAD_SYNC_TYPE=rsync vagrant validate --ignore-provider)

echo "check.sh: shellcheck"
shellcheck "$here/provision.sh" "$here/check.sh"

echo "check.sh: provision.sh in throwaway mode"
port=${UWSGI_RELOAD_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
UWSGI_RELOAD_PREFIX="$scratch/prefix" UWSGI_RELOAD_PORT=$port bash "$here/provision.sh"
echo "check.sh: all passed"
