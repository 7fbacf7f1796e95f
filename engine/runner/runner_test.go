package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warden-llm/warden/engine"
)

// The tests run this test binary again as the engine process: TestMain
// serves fakeEngine on the inherited socket when childEnv is set.
const childEnv = "RUNNER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serveFake())
	}
	os.Exit(m.Run())
}

func serveFake() int {
	conn := os.NewFile(SocketFD, "socket")
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := Serve(context.Background(), conn, ChildOptions{
		Sandbox: []engine.SandboxMeasure{{Name: "fake", InForce: true}},
		Log:     log,
		Load: func(_ context.Context, cfg json.RawMessage) (Loaded, error) {
			var c fakeConfig
			if err := json.Unmarshal(cfg, &c); err != nil {
				return Loaded{}, err
			}
			if c.FailLoad {
				return Loaded{}, errors.New("no such model")
			}
			if c.CrashLoad {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
			// The model file is the descriptor the parent passed.
			data, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", ModelFD))
			if err != nil {
				return Loaded{}, err
			}
			return Loaded{Engine: &fakeEngine{name: strings.TrimSpace(string(data))}, CPUThreads: 7}, nil
		},
	})
	if err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

type fakeConfig struct {
	FailLoad  bool
	CrashLoad bool
}

// fakeEngine echoes the prompt's words, one piece each. A prompt holding
// "CRASH" kills the process after two pieces; "SLOW" emits until
// cancelled; "BAD" is refused as invalid.
type fakeEngine struct {
	name string
	mu   sync.Mutex
	busy int
}

func (f *fakeEngine) Info() engine.ModelInfo {
	return engine.ModelInfo{Name: f.name, Path: "/proc/self/fd/3"}
}

func (f *fakeEngine) Generate(ctx context.Context, req engine.Request, emit func(string) error) (engine.Result, error) {
	if strings.Contains(req.Prompt, "BAD") {
		return engine.Result{}, &engine.InvalidError{Param: "prompt", Code: "bad", Message: "bad prompt"}
	}
	f.mu.Lock()
	f.busy++
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.busy--; f.mu.Unlock() }()
	words := strings.Fields(req.Prompt)
	for i := 0; ; i++ {
		if strings.Contains(req.Prompt, "CRASH") && i == 2 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Hour)
		}
		if i >= len(words) && !strings.Contains(req.Prompt, "SLOW") {
			return engine.Result{FinishReason: engine.FinishStop, PromptTokens: len(words), CompletionTokens: i}, nil
		}
		if err := ctx.Err(); err != nil {
			return engine.Result{}, err
		}
		if req.Logprobs != nil {
			req.Logprobs([]engine.TokenLogprob{{Token: "\xe2\x82", Logprob: -float32(i), Top: []engine.TokenLogprob{{Token: "x", Logprob: -1}}}})
		}
		piece := "."
		if i < len(words) {
			piece = words[i] + " "
		} else {
			time.Sleep(10 * time.Millisecond)
		}
		if err := emit(piece); err != nil {
			return engine.Result{}, err
		}
	}
}

func (f *fakeEngine) Embed(_ context.Context, in []engine.EmbedInput) ([]engine.Embedding, error) {
	out := make([]engine.Embedding, len(in))
	for i, x := range in {
		out[i] = engine.Embedding{Vector: []float32{float32(len(x.Text)), 0.5}, Tokens: len(x.Text)}
	}
	return out, nil
}

func (f *fakeEngine) CountTokens(text string) (int, error) { return len(strings.Fields(text)), nil }

func (f *fakeEngine) Stats() engine.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return engine.Stats{Parallel: 4, Busy: f.busy}
}

func (f *fakeEngine) Close() error { return nil }

// start runs a Process whose engine is this test binary.
func start(t *testing.T, cfg fakeConfig, edit func(*Options)) (*Process, *eventLog) {
	t.Helper()
	model, err := os.CreateTemp(t.TempDir(), "model")
	if err != nil {
		t.Fatal(err)
	}
	model.WriteString("fake-model\n")
	events := &eventLog{}
	o := Options{
		Name: "fake", Path: "/models/fake.gguf",
		Command: []string{os.Args[0], "-test.run=^$"},
		Env:     append(Environ(os.Environ()), childEnv+"=1"),
		Model:   model, Load: cfg,
		Backoff: 10 * time.Millisecond, WaitReady: 10 * time.Second,
		Stderr:  io.Discard,
		OnEvent: events.add,
		Release: func() { model.Close() },
	}
	if edit != nil {
		edit(&o)
	}
	p, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p, events
}

