#!/usr/bin/env bash
# Builds one of ggml's dynamically loaded backends as a shared library and
# installs it where the warden binary loads it. `make cuda` runs it for CUDA;
# the tests run it for BLAS, which exercises the same build, install and
# load path on a machine without a GPU.
#
# The sources are the ggml copy inside the pinned Go module
# github.com/ollama/ollama (the same code cgo compiles into bin/warden), built
# with that module's own top-level CMakeLists.txt, as Ollama builds its
# lib/ollama/libggml-cuda.so. Nothing is downloaded beyond what go.sum pins.
#
# Where the library goes: the llama package's BackendInit (ml/backend/ggml/
# ggml/src/ggml.go, OnceLoad) calls ggml_backend_load_all_from_path on
# <directory of the executable>/../lib/ollama, or on each entry of
# $OLLAMA_LIBRARY_PATH that contains "lib/ollama" or is the executable's own
# directory. So for PREFIX/bin/warden this installs into PREFIX/lib/ollama.
#
# Usage: deploy/build-backend.sh cuda|blas PREFIX
# Environment (all optional):
#   CUDA_ARCHS            GPU architectures, CMake syntax   (default 80;86;89;90)
#   BUILD_DIR             CMake build folder                (default build/backend-NAME)
#   OLLAMA_SRC            the module's folder, for hosts without Go (make cuda-src)
#   JOBS                  parallel compile jobs             (default: all cores)
#   CUDA_BUNDLE_RUNTIME=1 also copy libcudart/libcublas/libcublasLt beside the
#                         backend, for hosts with the NVIDIA driver but no toolkit
set -euo pipefail

backend=${1:-}
prefix=${2:-}
if [[ -z $backend || -z $prefix ]]; then
	echo "usage: $0 cuda|blas PREFIX" >&2
	exit 2
fi
case $backend in
cuda | blas) ;;
*)
	echo "$0: unknown backend '$backend' (cuda or blas)" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build/backend-$backend}
dest=$prefix/lib/ollama
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
cuda_archs=${CUDA_ARCHS:-80;86;89;90}
say() { echo "build-backend: $*" >&2; }

