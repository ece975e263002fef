#!/usr/bin/env bash
# Installs what `go test ./deploy/` checks the deployment files with, when
# missing: systemd-analyze (Debian package systemd) for the unit and nginx for
# the TLS site. Needs root and apt; the tests skip without them. Neither
# service is started: policy-rc.d keeps the packages' scripts from doing so.
set -euo pipefail

pkgs=()
command -v systemd-analyze >/dev/null || pkgs+=(systemd)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || pkgs+=(nginx)
[[ ${#pkgs[@]} -gt 0 ]] || exit 0

echo "ci-deploy-tools: installing ${pkgs[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
own_policy=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	own_policy=1
fi
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
[[ -z "$own_policy" ]] || rm -f /usr/sbin/policy-rc.d
