#!/usr/bin/env sh
# Provides the headers that llama.cpp's build needs but the ollama Go module
# zip lacks (Go drops folders named "vendor"): nlohmann/json, stb_image and
# miniaudio. Nothing is copied into git: system packages supply the first
# two, and miniaudio.h comes from the Go module github.com/gen2brain/malgo at
# the version go.mod pins, checked against go.sum by `go mod download`.
#
# On Debian/Ubuntu it also installs CMake (and Ninja) when missing: `make`
# builds the CPU variant libraries with them (deploy/build-backend.sh cpu).
# Elsewhere a missing CMake only means bin/warden runs on its built-in CPU
# kernels; the build says so.
#
# Usage: third_party/setup.sh OUTDIR   (OUTDIR/miniaudio/miniaudio.h is made)
set -eu
out=${1:?usage: setup.sh OUTDIR}

have_header() { # $1: header path relative to an include directory
	for d in /usr/include /usr/local/include /opt/homebrew/include ${THIRD_PARTY_INCLUDE:-}; do
		[ -f "$d/$1" ] && return 0
	done
	return 1
}

missing=""
have_header nlohmann/json.hpp && have_header nlohmann/json_fwd.hpp || missing="$missing nlohmann-json3-dev"
have_header stb/stb_image.h || missing="$missing libstb-dev"
tools=""
command -v cmake >/dev/null 2>&1 || tools="cmake"
command -v ninja >/dev/null 2>&1 || tools="$tools ninja-build"
if [ -n "$tools" ] && command -v apt-get >/dev/null 2>&1; then
	missing="$missing $tools"
fi
if [ -n "$missing" ]; then
	if command -v apt-get >/dev/null 2>&1; then
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo="sudo"
		echo "third_party: installing$missing with apt-get" >&2
		$sudo apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >&2
	else
		cat >&2 <<MSG
third_party: missing C++ headers:$missing
  macOS (Homebrew):  brew install nlohmann-json, and put stb_image.h from
                     https://github.com/nothings/stb at stb/stb_image.h under
                     a folder you pass as THIRD_PARTY_INCLUDE=DIR
  Fedora:            dnf install json-devel stb-devel
  Arch:              pacman -S nlohmann-json stb
MSG
		exit 1
	fi
fi

# go mod download verifies the module against go.sum before printing it.
malgo=$(go mod download -json github.com/gen2brain/malgo | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -f "$malgo/miniaudio.h" ] || { echo "third_party: miniaudio.h not found in $malgo" >&2; exit 1; }
mkdir -p "$out/miniaudio"
cp "$malgo/miniaudio.h" "$out/miniaudio/miniaudio.h.tmp"
chmod 644 "$out/miniaudio/miniaudio.h.tmp"
mv "$out/miniaudio/miniaudio.h.tmp" "$out/miniaudio/miniaudio.h"
