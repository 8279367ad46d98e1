#!/usr/bin/env bash
# Installs everything OSP Jam's build and tests need on a fresh Debian machine:
# Debian packages (build libraries and the real third-party programs the tests drive) and a
# Python venv with pedalboard for the VST3 interop test. Idempotent; safe to run again.
#
# Usage: scripts/install-deps.sh          (as root, or with sudo available)
# Env:   OSP_VENV  where the pedalboard venv goes (default: $HOME/.cache/osp-jam/venv)
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  # build: nice-plug standalone (ALSA), Opus bindings, C crates
  libasound2-dev libopus-dev cmake pkg-config
  # the standalone under a real JACK server (jackd -d dummy); jack-sys needs jack.pc to build
  jackd2 libjack-jackd2-dev
  # the peers scripts/bench-vs-peers.sh measures us against, on the same JACK server
  jacktrip jamulus
  # pedalboard venv
  python3-venv
  # audio analysis and standard RTP peers / dissection (interop tests)
  sox gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good ffmpeg tshark
  # NAT traversal, LAN discovery, network namespaces
  coturn avahi-daemon avahi-utils dbus iproute2
  # the NAT lab (tests/it/natlab): routers in namespaces masquerade with nft, and a test
  # flushes a router's mappings with conntrack to force a rebinding
  nftables conntrack
  # the editor: X11 and OpenGL to build its window (baseview), a virtual display with Mesa's
  # software GL to test it headless, and xwd + ImageMagick for its screenshot
  libx11-dev libx11-xcb-dev libxcb1-dev libxcb-dri2-0-dev libxcb-icccm4-dev libxcursor-dev
  libxkbcommon-dev libgl1-mesa-dev libgl1-mesa-dri xvfb x11-apps x11-utils imagemagick
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: Debian packages present"
fi

# pedalboard (PyPI) in a venv cached by version, outside the checkout.
PEDALBOARD_VERSION=0.9.26
VENV="${OSP_VENV:-$HOME/.cache/osp-jam/venv}"
stamp="$VENV/.osp-pedalboard-$PEDALBOARD_VERSION"
if [ ! -f "$stamp" ]; then
  echo "install-deps: creating venv $VENV with pedalboard $PEDALBOARD_VERSION"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "pedalboard==$PEDALBOARD_VERSION" numpy
  touch "$stamp"
else
  echo "install-deps: venv present ($VENV)"
fi

# The test runner (preinstalled on our machines; built from crates.io where it is missing).
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
