#!/usr/bin/env bash
# Install Mesa's software Vulkan driver (lavapipe) so that Dawn (npm `webgpu`)
# can get a WebGPU adapter on a machine without a GPU (CI, containers).
#
# Debian 12 (bookworm) ships Mesa 22.3, whose lavapipe is too old for Dawn
# (no adapter is offered); bookworm-backports carries Mesa 25.x, which works.
# On newer Debian/Ubuntu releases the distribution's own package is used.
#
# Idempotent and non-interactive: safe to re-run. Needs root (or sudo).
# Usage: scripts/install_lavapipe.sh
#   env MIN_MESA_MAJOR=23   minimum acceptable mesa-vulkan-drivers major version
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
MIN_MESA_MAJOR="${MIN_MESA_MAJOR:-23}"
BACKPORTS_FILE=/etc/apt/sources.list.d/bookworm-backports.sources

die() { echo "install_lavapipe: ERROR: $*" >&2; exit 1; }
log() { echo "install_lavapipe: $*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo available)"
  SUDO="sudo"
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script supports Debian/Ubuntu only"

codename=""
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
fi

target=()
if [ "$codename" = "bookworm" ]; then
  # Is bookworm-backports already configured (one-line or deb822 form)?
  # only files apt actually reads (*.list, *.sources); ignore e.g. *.disabled
  if grep -qsE '^[^#]*\bbookworm-backports\b' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null; then
    log "bookworm-backports already present in apt sources"
  else
    log "adding bookworm-backports ($BACKPORTS_FILE)"
    $SUDO tee "$BACKPORTS_FILE" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  target=(-t bookworm-backports)
else
  log "distribution codename '${codename:-unknown}': using its own mesa-vulkan-drivers"
fi

log "apt-get update"
$SUDO apt-get update -q || die "apt-get update failed (network? apt sources?)"

# libvulkan1 (the Vulkan loader Dawn opens) is only a Recommends of mesa-vulkan-drivers: name it, or
# an image that already has the drivers but not the loader gets no adapter.
log "installing mesa-vulkan-drivers ${target[*]:-} and libvulkan1"
$SUDO apt-get install -y -q --no-install-recommends "${target[@]}" mesa-vulkan-drivers libvulkan1 \
  || die "apt-get install mesa-vulkan-drivers libvulkan1 failed"

version="$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)"
[ -n "$version" ] || die "mesa-vulkan-drivers is not installed after apt-get install"
major="${version#*:}"; major="${major%%.*}"
log "mesa-vulkan-drivers $version"
if ! [ "$major" -ge "$MIN_MESA_MAJOR" ] 2>/dev/null; then
  die "mesa-vulkan-drivers $version is older than $MIN_MESA_MAJOR.x; Dawn will find no adapter"
fi

icd="$(ls /usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -n1 || true)"
[ -n "$icd" ] || die "lavapipe ICD (/usr/share/vulkan/icd.d/lvp_icd*.json) not found"
log "lavapipe ICD: $icd"
ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || die "libvulkan.so.1 (Vulkan loader) not found"

log "done. Check with: node tools/webgpu_adapter.mjs"
log "(XDG_RUNTIME_DIR was not needed for headless compute in our tests; if Mesa warns about it:"
log " export XDG_RUNTIME_DIR=\${XDG_RUNTIME_DIR:-\$(mktemp -d)})"
