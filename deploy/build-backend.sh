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
# cpu builds the variants of ggml's CPU backend (libggml-cpu-NAME.so, one per
# x86-64 or arm64 feature level, $CPU_VARIANTS) into PREFIX/lib/ollama/cpu,
# where the engine picks the best one the running CPU supports
# (docs/cpu-variants.md). The module's own variant list stops at Ice Lake and
# Alder Lake; the sources are copied to the build folder and the Sapphire
# Rapids (AMX) and Zen 4 variants that later llama.cpp defines are added to
# that copy, with ggml's own variant function.
#
# Usage: deploy/build-backend.sh cuda|blas|cpu PREFIX
# Environment (all optional):
#   CPU_VARIANTS          CPU variants to build (default: all for this architecture)
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
	echo "usage: $0 cuda|blas|cpu PREFIX" >&2
	exit 2
fi
case $backend in
cuda | blas | cpu) ;;
*)
	echo "$0: unknown backend '$backend' (cuda, blas or cpu)" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build/backend-$backend}
dest=$prefix/lib/ollama
[[ $backend == cpu ]] && dest=$dest/cpu
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

# --- CPU variants. Names as ggml's (and llama.cpp's later) variant lists;
# the engine's table of what each one requires (engine/cpuvariant) must
# name the same ones.
arch=$(uname -m)
# Linux only: macOS builds run Metal and the Apple variants ggml defines
# differently; Warden does not build those.
[[ $(uname -s) == Linux ]] || arch=unsupported-os
case $arch in
x86_64 | amd64) all_variants="haswell skylakex icelake alderlake zen4 sapphirerapids" ;;
aarch64 | arm64) all_variants="armv8.0_1 armv8.2_1 armv8.2_2 armv8.2_3 armv8.6_1 armv8.6_2 armv9.2_1 armv9.2_2" ;;
*) all_variants="" ;;
esac
if [[ $backend == cpu ]]; then
	variants=${CPU_VARIANTS:-$all_variants}
	if [[ -z $variants ]]; then
		say "no CPU variants are defined for $arch: bin/warden uses its built-in CPU kernels"
		exit 0
	fi
	# A writable copy of the module's CMake project with the extra variants.
	# It is refreshed whenever the module folder or this script changes.
	copy=$build_dir-src
	stamp="$src $(cksum <"$0")"
	if [[ ! -f $copy/.stamp || $(cat "$copy/.stamp") != "$stamp" ]]; then
		[[ -d $copy ]] && chmod -R u+w "$copy" && rm -rf "$copy"
		mkdir -p "$copy/ml/backend/ggml"
		cp "$src/CMakeLists.txt" "$copy/"
		cp -R "$src/ml/backend/ggml/ggml" "$copy/ml/backend/ggml/"
		chmod -R u+w "$copy"
		list=$copy/ml/backend/ggml/ggml/src/CMakeLists.txt
		anchor='ggml_add_cpu_backend_variant(alderlake'
		if [[ $arch == x86_64 || $arch == amd64 ]]; then
			grep -q "$anchor" "$list" || {
				say "the module's variant list changed (no '$anchor' in $list): update this script"
				exit 1
			}
			# Feature lists as upstream llama.cpp's: zen4 adds AVX512_BF16 to
			# icelake; sapphirerapids adds AMX_TILE and AMX_INT8, whose
			# kernels (ggml-cpu/amx) only this variant compiles.
			extra='        ggml_add_cpu_backend_variant(zen4           SSE42 AVX F16C AVX2 BMI2 FMA AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16)
        ggml_add_cpu_backend_variant(sapphirerapids SSE42 AVX F16C AVX2 BMI2 FMA AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16 AMX_TILE AMX_INT8)'
			awk -v anchor="$anchor" -v extra="$extra" '{ print } index($0, anchor) { print extra }' "$list" >"$list.new"
			mv "$list.new" "$list"
			grep -q 'ggml_add_cpu_backend_variant(sapphirerapids' "$list" || {
				say "could not add the extra variants to $list"
				exit 1
			}
		fi
		echo "$stamp" >"$copy/.stamp"
	fi
	src=$copy
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
	cpu)
		# The module's CMakeLists.txt leaves GGML_CPU_REPACK unset, i.e. off:
		# without it the variants keep weights in a plain CPU buffer and never
		# run the repacked GEMM kernels (../shared/notes/cpu-variants.md).
		args+=(-DGGML_CPU_REPACK=ON -DGGML_CCACHE=OFF)
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

# --- Build only this backend and ggml-base (for cuda and blas, not the CPU
# variants: bin/warden has CPU kernels built in).
targets=("ggml-$backend")
libs=("libggml-$backend.so")
if [[ $backend == cpu ]]; then
	targets=()
	libs=()
	for v in $variants; do
		targets+=("ggml-cpu-$v")
		libs+=("libggml-cpu-$v.so")
	done
fi
say "building ${targets[*]} with $jobs jobs${nvcc:+ for CUDA architectures $cuda_archs}"
start=$(date +%s)
cmake --build "$build_dir" --target "${targets[@]}" --parallel "$jobs"
say "built in $(($(date +%s) - start)) s"

# --- Install: the backend and the libggml-base.so it links (resolved through
# its $ORIGIN run path). Copy to a temporary name, then rename, so a running
# warden never maps a half-written file.
out=$build_dir/lib/ollama
files=()
for l in "${libs[@]}"; do
	[[ -f $out/$l ]] || {
		say "the build made no $out/$l"
		exit 1
	}
	files+=("$out/$l")
done
lib=${files[0]}
mkdir -p "$dest"
for f in "${files[@]}" "$out"/libggml-base.so*; do
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
	installed=$dest/$(basename "$lib")
	unresolved=$(ldd "$installed" | awk '/not found/ {print $1}' | grep -v '^libcuda\.so' || true)
	if [[ -n $unresolved ]]; then
		say "warning: $installed needs libraries this host cannot find:"
		echo "$unresolved" | sed 's/^/    /' >&2
		say "install them (or CUDA_BUNDLE_RUNTIME=1 for the CUDA ones), else warden skips the backend"
	fi
fi
if [[ $backend == cpu ]]; then
	say "installed ${libs[*]} in $dest ($(du -ch "${files[@]}" | tail -1 | cut -f1)); check with: $prefix/bin/warden devices"
	exit 0
fi
say "installed $dest/libggml-$backend.so ($(du -h "$dest/libggml-$backend.so" | cut -f1)); check with: $prefix/bin/warden devices"
