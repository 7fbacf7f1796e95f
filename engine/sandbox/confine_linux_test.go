package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The confined process is this test binary run again as TestHelperConfined,
// told what to do by helperEnv; it prints one line, resultPrefix and JSON.
const (
	helperEnv    = "SANDBOX_TEST_HELPER"
	resultPrefix = "SANDBOX-RESULT "
	modelFD      = 3 // cmd.ExtraFiles[0]
	testAS       = 256 << 30
)

type helperConfig struct {
	Mode       string // "confine", "no-exec-rule", "bad-fd" or "forged"
	AllowedDir string
	SecretFile string
	DialAddr   string
}

// probe is the outcome of one attempt: Errno 0 means it succeeded.
type probe struct {
	Errno syscall.Errno `json:"errno"`
	Err   string        `json:"err,omitempty"`
	Data  string        `json:"data,omitempty"`
}

func probeOf(data string, err error) probe {
	if err == nil {
		return probe{Data: data}
	}
	p := probe{Err: err.Error(), Errno: syscall.Errno(0xffff)} // failed without an errno
	var errno syscall.Errno
	if errors.As(err, &errno) {
		p.Errno = errno
	}
	return p
}

type helperResult struct {
	EnterErr    probe
	Report      Report
	FinishErr   string
	MarkerLeft  bool
	Allowed     probe
	WriteInside probe
	Secret      probe
	ModelViaFD  probe
	SocketInet  probe
	SocketUnix  probe
	Socketpair  probe
	Dial        probe
	Exec        probe
	KillParent  probe
	ParentEnv   probe
	ParentMem   probe
	Status      map[string]string   // from /proc/self/status
	Threads     []map[string]string // /proc/self/task/*/status, all threads
	Dumpable    int
	CoreLimit   uint64
	ASLimit     uint64
	GoWork      int64
}

func TestHelperConfined(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("runs only as the child of TestConfined")
	}
	var cfg helperConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		os.Exit(2)
	}
	if Confined() {
		if cfg.Mode == "forged" {
			_, err := Finish()
			emit(helperResult{FinishErr: fmt.Sprint(err)})
		}
		emit(confinedProbes(cfg))
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "executable:", err)
		os.Exit(2)
	}
	var p Policy
	switch cfg.Mode {
	case "confine":
		p = DefaultPolicy(exe, nil, modelFD)
		p.Read = append(p.Read, cfg.AllowedDir)
		p.AddressSpace = testAS
	case "no-exec-rule":
		p = DefaultPolicy("", nil, modelFD)
	case "bad-fd":
		p = DefaultPolicy(exe, nil, 1000)
	}
	err = Enter(p, os.Args, os.Environ())
	emit(helperResult{EnterErr: probeOf("", err)})
}

func emit(r helperResult) {
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, "encode result:", err)
		os.Exit(2)
	}
	fmt.Printf("%s%s\n", resultPrefix, b)
	os.Exit(0) // before the testing package prints anything more
}

// confinedProbes runs in stage 2: it finishes confinement and tries what
// the engine must not be able to do, and what it must still do.
func confinedProbes(cfg helperConfig) helperResult {
	var r helperResult
	rep, err := Finish()
	r.Report = rep
	if err != nil {
		r.FinishErr = err.Error()
	}
	_, r.MarkerLeft = os.LookupEnv(markerEnv)

	r.Allowed = probeOf(readFile(filepath.Join(cfg.AllowedDir, "weights.txt")))
	r.WriteInside = probeOf("", os.WriteFile(filepath.Join(cfg.AllowedDir, "new.txt"), []byte("x"), 0o600))
	r.Secret = probeOf(readFile(cfg.SecretFile))
	r.ModelViaFD = probeOf(readFile("/proc/self/fd/" + strconv.Itoa(modelFD)))

	r.SocketInet = probeOf("", closeFD(unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)))
	r.SocketUnix = probeOf("", closeFD(unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)))
	_, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	r.Socketpair = probeOf("", err)
	conn, err := net.DialTimeout("tcp", cfg.DialAddr, 5*time.Second)
	if err == nil {
		conn.Close()
	}
	r.Dial = probeOf("", err)

	// Were the exec to succeed, this test binary would run no test and
	// print no result, which the parent reports.
	r.Exec = probeOf("", syscall.Exec("/proc/self/exe", []string{os.Args[0], "-test.run=^$"}, nil))

	r.KillParent = probeOf("", unix.Kill(os.Getppid(), 0))
	ppid := strconv.Itoa(os.Getppid())
	r.ParentEnv = probeOf(readFile("/proc/" + ppid + "/environ"))
	r.ParentMem = probeOf(readFile("/proc/" + ppid + "/mem"))

	r.GoWork = goWork()
	r.Status = procStatus("/proc/self/status")
	r.Threads = threadStatuses()
	dumpable, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		dumpable = -1
	}
	r.Dumpable = dumpable
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_CORE, &lim) == nil {
		r.CoreLimit = lim.Max
	}
	if unix.Getrlimit(unix.RLIMIT_AS, &lim) == nil {
		r.ASLimit = lim.Max
	}
	return r
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

