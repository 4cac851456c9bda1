# shellcheck shell=bash
# Build the benchmark anchor: llama.cpp's own `llama-bench` and `llama-server`.
# Source it; then call `anchor_build` (prints the build folder on stdout).
#
# Why llama-cpp-python: the `llama-cpp-2` crate vendors only llama.cpp's library
# sources (no tools/), and nothing but the package registries can be reached
# here. The llama-cpp-python source distribution carries a full llama.cpp tree.
#
# Pin: llama-cpp-python 0.3.36, vendoring llama.cpp commit 0c1e57098 (ggml 0.25.3).
# The workspace's llama-cpp-2 0.1.160 uses llama-cpp-sys-2 0.1.161, whose
# vendored llama.cpp records no commit (ggml 0.26.0, i.e. slightly newer). 0.3.36
# is the newest llama-cpp-python on the index and the closest tree: 48 files of
# src/ differ (vs 133 for 0.3.35); the CPU kernels that matter for this model
# (ggml-cpu/arch/x86, quants.c, vec.*) are identical, ggml-cpu.c differs by one
# reference-path flag. Bump the pin when either side
# moves; check with `diff -rq` of the two src/ trees.
#
# CPU flags: llama-cpp-sys-2's build.rs, without `-C target-cpu=native`, sets
# GGML_NATIVE=OFF and adds GGML_<feature>=ON only for the Rust target features
# (none beyond SSE2 by default); ggml then turns SSE4.2/AVX/AVX2/BMI2/FMA/F16C on
# because GGML_NATIVE is off. `-DGGML_NATIVE=OFF` gives the same set here.
# Override with BENCH_LLAMA_CMAKE_FLAGS (e.g. "-DGGML_NATIVE=ON" to compare a
# native build; then build commons with RUSTFLAGS="-C target-cpu=native").
#
# Build type: the anchor is a CMake Release build (-O3), llama.cpp's own default.
# The crate's build follows cargo's profile: the workspace's release profile has
# debug info, so the `cmake` crate picks RelWithDebInfo (-O2 -g) for llama.cpp.
# That difference is part of what commons ships, so it is measured, not hidden;
# llama-cpp-sys-2 honours LLAMA_LIB_PROFILE=Release to change it.

ANCHOR_LCP_VERSION="${BENCH_LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
ANCHOR_LCP_SHA256_0_3_36=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
ANCHOR_LLAMA_CPP_COMMIT=unknown
if [[ "$ANCHOR_LCP_VERSION" == 0.3.36 ]]; then ANCHOR_LLAMA_CPP_COMMIT=0c1e57098; fi
ANCHOR_CMAKE_FLAGS="${BENCH_LLAMA_CMAKE_FLAGS:--DGGML_NATIVE=OFF}"

# anchor_build ROOT PYTHON: download, unpack, build; print the build folder.
anchor_build() {
  local root="$1" py="$2"
  local flags_tag dir src build tarball want
  # A different flag set gets its own build folder, so both can be kept.
  flags_tag="$(printf '%s' "$ANCHOR_CMAKE_FLAGS" | sha256sum | cut -c1-8)"
  dir="$root/.cache/bench/llama.cpp-$ANCHOR_LCP_VERSION"
  src="$dir/src"
  if [[ "$ANCHOR_CMAKE_FLAGS" == "-DGGML_NATIVE=OFF" ]]; then
    build="$dir/build"
  else
    build="$dir/build-$flags_tag"
  fi
  if [[ -x "$build/bin/llama-bench" && -x "$build/bin/llama-server" ]]; then
    printf '%s\n' "$build"
    return 0
  fi
  mkdir -p "$dir"
  tarball="$dir/llama_cpp_python-$ANCHOR_LCP_VERSION.tar.gz"
  if [[ ! -f "$tarball" ]]; then
    "$py" -m pip download --quiet --no-deps --no-binary :all: \
      "llama-cpp-python==$ANCHOR_LCP_VERSION" -d "$dir" >&2 ||
      die "could not download the llama-cpp-python $ANCHOR_LCP_VERSION source distribution" \
        "it carries the llama.cpp tree the anchor is built from; check network access to the package index"
  fi
  if [[ "$ANCHOR_LCP_VERSION" == 0.3.36 ]]; then
    want="$ANCHOR_LCP_SHA256_0_3_36"
    [[ "$(sha256sum "$tarball" | cut -d' ' -f1)" == "$want" ]] ||
      die "sha256 of $tarball does not match the pin" "delete it and run again"
  fi
  if [[ ! -f "$src/CMakeLists.txt" ]]; then
    rm -rf "$src" "$dir/unpack"
    mkdir -p "$dir/unpack"
    tar xzf "$tarball" -C "$dir/unpack"
    mv "$dir/unpack/llama_cpp_python-$ANCHOR_LCP_VERSION/vendor/llama.cpp" "$src"
    rm -rf "$dir/unpack"
  fi
  need_cmd cmake
  local jobs
  jobs="$(nproc 2>/dev/null || echo 2)"
  # shellcheck disable=SC2086 # ANCHOR_CMAKE_FLAGS is a list of flags
  nice -n 10 cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF \
    $ANCHOR_CMAKE_FLAGS >&2 ||
    die "cmake configure of llama.cpp failed" "see the output above; cmake and a C++17 compiler are needed"
  nice -n 10 cmake --build "$build" --config Release -j "$jobs" --target llama-bench llama-server >&2 ||
    die "building llama-bench/llama-server failed" "see the output above"
  printf '%s\n' "$build"
}