func generate(p *Process, prompt string) (string, engine.Result, error) {
	var b strings.Builder
	res, err := p.Generate(context.Background(), engine.Request{Prompt: prompt}, func(s string) error {
		b.WriteString(s)
		return nil
	})
	return b.String(), res, err
}

func TestGenerateCrossesTheProcess(t *testing.T) {
	p, _ := start(t, fakeConfig{}, nil)
	if got := p.Info(); got.Name != "fake-model" || got.Path != "/models/fake.gguf" {
		t.Errorf("Info = %+v: want the name the engine read from the passed file and the parent's path", got)
	}
	if p.CPUThreads() != 7 {
		t.Errorf("CPUThreads = %d, want 7", p.CPUThreads())
	}
	text, res, err := generate(p, "one two three")
	if err != nil || text != "one two three " || res.CompletionTokens != 3 || res.FinishReason != engine.FinishStop {
		t.Fatalf("generate = %q %+v %v", text, res, err)
	}
	var lps []engine.TokenLogprob
	req := engine.Request{Prompt: "a b", Logprobs: func(l []engine.TokenLogprob) { lps = append(lps, l...) }}
	var order []string
	_, err = p.Generate(context.Background(), req, func(s string) error { order = append(order, fmt.Sprint(len(lps))); return nil })
	if err != nil || len(lps) != 2 || lps[1].Token != "\xe2\x82" || lps[1].Logprob != -1 || lps[0].Top[0].Token != "x" {
		t.Fatalf("logprobs = %+v, %v: want two, bytes kept exactly", lps, err)
	}
	if strings.Join(order, ",") != "1,2" {
		t.Errorf("log probabilities reached the caller as %v pieces went out: want each before its text", order)
	}
	_, _, err = generate(p, "BAD")
	var inv *engine.InvalidError
	if !errors.As(err, &inv) || inv.Param != "prompt" || inv.Code != "bad" {
		t.Errorf("invalid request: err = %v, want an *engine.InvalidError with its param and code", err)
	}
	emb, err := p.Embed(context.Background(), []engine.EmbedInput{{Text: "abc"}, {Text: "de"}})
	if err != nil || len(emb) != 2 || emb[0].Vector[0] != 3 || emb[1].Tokens != 2 {
		t.Errorf("Embed = %+v, %v", emb, err)
	}
	if n, err := p.CountTokens("a b c d"); n != 4 || err != nil {
		t.Errorf("CountTokens = %d, %v", n, err)
	}
	st := p.Stats()
	if st.Parallel != 4 || st.Process == nil || st.Process.State != engine.ProcessRunning || st.Process.PID == 0 ||
		st.Process.Starts != 1 || len(st.Process.Sandbox) == 0 || st.Process.Sandbox[0].Name != "fake" {
		t.Errorf("Stats = %+v %+v", st, st.Process)
	}
}