func closeFD(fd int, err error) error {
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// goWork exercises the runtime confined: goroutines on threads of their
// own, allocation and garbage collection. It returns the bytes allocated.
func goWork() int64 {
	var wg sync.WaitGroup
	var total atomic.Int64
	for i := range 32 {
		wg.Go(func() {
			runtime.LockOSThread() // a new thread, born in stage 2
			defer runtime.UnlockOSThread()
			buf := make([]byte, 1<<20)
			for j := range buf {
				buf[j] = byte(i + j)
			}
			total.Add(int64(len(buf)))
			time.Sleep(10 * time.Millisecond)
		})
	}
	wg.Wait()
	runtime.GC()
	return total.Load()
}

func procStatus(path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	defer f.Close()
	m := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func threadStatuses() []map[string]string {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return []map[string]string{{"error": err.Error()}}
	}
	var out []map[string]string
	for _, task := range tasks {
		out = append(out, procStatus("/proc/self/task/"+task.Name()+"/status"))
	}
	return out
}

// kernel is what the kernel running the tests offers, asked of it here
// rather than assumed.
type kernel struct {
	landlockABI int
	noLandlock  string
	seccomp     bool
	root        bool
}

func queryKernel(t *testing.T) kernel {
	var k kernel
	abi, err := landlockABI()
	if err != nil {
		k.noLandlock = landlockAbsence(err)
		if k.noLandlock == "" {
			t.Fatalf("query Landlock ABI: %v", err)
		}
	}
	k.landlockABI = abi
	_, err = unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	k.seccomp = err == nil
	caps, err := capget()
	if err != nil {
		t.Fatal(err)
	}
	k.root = !caps.empty()
	return k
}

// needLandlock skips the calling test unless the kernel has Landlock ABI
// min or later.
func (k kernel) needLandlock(t *testing.T, min int) {
	t.Helper()
	switch {
	case k.noLandlock != "":
		t.Skip(k.noLandlock)
	case k.landlockABI < min:
		t.Skipf("kernel Landlock ABI %d, need %d", k.landlockABI, min)
	}
}

func (k kernel) needSeccomp(t *testing.T) {
	t.Helper()
	if !k.seccomp {
		t.Skip("kernel lacks seccomp")
	}
}

// runHelper runs the confined child with the model file on fd 3; opts
// change its command before it starts.
func runHelper(t *testing.T, cfg helperConfig, model *os.File, opts ...func(*exec.Cmd)) helperResult {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperConfined$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	cmd.ExtraFiles = []*os.File{model}
	for _, opt := range opts {
		opt(cmd)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for line := range strings.Lines(stdout.String()) {
		if rest, ok := strings.CutPrefix(line, resultPrefix); ok {
			var r helperResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatalf("helper result: %v\n%s", err, rest)
			}
			return r
		}
	}
	t.Fatalf("helper printed no result (did an exec succeed?)\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	return helperResult{}
}

type fixture struct {
	allowedDir, secretFile, modelText string
	model                             *os.File
}

// newFixture makes an allowed directory, a secret and a model, each in a
// directory of its own. With shared, they are readable by every user, so
// that for an unprivileged child only Landlock stands in the way.
func newFixture(t *testing.T, shared bool) fixture {
	t.Helper()
	dir := func() string {
		d := t.TempDir()
		if shared {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	secretMode := os.FileMode(0o600)
	if shared {
		secretMode = 0o644
	}
	f := fixture{allowedDir: dir(), modelText: "GGUF fake model"}
	if err := os.WriteFile(filepath.Join(f.allowedDir, "weights.txt"), []byte("allowed"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.secretFile = filepath.Join(dir(), "signing.key")
	if err := os.WriteFile(f.secretFile, []byte("secret"), secretMode); err != nil {
		t.Fatal(err)
	}
	modelPath := filepath.Join(dir(), "model.gguf")
	if err := os.WriteFile(modelPath, []byte(f.modelText), 0o644); err != nil {
		t.Fatal(err)
	}
	model, err := os.Open(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { model.Close() })
	f.model = model
	return f
}

func TestConfined(t *testing.T) {
	k := queryKernel(t)
	testConfined(t, k, newFixture(t, false))
}

// TestConfinedUnprivileged runs the child as nobody: no capabilities to
// drop, and /proc/self/fd reopened by a non-dumpable process of a user
// that does not own /proc/self.
func TestConfinedUnprivileged(t *testing.T) {
	k := queryKernel(t)
	if !k.root {
		t.Skip("needs root to run the child as another user")
	}
	fx := newFixture(t, true)
	// The test binary, in a directory only its owner may enter, is copied
	// where nobody can run it.
	exe := filepath.Join(filepath.Dir(fx.allowedDir), "sandbox.test")
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	k.root = false // for the child
	testConfined(t, k, fx, func(cmd *exec.Cmd) {
		cmd.Path, cmd.Args[0] = exe, exe
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	})
}

func testConfined(t *testing.T, k kernel, fx fixture, opts ...func(*exec.Cmd)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	r := runHelper(t, helperConfig{Mode: "confine", AllowedDir: fx.allowedDir, SecretFile: fx.secretFile, DialAddr: ln.Addr().String()}, fx.model, opts...)
	ln.Close()
	t.Logf("report: %s", r.Report)

	if r.EnterErr.Errno != 0 {
		t.Fatalf("Enter: %s", r.EnterErr.Err)
	}
	if r.FinishErr != "" {
		t.Fatalf("Finish: %s", r.FinishErr)
	}
	t.Run("report", func(t *testing.T) {
		want := []string{NoNewPrivs, CoreDumpsOff, AddressSpaceLimit, CapabilitiesDropped, NonDumpable}
		if k.seccomp {
			want = append(want, Seccomp, ExecDenied)
		}
		if k.noLandlock == "" {
			want = append(want, LandlockFS)
			if k.landlockABI >= abiNet {
				want = append(want, LandlockNet)
			}
			if k.landlockABI >= abiScope {
				want = append(want, LandlockScope)
			}
		}
		for _, name := range want {
			if !r.Report.InForce(name) {
				t.Errorf("%s not in force: %s", name, r.Report)
			}
		}
		if r.MarkerLeft {
			t.Errorf("%s still set after Finish", markerEnv)
		}
	})
	t.Run("no_new_privs, dumpable and limits", func(t *testing.T) {
		if got := r.Status["NoNewPrivs"]; got != "1" {
			t.Errorf("NoNewPrivs = %q, want 1", got)
		}
		if r.Dumpable != 0 {
			t.Errorf("PR_GET_DUMPABLE = %d, want 0", r.Dumpable)
		}
		if r.CoreLimit != 0 {
			t.Errorf("RLIMIT_CORE = %d, want 0", r.CoreLimit)
		}
		if r.ASLimit != testAS {
			t.Errorf("RLIMIT_AS = %d, want %d", r.ASLimit, uint64(testAS))
		}
	})
	t.Run("capabilities", func(t *testing.T) {
		sets := []string{"CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"}
		if !k.root {
			if d := measure(r.Report, CapabilitiesDropped).Detail; d != "no capabilities held" {
				t.Errorf("capabilities_dropped detail %q, want \"no capabilities held\"", d)
			}
			// Emptying the bounding set needs CAP_SETPCAP; with
			// no_new_privs a full one grants nothing.
			sets = sets[:4]
		}
		for _, set := range sets {
			if got := r.Status[set]; got != "0000000000000000" {
				t.Errorf("%s = %q, want 0", set, got)
			}
		}
	})
	t.Run("every thread confined", func(t *testing.T) {
		k.needSeccomp(t)
		own, err := strconv.Atoi(procStatus("/proc/self/status")["Seccomp_filters"])
		if err != nil {
			t.Fatalf("this test's Seccomp_filters: %v", err)
		}
		wantFilters := strconv.Itoa(own + 2)
		if len(r.Threads) < 2 {
			t.Fatalf("saw %d threads: %v", len(r.Threads), r.Threads)
		}
		for _, th := range r.Threads {
			// Two filters more than this test has (a container may have
			// one): stage 1's deny list, inherited across execve, and
			// stage 2's exec denial, synchronized to all threads.
			if th["Seccomp"] != "2" || th["Seccomp_filters"] != wantFilters || th["NoNewPrivs"] != "1" {
				t.Errorf("thread %s: Seccomp %q, Seccomp_filters %q, NoNewPrivs %q; want 2, %s, 1",
					th["Pid"], th["Seccomp"], th["Seccomp_filters"], th["NoNewPrivs"], wantFilters)
			}
			if k.root && th["CapEff"] != "0000000000000000" {
				t.Errorf("thread %s: CapEff %s", th["Pid"], th["CapEff"])
			}
		}
	})
	t.Run("files", func(t *testing.T) {
		k.needLandlock(t, 1)
		if r.Allowed.Errno != 0 || r.Allowed.Data != "allowed" {
			t.Errorf("reading the allowed file: %+v", r.Allowed)
		}
		if r.Secret.Errno != unix.EACCES {
			t.Errorf("reading signing.key: %+v, want EACCES", r.Secret)
		}
		if r.WriteInside.Errno != unix.EACCES {
			t.Errorf("creating a file in a read-only allowed dir: %+v, want EACCES", r.WriteInside)
		}
		if r.ModelViaFD.Errno != 0 || r.ModelViaFD.Data != fx.modelText {
			t.Errorf("reopening the model through /proc/self/fd/%d: %+v", modelFD, r.ModelViaFD)
		}
		if r.ParentEnv.Errno != unix.EACCES {
			t.Errorf("reading the parent's environ: %+v, want EACCES", r.ParentEnv)
		}
		if r.ParentMem.Errno != unix.EACCES {
			t.Errorf("opening the parent's mem: %+v, want EACCES", r.ParentMem)
		}
	})
	t.Run("network", func(t *testing.T) {
		k.needSeccomp(t)
		for name, p := range map[string]probe{"socket(AF_INET)": r.SocketInet, "socket(AF_UNIX)": r.SocketUnix, "socketpair": r.Socketpair} {
			if p.Errno != unix.EPERM {
				t.Errorf("%s: %+v, want EPERM", name, p)
			}
		}
		if r.Dial.Errno == 0 {
			t.Error("dialled the parent's listener")
		}
		if n := accepted.Load(); n != 0 {
			t.Errorf("the listener accepted %d connections", n)
		}
	})
	t.Run("exec", func(t *testing.T) {
		k.needSeccomp(t)
		if r.Exec.Errno != unix.EPERM {
			t.Errorf("execve after Finish: %+v, want EPERM", r.Exec)
		}
	})
	t.Run("signal parent", func(t *testing.T) {
		k.needLandlock(t, abiScope)
		if !k.root {
			t.Skip("the parent is another user: kill fails without Landlock too")
		}
		if r.KillParent.Errno != unix.EPERM {
			t.Errorf("kill(ppid, 0): %+v, want EPERM", r.KillParent)
		}
	})
	t.Run("go runtime", func(t *testing.T) {
		if want := int64(32 << 20); r.GoWork != want {
			t.Errorf("goroutines allocated %d bytes, want %d", r.GoWork, want)
		}
	})
}

// TestEnterFailsWithoutExecRule shows that Landlock governs the re-exec
// itself, and that Enter reports the failed exec rather than going on.
func TestEnterFailsWithoutExecRule(t *testing.T) {
	queryKernel(t).needLandlock(t, 1)
	fx := newFixture(t, false)
	r := runHelper(t, helperConfig{Mode: "no-exec-rule"}, fx.model)
	if r.EnterErr.Errno != unix.EACCES || !strings.Contains(r.EnterErr.Err, "exec") {
		t.Errorf("Enter without a rule for the executable: %+v, want an exec error with EACCES", r.EnterErr)
	}
}

// TestEnterFailsOnBadRule shows that a rule the kernel refuses is an error,
// not a measure quietly left out.
func TestEnterFailsOnBadRule(t *testing.T) {
	queryKernel(t).needLandlock(t, 1)
	fx := newFixture(t, false)
	r := runHelper(t, helperConfig{Mode: "bad-fd"}, fx.model)
	if r.EnterErr.Errno != unix.EBADF || !strings.Contains(r.EnterErr.Err, "landlock: add rule fd 1000") {
		t.Errorf("Enter with a closed descriptor in the policy: %+v, want a landlock error with EBADF", r.EnterErr)
	}
}

// TestFinishRejectsForgedMarker: a marker put in the environment of a
// process that never went through Enter does not make it pass for confined.
func TestFinishRejectsForgedMarker(t *testing.T) {
	// The child inherits this process's state: claim only what it lacks.
	var claims []Measure
	if v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err == nil && v == 0 {
		claims = append(claims, inForce(NoNewPrivs, ""))
	}
	if v, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err == nil && v == 0 {
		claims = append(claims, inForce(Seccomp, ""))
	}
	if len(claims) == 0 {
		t.Skip("this test process already has no_new_privs and a seccomp filter")
	}
	fx := newFixture(t, false)
	forged, err := withMarker(nil, Report{Measures: claims})
	if err != nil {
		t.Fatal(err)
	}
	r := runHelper(t, helperConfig{Mode: "forged"}, fx.model, func(cmd *exec.Cmd) { cmd.Env = append(cmd.Env, forged...) })
	if !strings.Contains(r.FinishErr, "contradicts the kernel") {
		t.Errorf("Finish with a forged marker: %q, want a contradiction", r.FinishErr)
	}
}

func measure(r Report, name string) Measure {
	for _, m := range r.Measures {
		if m.Name == name {
			return m
		}
	}
	return Measure{}
}
