package main

// Checks of the build and deployment files (Makefile's cuda target,
// deploy/, Dockerfile) that can run on a machine with no GPU and no Docker
// engine. What they cannot show, a CUDA build and the image build, is said
// in docs/build-gpu.md and docs/deploy.md.

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/engine/cpuvariant"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Makefile")); err != nil {
		t.Fatalf("no Makefile at the repository root %s: %v", root, err)
	}
	return root
}

// cleanEnv is the environment without the variables that would change what
// a child make or backend build does: an outer make's flags (jobserver),
// a CUDA compiler named explicitly, a backend library path.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CUDACXX", "OLLAMA_LIBRARY_PATH", "GGML_BACKEND_PATH", "PATH":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// pathWithout is $PATH less every folder holding an executable named name.
func pathWithout(name string) string {
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if lookIn(dir, name) == "" {
			keep = append(keep, dir)
		}
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// lookIn is the path of an executable name in the folders of path, or "".
func lookIn(path, name string) string {
	for _, dir := range filepath.SplitList(path) {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode()&0o111 != 0 {
			return filepath.Join(dir, name)
		}
	}
	return ""
}

// TestMakeCudaWithoutNvcc: on a machine without the CUDA compiler, make cuda
// configures what it can and then fails, naming nvcc, the toolkit version
// and where to read more, before it builds anything else.
func TestMakeCudaWithoutNvcc(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	if _, err := os.Stat("/usr/local/cuda/bin/nvcc"); err == nil {
		t.Skip("/usr/local/cuda/bin/nvcc exists and cannot be hidden from the build script")
	}
	root := repoRoot(t)
	tmp := t.TempDir()
	buildDir := filepath.Join(tmp, "backend-cuda")
	prefix := filepath.Join(tmp, "prefix")
	path := pathWithout("nvcc")
	for _, tool := range []string{"make", "go", "bash", "sed"} {
		if lookIn(path, tool) == "" {
			t.Skipf("%s shares a folder with nvcc, so nvcc cannot be hidden", tool)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-C", root, "cuda", "BACKEND_PREFIX="+prefix)
	cmd.Env = cleanEnv("PATH="+path, "BUILD_DIR="+buildDir)
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err == nil {
		t.Fatalf("make cuda succeeded without nvcc:\n%s", out)
	}
	for _, want := range []string{
		"cannot build the cuda backend; missing:",
		"nvcc, the CUDA compiler",
		"CUDA toolkit, version 12 or newer",
		"export PATH=/usr/local/cuda/bin:$PATH",
		"NVIDIA driver",
		"docs/build-gpu.md",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("make cuda's message lacks %q:\n%s", want, out)
		}
	}
	if lookIn(path, "cmake") != "" {
		// CMake present: the project was configured before the failure.
		if _, err := os.Stat(filepath.Join(buildDir, "CMakeCache.txt")); err != nil {
			t.Errorf("cmake is installed but make cuda did not configure %s: %v\n%s", buildDir, err, out)
		}
		if !strings.Contains(out, "CMake configured what it could") {
			t.Errorf("the message does not say what was configured:\n%s", out)
		}
	} else if !strings.Contains(out, "cmake (>= 3.21)") {
		t.Errorf("cmake is missing too, and the message does not say so:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(prefix, "lib", "ollama", "libggml-cuda.so")); err == nil {
		t.Error("a libggml-cuda.so was installed anyway")
	}
	// The failure comes first: make stops before compiling warden.
	if strings.Contains(out, "go build") {
		t.Errorf("make cuda went on to build warden after the backend failed:\n%s", out)
	}
}

// TestBackendLibraryLoads builds ggml's BLAS backend with the script make
// cuda uses and checks that a copy of warden loads it from ../lib/ollama
// and runs a model with it: the CUDA path (build, $ORIGIN run path, install
// folder, discovery, ggml ABI) less the GPU. Needs CMake and OpenBLAS.
func TestBackendLibraryLoads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a ggml backend (about 30 s the first time)")
	}
	if _, err := exec.LookPath("cmake"); err != nil {
		t.Skip("no cmake (apt-get install cmake)")
	}
	if err := exec.Command("pkg-config", "--exists", "openblas").Run(); err != nil {
		t.Skip("no OpenBLAS (apt-get install libopenblas-dev)")
	}
	root := repoRoot(t)
	tmp := t.TempDir()
	bin := wardenBinary(t)
	install := func(prefix string) string {
		if err := os.MkdirAll(filepath.Join(prefix, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		exe := filepath.Join(prefix, "bin", "warden")
		if err := os.WriteFile(exe, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return exe
	}
	run := func(exe string, args ...string) string {
		t.Helper()
		cmd := exec.Command(exe, args...)
		cmd.Env = cleanEnv("PATH=" + os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", exe, args, err, out)
		}
		return string(out)
	}
	blasRow := regexp.MustCompile(`(?m)^BLAS\s+accelerator\s`)

	control := install(filepath.Join(tmp, "control"))
	if out := run(control, "devices"); blasRow.MatchString(out) {
		t.Fatalf("a warden with no lib/ollama beside it lists BLAS:\n%s", out)
	}

	prefix := filepath.Join(tmp, "prefix")
	exe := install(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, filepath.Join(root, "deploy", "build-backend.sh"), "blas", prefix)
	build.Dir = root
	build.Env = cleanEnv("PATH="+os.Getenv("PATH"), "BUILD_DIR="+filepath.Join(root, "build", "backend-blas"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-backend.sh blas: %v\n%s", err, out)
	}
	for _, f := range []string{"libggml-blas.so", "libggml-base.so.0"} {
		if _, err := os.Stat(filepath.Join(prefix, "lib", "ollama", f)); err != nil {
			t.Fatalf("not installed: %v", err)
		}
	}
	if out := run(exe, "devices"); !blasRow.MatchString(out) {
		t.Fatalf("warden does not list the BLAS backend installed in %s/lib/ollama:\n%s", prefix, out)
	}
	// A prompt of 32 tokens or more goes through BLAS for its matrix
	// products, so tensors cross from the static ggml into the library.
	model := filepath.Join(tmp, "demo-f32.gguf")
	run(exe, "testmodel", "--preset", "demo", "--type", "f32", model)
	out := run(exe, "bench", "engine", "--model", model, "--runs", "1", "--prompt-tokens", "64",
		"--gen-tokens", "4", "--json", "--log-level", "debug")
	if !strings.Contains(out, "loaded BLAS backend from "+filepath.Join(prefix, "lib", "ollama")) {
		t.Errorf("the engine did not load the BLAS backend:\n%s", out)
	}
	if !strings.Contains(out, `"decode_tok_per_s"`) {
		t.Errorf("no generation with the BLAS backend loaded:\n%s", out)
	}
}

// unit reads a systemd unit file into key -> values (a key may repeat).
func unit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not key=value: %q", path, line)
		}
		keys[k] = append(keys[k], v)
	}
	return keys
}

// TestSystemdUnit: the unit carries the hardening docs/deploy.md promises,
// its command line uses flags warden has, and systemd-analyze, where
// installed, accepts it and rates its exposure at most 2.0 (of 10).
func TestSystemdUnit(t *testing.T) {
	root := repoRoot(t)
	path := filepath.Join(root, "deploy", "warden.service")
	keys := unit(t, path)
	want := map[string]string{
		"User":                    "warden",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"StateDirectory":          "warden",
		"StateDirectoryMode":      "0700",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"MemoryDenyWriteExecute":  "yes",
		"LockPersonality":         "yes",
		"RestrictNamespaces":      "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectControlGroups":    "yes",
		"RestrictSUIDSGID":        "yes",
		"ReadOnlyPaths":           "-/srv/models",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
	}
	for k, v := range want {
		if !slices.Contains(keys[k], v) {
			t.Errorf("%s: want %s=%s, have %q", path, k, v, keys[k])
		}
	}
	if !slices.Contains(keys["SystemCallFilter"], "@system-service") {
		t.Errorf("%s: no SystemCallFilter=@system-service", path)
	}
	if len(keys["ExecStart"]) != 1 {
		t.Fatalf("%s: want one ExecStart, have %q", path, keys["ExecStart"])
	}
	checkServeFlags(t, strings.Fields(keys["ExecStart"][0]), "/usr/local/bin/warden")

	gpu := unit(t, filepath.Join(root, "deploy", "warden-gpu.conf"))
	for k, v := range map[string]string{
		"PrivateDevices": "no",
		"DevicePolicy":   "closed",
		"DeviceAllow":    "char-nvidia-uvm rw",
	} {
		if !slices.Contains(gpu[k], v) {
			t.Errorf("warden-gpu.conf: want %s=%s, have %q", k, v, gpu[k])
		}
	}
	if !slices.Contains(gpu["DeviceAllow"], "char-nvidia-frontend rw") {
		t.Errorf("warden-gpu.conf: /dev/nvidia0 and /dev/nvidiactl (char-nvidia-frontend) not allowed: %q", gpu["DeviceAllow"])
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("no systemd-analyze here: only the keys were checked")
		return
	}
	// verify wants ExecStart's program to exist: point it at this build.
	dir := t.TempDir()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bin := wardenBinary(t)
	text = []byte(strings.ReplaceAll(string(text), "/usr/local/bin/warden", bin))
	if err := os.WriteFile(filepath.Join(dir, "warden.service"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		for _, args := range [][]string{
			{"verify", "./warden.service"},
			{"security", "--offline=true", "--threshold=20", "--no-pager", "./warden.service"},
		} {
			cmd := exec.Command(analyze, args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: systemd-analyze %s: %v\n%s", what, args[0], err, out)
			}
		}
	}
	check("warden.service")
	dropin := filepath.Join(dir, "warden.service.d")
	conf, err := os.ReadFile(filepath.Join(root, "deploy", "warden-gpu.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dropin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dropin, "gpu.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	check("warden.service with warden-gpu.conf")
}

// checkServeFlags fails unless args is the warden binary, "serve", and
// flags that `warden serve --help` lists.
func checkServeFlags(t *testing.T, args []string, program string) {
	t.Helper()
	if len(args) < 2 || args[0] != program || args[1] != "serve" {
		t.Fatalf("command line %q: want %s serve ...", args, program)
	}
	help, err := exec.Command(wardenBinary(t), "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("warden serve --help: %v\n%s", err, help)
	}
	for _, a := range args[2:] {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		flag, _, _ := strings.Cut(a, "=")
		if !regexp.MustCompile(`(?m)^\s+(-\w, )?` + regexp.QuoteMeta(flag) + `\s`).Match(help) {
			t.Errorf("%q: warden serve has no flag %s", args, flag)
		}
	}
}

// dockerfile returns the Dockerfile's instructions, continuation lines
// joined, comments dropped: "FROM x AS y", "RUN ...".
func dockerfile(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "#") || (trim == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trim, "\\") {
			cur.WriteString(strings.TrimSuffix(trim, "\\") + " ")
			continue
		}
		cur.WriteString(trim)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// TestDockerfile checks the Dockerfile statically, since no Docker engine
// runs here: stages and bases, the runtime's user, volume, port and health
// check, make targets that exist, an entrypoint with flags warden has, and
// a .dockerignore that keeps host builds out but the sources in.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	ins := dockerfile(t, filepath.Join(root, "Dockerfile"))
	var stages, bases []string
	has := map[string][]string{}
	for _, in := range ins {
		op, rest, _ := strings.Cut(in, " ")
		has[op] = append(has[op], rest)
		if op == "FROM" {
			f := strings.Fields(rest)
			bases = append(bases, f[0])
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stages = append(stages, f[2])
			}
		}
	}
	for _, s := range []string{"build-cpu", "build-cuda", "build", "runtime-cpu", "runtime-cuda"} {
		if !slices.Contains(stages, s) {
			t.Errorf("no stage %s in %q", s, stages)
		}
	}
	for _, b := range bases {
		if slices.Contains(stages, b) || strings.Contains(b, "${VARIANT}") {
			continue
		}
		if !strings.Contains(b, ":") || strings.HasSuffix(b, ":latest") {
			t.Errorf("base image %s is not pinned to a tag", b)
		}
	}
	if !slices.Contains(bases, "nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU}") ||
		!slices.Contains(bases, "debian:bookworm-slim") {
		t.Errorf("runtime bases: want the CUDA runtime and debian:bookworm-slim, have %q", bases)
	}
	if bases[len(bases)-1] != "runtime-${VARIANT}" {
		t.Errorf("the final stage is %s, not runtime-${VARIANT}", bases[len(bases)-1])
	}
	if u := has["USER"]; len(u) != 1 || u[0] != "10001:10001" {
		t.Errorf("USER: want 10001:10001, have %q", u)
	}
	if !slices.Contains(has["EXPOSE"], "8080") {
		t.Errorf("EXPOSE: want 8080, have %q", has["EXPOSE"])
	}
	if !slices.Contains(has["VOLUME"], `["/var/lib/warden"]`) {
		t.Errorf("VOLUME: want the data directory, have %q", has["VOLUME"])
	}
	if h := has["HEALTHCHECK"]; len(h) != 1 || !strings.Contains(h[0], "http://127.0.0.1:8080/healthz") {
		t.Errorf("HEALTHCHECK: want /healthz on 8080, have %q", h)
	}

	// The make targets the stages run exist in the Makefile.
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, run := range has["RUN"] {
		run = regexp.MustCompile(`^(--\S+\s+)*`).ReplaceAllString(run, "") // RUN --mount=...
		for _, m := range regexp.MustCompile(`(?:^|&&|;|then)\s*make ([a-z][a-z-]*)`).FindAllStringSubmatch(run, -1) {
			ran++
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).Match(makefile) {
				t.Errorf("the Dockerfile runs make %s, which the Makefile lacks", m[1])
			}
		}
	}
	if ran < 2 {
		t.Errorf("the Dockerfile should build with make build and make cuda-backend; it runs make %d times", ran)
	}

	var entry []string
	if e := has["ENTRYPOINT"]; len(e) != 1 || json.Unmarshal([]byte(e[0]), &entry) != nil {
		t.Fatalf("ENTRYPOINT: want one exec-form array, have %q", e)
	}
	checkServeFlags(t, entry, "warden")
	for _, want := range []string{"--host 0.0.0.0", "--data-dir /var/lib/warden", "--lock /etc/warden/models.lock"} {
		if !strings.Contains(strings.Join(entry, " "), want) {
			t.Errorf("ENTRYPOINT %q lacks %s", entry, want)
		}
	}

	// .dockerignore: host builds out, what make build needs in.
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimSuffix(line, "/"))
		}
	}
	ignored := func(path string) bool {
		for _, p := range patterns {
			p = strings.TrimPrefix(p, "**/")
			for _, part := range []string{path, filepath.Base(path), strings.Split(path, "/")[0]} {
				if ok, _ := filepath.Match(p, part); ok {
					return true
				}
			}
		}
		return false
	}
	for _, p := range []string{".git", "bin/warden", "build/include", "lib/ollama/libggml-cuda.so", "models/x.gguf"} {
		if !ignored(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "Makefile", "models.lock", "deploy/build-backend.sh", "third_party/setup.sh", "cmd/warden/main.go"} {
		if ignored(p) {
			t.Errorf(".dockerignore keeps %s out, but the build needs it", p)
		}
	}
}