func TestCancelStopsTheEngine(t *testing.T) {
	p, _ := start(t, fakeConfig{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := p.Generate(ctx, engine.Request{Prompt: "SLOW"}, func(string) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	stop := errors.New("client gone")
	_, err = p.Generate(context.Background(), engine.Request{Prompt: "SLOW"}, func(string) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want emit's error", err)
	}
	// Both generations end in the engine too: nothing stays busy.
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Busy != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("engine still busy %d after the requests were cancelled", p.Stats().Busy)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCrashFailsHeldRequestsAndRestarts(t *testing.T) {
	p, events := start(t, fakeConfig{}, nil)
	pid := p.Stats().Process.PID
	// A slow request is running when another crashes the engine: both
	// are lost, with ErrEngineLost, and nothing else.
	slow := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		var once sync.Once
		_, err := p.Generate(context.Background(), engine.Request{Prompt: "SLOW"}, func(string) error {
			once.Do(func() { close(started) })
			return nil
		})
		slow <- err
	}()
	<-started
	text, _, err := generate(p, "a b CRASH d")
	if !errors.Is(err, engine.ErrEngineLost) || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("crashing request: err = %v, want ErrEngineLost saying how the process ended", err)
	}
	if text != "a b " {
		t.Errorf("text before the crash = %q", text)
	}
	if err := <-slow; !errors.Is(err, engine.ErrEngineLost) {
		t.Fatalf("request running beside it: err = %v, want ErrEngineLost", err)
	}
	// The next request waits for the new engine and succeeds.
	if text, _, err := generate(p, "after restart"); err != nil || text != "after restart " {
		t.Fatalf("after the crash: %q, %v", text, err)
	}
	st := p.Stats().Process
	if st.PID == pid || st.Starts != 2 || st.Crashes != 1 || st.LastExit != "signal: killed" || st.State != engine.ProcessRunning {
		t.Errorf("process after a restart = %+v (old pid %d)", st, pid)
	}
	if kinds := events.kinds(); kinds != "engine_crash engine_restart" {
		t.Errorf("events = %s", kinds)
	}
	if e := events.all()[0]; e.Lost != 2 || e.PID != pid {
		t.Errorf("crash event = %+v: want 2 requests lost, pid %d", e, pid)
	}
}

func TestGivesUpAfterCrashesInARow(t *testing.T) {
	p, events := start(t, fakeConfig{}, func(o *Options) { o.MaxCrashes = 2 })
	for i := range 2 {
		if _, _, err := generate(p, "x y CRASH"); !errors.Is(err, engine.ErrEngineLost) {
			t.Fatalf("crash %d: err = %v", i, err)
		}
	}
	select {
	case <-p.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("not given up after 2 crashes in a row")
	}
	_, _, err := generate(p, "hello")
	if !errors.Is(err, engine.ErrEngineUnavailable) || !strings.Contains(err.Error(), "2 times in a row") {
		t.Fatalf("after giving up: err = %v", err)
	}
	if p.Stats().Process.State != engine.ProcessFailed || p.Err() == nil {
		t.Errorf("state = %+v, err %v", p.Stats().Process, p.Err())
	}
	if got := events.kinds(); got != "engine_crash engine_restart engine_crash engine_give_up" {
		t.Errorf("events = %s", got)
	}
}

func TestSuccessResetsTheCrashCount(t *testing.T) {
	p, _ := start(t, fakeConfig{}, func(o *Options) { o.MaxCrashes = 2 })
	for i := range 3 {
		if _, _, err := generate(p, "x y CRASH"); !errors.Is(err, engine.ErrEngineLost) {
			t.Fatalf("crash %d: err = %v", i, err)
		}
		if _, _, err := generate(p, "fine"); err != nil {
			t.Fatalf("request after crash %d: %v", i, err)
		}
	}
	if st := p.Stats().Process; st.State != engine.ProcessRunning || st.Crashes != 3 {
		t.Errorf("after crashes each followed by a success: %+v, want running", st)
	}
}

func TestStartFailures(t *testing.T) {
	model, _ := os.CreateTemp(t.TempDir(), "m")
	for _, tc := range []struct {
		cfg  fakeConfig
		want string
	}{
		{fakeConfig{FailLoad: true}, "no such model"},
		{fakeConfig{CrashLoad: true}, "died while loading"},
	} {
		_, err := Start(context.Background(), Options{Name: "fake", Command: []string{os.Args[0], "-test.run=^$"},
			Env: append(Environ(os.Environ()), childEnv+"=1"), Model: model, Load: tc.cfg, Stderr: io.Discard})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	_, err := Start(context.Background(), Options{Name: "fake", Command: []string{"/bin/true"}, Model: model, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "no hello") {
		t.Errorf("a program that is no engine: err = %v", err)
	}
}

func TestCloseStopsTheEngine(t *testing.T) {
	p, events := start(t, fakeConfig{}, nil)
	pid := p.Stats().Process.PID
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("engine process %d still exists after Close (kill 0: %v)", pid, err)
	}
	if _, _, err := generate(p, "x"); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("after Close: err = %v, want ErrClosed", err)
	}
	if got := events.kinds(); got != "" {
		t.Errorf("a requested stop made events %v", got)
	}
}

func TestEnvironKeepsOnlyWhatEnginesRead(t *testing.T) {
	got := Environ([]string{"PATH=/bin", "WARDEN_AUTH_KEYS=secret", "CUDA_VISIBLE_DEVICES=0", "AWS_SECRET_ACCESS_KEY=x", "OLLAMA_LIBRARY_PATH=/l", "HOME=/h"})
	if strings.Join(got, " ") != "PATH=/bin CUDA_VISIBLE_DEVICES=0 OLLAMA_LIBRARY_PATH=/l HOME=/h" {
		t.Errorf("Environ = %v", got)
	}
}

// eventLog records a Process's events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

func (l *eventLog) kinds() string {
	var k []string
	for _, e := range l.all() {
		k = append(k, e.Kind)
	}
	return strings.Join(k, " ")
}

func TestBackoffDoublesUpToItsLimit(t *testing.T) {
	for inARow, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 30 * time.Second, 200: 30 * time.Second} {
		if got := backoff(time.Second, 30*time.Second, inARow); got != want {
			t.Errorf("backoff after %d crashes = %s, want %s", inARow, got, want)
		}
	}
}
