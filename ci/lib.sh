# Shared by the ci/ scripts, which source it (it is not run on its own).

# cni-sriov's failure-injection and recording PF hooks exist only with this feature; the
# release binary is built without it. ci/test.sh builds and tests with these features, and
# ci/validate-k8s.sh builds and tests the same way, so cargo unifies dependency features alike
# and nothing rebuilds.
TEST_FEATURES=(--features cni-sriov/test-hooks)

# apt_install_missing PACKAGE...: installs those of the Debian packages that are not installed
# yet, saying which (needs root); nothing when all are.
apt_install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "ci/${0##*/}: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # These are tools, not services: their maintainer scripts must not start daemons
  # (prometheus, openvswitch) that nothing here stops. A policy-rc.d that exits 101 says so
  # to invoke-rc.d and deb-systemd-invoke; one already in place is left as it is.
  local policy=/usr/sbin/policy-rc.d added="" rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    added=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  if [ -n "$added" ]; then rm -f "$policy"; fi
  return "$rc"
}