// TestMakeInstallCarriesCPUVariants: make install puts the CPU variant
// libraries beside the installed binary, which then runs the same variant
// as the checkout's bin/warden, from its own lib/ollama/cpu.
func TestMakeInstallCarriesCPUVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make install")
	}
	for _, tool := range []string{"make", "cmake"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	root := repoRoot(t)
	prefix := filepath.Join(t.TempDir(), "usr")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-C", root, "install", "PREFIX="+prefix)
	cmd.Env = cleanEnv("PATH=" + os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	libs, _ := filepath.Glob(filepath.Join(prefix, "lib", "ollama", "cpu", "libggml-cpu-*.so"))
	if len(libs) == 0 {
		t.Fatalf("make install put no CPU variant in %s/lib/ollama/cpu", prefix)
	}

	kernels := func(exe string) (variant, library string) {
		t.Helper()
		cmd := exec.Command(exe, "devices")
		cmd.Env = cleanEnv("PATH=" + os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s devices: %v\n%s", exe, err, out)
		}
		m := regexp.MustCompile(`(?m)^CPU kernels: (\S+)$`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("%s devices names no CPU kernels:\n%s", exe, out)
		}
		if l := regexp.MustCompile(`(?m)^  library:\s+(\S+)$`).FindStringSubmatch(string(out)); l != nil {
			library = l[1]
		}
		return m[1], library
	}
	installed, lib := kernels(filepath.Join(prefix, "bin", "warden"))
	checkout, _ := kernels(filepath.Join(root, "bin", "warden"))
	if installed != checkout {
		t.Fatalf("installed warden runs %s kernels, the checkout's %s", installed, checkout)
	}
	if installed != cpuvariant.BuiltIn && !strings.HasPrefix(lib, filepath.Join(prefix, "lib", "ollama", "cpu")+"/") {
		t.Fatalf("installed warden loads %s, not its own lib/ollama/cpu", lib)
	}
	t.Logf("installed and checkout binaries both run %s (%s)", installed, lib)
}
