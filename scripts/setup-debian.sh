#!/usr/bin/env bash
# Installs what feat2go needs on Debian/Ubuntu: a C++17 compiler and cmake for
# the addon, libtorch (CPU) with OpenBLAS for the training classes, ffmpeg
# for video episodes (and FFmpeg's headers, libav*-dev, so the core addon
# compiles in-process decoding of LeRobot videos; it loads the libraries at
# run time and falls back to the ffmpeg CLI without them), and chromium for the tests of `feat2go view`'s page
# (they skip, saying so, without it). Uses sudo when not root. Safe to run twice.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
pkgs="cmake g++ make libtorch-dev libgloo-dev libopenblas0-pthread ffmpeg libavformat-dev libavcodec-dev libavutil-dev clang-format chromium"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