# --- Sources: the pinned module, verified against go.sum by go itself.
src=${OLLAMA_SRC:-}
if [[ -z $src ]]; then
	if ! command -v go >/dev/null 2>&1; then
		say "neither go nor OLLAMA_SRC: set OLLAMA_SRC to a copy made by 'make cuda-src'"
		exit 1
	fi
	src=$(cd "$root" && go mod download -json github.com/ollama/ollama |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
fi
[[ -d $src ]] || {
	say "OLLAMA_SRC '$src' is not a folder"
	exit 1
}
src=$(cd "$src" && pwd)
if [[ ! -f $src/CMakeLists.txt || ! -d $src/ml/backend/ggml/ggml/src/ggml-$backend ]]; then
	say "no ggml-$backend sources under '$src' (expected the github.com/ollama/ollama module)"
	exit 1
fi

# --- Tools. Every missing one is named before giving up, so one read of the
# message is enough to fix the machine.
missing=()
cmake_ok=0
if command -v cmake >/dev/null 2>&1; then
	# The module's CMakeLists.txt says cmake_minimum_required(VERSION 3.21).
	v=$(cmake --version | sed -n '1s/[^0-9]*\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
	if [[ $(printf '%s\n' 3.21 "$v" | sort -V | head -1) == 3.21 ]]; then
		cmake_ok=1
	else
		missing+=("CMake >= 3.21 (found $v): https://cmake.org/download/ or pip install cmake")
	fi
else
	missing+=("cmake (>= 3.21): apt-get install cmake | dnf install cmake | brew install cmake")
fi

nvcc=""
if [[ $backend == cuda ]]; then
	# Where CMake itself would look: $CUDACXX, then PATH; plus the toolkit's
	# default install folder, which is often left off PATH.
	for c in "${CUDACXX:-}" "$(command -v nvcc 2>/dev/null || true)" /usr/local/cuda/bin/nvcc; do
		if [[ -n $c && -x $c ]]; then
			nvcc=$c
			break
		fi
	done
	if [[ -z $nvcc ]]; then
		missing+=("nvcc, the CUDA compiler (looked at \$CUDACXX, PATH and /usr/local/cuda/bin).
      Install the CUDA toolkit, version 12 or newer (nvcc, cudart, cuBLAS):
        Debian/Ubuntu: NVIDIA's apt repository, https://developer.nvidia.com/cuda-downloads,
                       then: apt-get install cuda-toolkit-12-8
        or build the CUDA image instead: docker build . (see docs/deploy.md)
      then put it on PATH: export PATH=/usr/local/cuda/bin:\$PATH (or set CUDACXX).
      Running the backend also needs the NVIDIA driver (nvidia-smi lists the GPU):
      CUDA 12.x wants driver >= 525, CUDA 13 driver >= 580. Building does not.")
	else
		ver=$("$nvcc" --version | sed -n 's/.*release \([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1.\2/p')
		if [[ -z $ver || ${ver%%.*} -lt 12 ]]; then
			missing+=("CUDA toolkit >= 12: $nvcc is release ${ver:-unknown}; install 12 or newer")
			nvcc=""
		fi
	fi
fi

# --- Configure whatever can be configured, even if the build cannot run:
# a broken source tree or CMake setup shows up now, not after installing CUDA.
if [[ $cmake_ok == 1 ]]; then
	args=(
		-S "$src" -B "$build_dir"
		-DCMAKE_BUILD_TYPE=Release
		# Install into lib/ollama itself, not a lib/ollama/<runner> subfolder.
		-DOLLAMA_RUNNER_DIR=
		# The backend finds libggml-base.so beside itself, wherever installed:
		# warden links ggml statically and sets no LD_LIBRARY_PATH, unlike Ollama.
		-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON
		"-DCMAKE_INSTALL_RPATH=\$ORIGIN"
	)
	generator="Unix Makefiles"
	command -v ninja >/dev/null 2>&1 && generator=Ninja
	args+=(-G "$generator")
	case $backend in
	cuda)
		# CMAKE_CUDA_ARCHITECTURES is what Ollama's "CUDA 12" preset sets;
		# -t runs nvcc's per-architecture passes in parallel.
		args+=("-DCMAKE_CUDA_ARCHITECTURES=$cuda_archs" "-DCMAKE_CUDA_FLAGS=-Wno-deprecated-gpu-targets -t 4")
		[[ -n $nvcc ]] && args+=("-DCMAKE_CUDA_COMPILER=$nvcc")
		;;
	blas)
		args+=(-DGGML_BLAS=ON "-DGGML_BLAS_VENDOR=${BLAS_VENDOR:-OpenBLAS}")
		;;
	esac
	# A generator change (ninja installed since) makes CMake refuse the old cache.
	if [[ -f $build_dir/CMakeCache.txt ]] && ! grep -qx "CMAKE_GENERATOR:INTERNAL=$generator" "$build_dir/CMakeCache.txt"; then
		rm -rf "$build_dir"
	fi
	mkdir -p "$(dirname "$build_dir")"
	say "configuring $backend from $src in $build_dir"
	cmake "${args[@]}" >"$build_dir.configure.log" 2>&1 || {
		cat "$build_dir.configure.log" >&2
		say "CMake configure failed (log above, also in $build_dir.configure.log)"
		exit 1
	}
fi

if ((${#missing[@]})); then
	{
		echo
		echo "build-backend: cannot build the $backend backend; missing:"
		for m in "${missing[@]}"; do echo "  - $m"; done
		if [[ $cmake_ok == 1 ]]; then
			echo "  CMake configured what it could in $build_dir (log: $build_dir.configure.log)."
		fi
		echo "  docs/build-gpu.md explains the requirements."
	} >&2
	exit 1
fi

# --- Build only this backend and ggml-base (not Ollama's CPU variants: the
# CPU backend is compiled into bin/warden).
say "building ggml-$backend with $jobs jobs${nvcc:+ for CUDA architectures $cuda_archs}"
start=$(date +%s)
cmake --build "$build_dir" --target "ggml-$backend" --parallel "$jobs"
say "built in $(($(date +%s) - start)) s"

# --- Install: the backend and the libggml-base.so it links (resolved through
# its $ORIGIN run path). Copy to a temporary name, then rename, so a running
# warden never maps a half-written file.
out=$build_dir/lib/ollama
lib=$out/libggml-$backend.so
[[ -f $lib ]] || {
	say "the build made no $lib"
	exit 1
}
mkdir -p "$dest"
for f in "$lib" "$out"/libggml-base.so*; do
	name=$(basename "$f")
	if [[ -L $f ]]; then
		ln -sfn "$(readlink "$f")" "$dest/$name"
	else
		install -m 0755 "$f" "$dest/.$name.tmp"
		mv -f "$dest/.$name.tmp" "$dest/$name"
	fi
done

if [[ $backend == cuda && ${CUDA_BUNDLE_RUNTIME:-0} == 1 ]]; then
	# Ollama ships these three beside libggml-cuda.so too; they are large
	# (cuBLASLt alone is several hundred MB).
	ldd "$dest/libggml-cuda.so" | awk '/libcudart|libcublas/ && $3 ~ /^\// {print $3}' |
		while read -r dep; do
			say "bundling $dep"
			cp -L "$dep" "$dest/"
		done
fi

# --- Report what the dynamic loader cannot resolve. libcuda.so.1 comes with
# the NVIDIA driver, so it is expected to be missing on a build host.
if command -v ldd >/dev/null 2>&1; then
	unresolved=$(ldd "$dest/libggml-$backend.so" | awk '/not found/ {print $1}' | grep -v '^libcuda\.so' || true)
	if [[ -n $unresolved ]]; then
		say "warning: $dest/libggml-$backend.so needs libraries this host cannot find:"
		echo "$unresolved" | sed 's/^/    /' >&2
		say "install them (or CUDA_BUNDLE_RUNTIME=1 for the CUDA ones), else warden skips the backend"
	fi
fi
say "installed $dest/libggml-$backend.so ($(du -h "$dest/libggml-$backend.so" | cut -f1)); check with: $prefix/bin/warden devices"
