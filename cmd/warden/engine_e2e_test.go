package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"
)

// abortMark in a prompt makes a test build's engine process call abort(3)
// mid-generation, after its third piece of text
// (engine/runner/hooks_wardentest.go); ignore_eos makes sure there is one.
const abortMark = "ABORT-THE-ENGINE"

var abortRequest = fmt.Sprintf(`{"model": %q, "messages": [{"role": "user", "content": "please %s"}], "max_tokens": 64, "ignore_eos": true}`,
	demoName, abortMark)

// TestEngineCrashCostsOnlyItsRequests: an engine process that aborts
// mid-generation takes only the requests it held: they get a 503 (or, once
// streaming, an error event), each with an audit record; the server stays
// up, the engine restarts, the next request is answered, ps and /metrics
// count the restart; after --engine-max-crashes crashes in a row the model
// is unloaded; SIGINT still drains and stops cleanly, and the audit chain
// verifies with a record of every request and every crash.
func TestEngineCrashCostsOnlyItsRequests(t *testing.T) {
	w := startWardenWith(t, wardenTestBinary(t), []string{"WARDEN_TEST_ENGINE_ABORT=" + abortMark},
		"--lock", repoLock, "--parallel", "4", "--engine-max-crashes", "2", "--metrics-role", "none")
	ctx := context.Background()
	enginePID := engineProcesses(t, w.pid)

	// A stream is running (ignore_eos keeps it going) when another
	// request crashes the engine.
	params := chatParams(demoName, "tell me a long story")
	params.MaxTokens = openai.Int(1500)
	stream := w.client.Chat.Completions.NewStreaming(ctx, params, option.WithJSONSet("ignore_eos", true))
	if !stream.Next() {
		t.Fatalf("stream: no first chunk: %v", stream.Err())
	}
	streamDone := make(chan error, 1)
	go func() {
		for stream.Next() {
		}
		streamDone <- stream.Err()
	}()
	code, body := post(t, w.base+"/v1/chat/completions", w.token, abortRequest)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"engine_crashed"`) || !strings.Contains(body, `"type":"server_error"`) {
		t.Fatalf("the crashing request: %d %s, want a 503 engine_crashed in OpenAI's shape", code, body)
	}
	// The stream the engine also held ends with OpenAI's error event.
	if err := <-streamDone; err == nil || !strings.Contains(err.Error(), "engine process stopped") {
		t.Errorf("stream beside the crash: %v, want it ended by an engine_crashed error event", err)
	}

	// The server is up, and the next request waits for the new engine.
	if err := syscall.Kill(w.pid, 0); err != nil {
		t.Fatalf("warden died with its engine: %v", err)
	}
	res, err := w.client.Chat.Completions.New(ctx, chatParams(demoName, "are you back?"))
	if err != nil || res.Choices[0].Message.Content == "" {
		t.Fatalf("after the restart: %v %+v", err, res)
	}
	if now := engineProcesses(t, w.pid); now == enginePID {
		t.Errorf("engine process %d still there after it aborted", now)
	}

	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")
	out, err := runPsCommand(t, w, admin)
	if err != nil || !regexp.MustCompile(`Engine of warden-demo: pid \d+, running, 1 restarts, 1 crashes \(last: (signal: aborted|exit status 2)\)`).MatchString(out) {
		t.Errorf("warden ps after a crash: %v\n%s", err, out)
	}
	vec := scrape(t, w.base, "")
	if got := sample(vec, "warden_model_engine_restarts_total", model.LabelSet{"model": demoName}); got != 1 {
		t.Errorf("warden_model_engine_restarts_total = %v, want 1", got)
	}
	if got := sample(vec, "warden_model_engine_up", model.LabelSet{"model": demoName}); got != 1 {
		t.Errorf("warden_model_engine_up = %v, want 1", got)
	}

	// Two crashes in a row: the model is given up and unloaded.
	for i := range 2 {
		code, body := post(t, w.base+"/v1/chat/completions", w.token, abortRequest)
		if code != http.StatusServiceUnavailable {
			t.Fatalf("crash %d in a row: %d %s", i+1, code, body)
		}
	}
	// The unload and its log line follow the crash without a request
	// waiting on them: wait for both.
	deadline := time.Now().Add(30 * time.Second)
	for {
		models, err := w.client.Models.List(ctx)
		unloaded := err == nil && len(models.Data) == 0
		logged := strings.Contains(w.logs.String(), "MODEL UNLOADED: its engine process was given up")
		if unloaded && logged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after crashing twice in a row: listed %+v (%v); log line says why: %t", models, err, logged)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := w.stop(); err != nil {
		t.Fatalf("warden did not stop cleanly: %v", err)
	}
	if out, err := runWarden(t, "audit", "verify", "--data-dir", w.dataDir); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	recs := exportRecords(t, w.dataDir)
	crashed := 0
	for _, r := range recs {
		if r["error_type"] == "engine_crashed" {
			crashed++
		}
	}
	// The three aborting requests, and the stream.
	if crashed != 4 {
		t.Errorf("%d records of requests lost to a crash, want 4", crashed)
	}
	if got := count(recs, "action", "engine_crash"); got != 3 {
		t.Errorf("%d engine_crash records, want 3", got)
	}
	if got := count(recs, "action", "engine_restart"); got != 2 {
		t.Errorf("%d engine_restart records, want 2", got)
	}
	if got := count(recs, "action", "engine_give_up"); got != 1 {
		t.Errorf("%d engine_give_up records, want 1", got)
	}
	if got := count(recs, "status", float64(http.StatusServiceUnavailable)); got != 3 {
		t.Errorf("%d records with status 503, want the 3 aborting requests", got)
	}
}

// engineProcesses returns the pid of parent's one engine process.
func engineProcesses(t *testing.T, parent int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var found []int
		dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, f := range dirs {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var pid, ppid int
			var comm, state string
			// comm has no spaces here: /proc/self/exe is run as "exe".
			if _, err := fmt.Sscanf(string(b), "%d %s %s %d", &pid, &comm, &state, &ppid); err == nil && ppid == parent {
				found = append(found, pid)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("warden %d has engine processes %v, want one", parent, found)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEngineSandboxAgainstBinary: the engine process of the real binary,
// probing from inside its sandbox, cannot read the data directory's
// signing key or open a socket, on a kernel with Landlock and seccomp;
// ps reports the measures in force.
func TestEngineSandboxAgainstBinary(t *testing.T) {
	if !kernelHasLandlock() {
		t.Skip("this kernel has no Landlock: the engine's file system sandbox cannot be shown here")
	}
	// The key exists before serve starts: the probe runs at the engine's start.
	dataDir := t.TempDir()
	issueToken(t, dataDir, "--sub", "x", "--role", "user")
	key := filepath.Join(dataDir, "keys", "local-ed25519.pem") // the JWT signing key
	w := startWardenWith(t, wardenTestBinary(t), []string{"WARDEN_TEST_ENGINE_PROBE=" + key},
		"--lock", repoLock, "--data-dir", dataDir)
	probe := probeResult(t, w.logs.String())
	for what, want := range map[string]string{
		"read_file":           "refused: permission denied",
		"socket_inet":         "refused: operation not permitted",
		"socket_unix":         "refused: operation not permitted",
		"dial_tcp":            "refused: operation not permitted",
		"read_parent_environ": "refused: permission denied",
	} {
		if probe[what] != want {
			t.Errorf("engine probe %s: %q, want %q", what, probe[what], want)
		}
	}
	// The same file is readable to the server itself, so the refusal is
	// the sandbox's, not the file's mode.
	if _, err := os.ReadFile(key); err != nil {
		t.Fatalf("the test cannot read %s either: %v", key, err)
	}
	admin := issueToken(t, dataDir, "--sub", "ops", "--role", "admin")
	out, err := runPsCommand(t, w, admin)
	for _, m := range []string{"landlock_fs", "seccomp", "no_new_privs", "non_dumpable", "exec_denied"} {
		if err != nil || !regexp.MustCompile(`sandbox in force:[^;\n]*\b`+m+`\b`).MatchString(out) {
			t.Errorf("warden ps does not show %s in force: %v\n%s", m, err, out)
		}
	}
}

// TestEngineSandboxOffLetsTheProbeThrough shows the probe can fail: with
// --engine-sandbox=false the same engine reads the key.
func TestEngineSandboxOffLetsTheProbeThrough(t *testing.T) {
	dataDir := t.TempDir()
	issueToken(t, dataDir, "--sub", "x", "--role", "user")
	key := filepath.Join(dataDir, "keys", "local-ed25519.pem")
	w := startWardenWith(t, wardenTestBinary(t), []string{"WARDEN_TEST_ENGINE_PROBE=" + key},
		"--lock", repoLock, "--data-dir", dataDir, "--engine-sandbox=false")
	probe := probeResult(t, w.logs.String())
	if probe["read_file"] != "allowed" || probe["socket_inet"] != "allowed" {
		t.Errorf("unconfined engine probe = %v, want the key read and a socket made", probe)
	}
	if !strings.Contains(w.logs.String(), "NOT in force: sandbox (turned off") {
		t.Errorf("the start log does not say the sandbox is off")
	}
}

// probeResult parses the engine's probe report from the server log:
// what it tried, and "allowed" or "refused: why".
func probeResult(t *testing.T, logs string) map[string]string {
	t.Helper()
	_, line, ok := strings.Cut(logs, `msg="engine sandbox probe" `)
	if !ok {
		t.Fatalf("no engine sandbox probe in the log:\n%s", logs)
	}
	line, _, _ = strings.Cut(line, "\n")
	out := map[string]string{}
	for _, kv := range regexp.MustCompile(`(\w+)=(?:"([^"]*)"|(\S+))`).FindAllStringSubmatch(line, -1) {
		out[kv[1]] = kv[2] + kv[3]
	}
	return out
}

// kernelHasLandlock asks the kernel for its Landlock ABI version.
func kernelHasLandlock() bool {
	const versionFlag = 1 // LANDLOCK_CREATE_RULESET_VERSION
	v, _, errno := syscall.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, versionFlag)
	return errno == 0 && int(v) >= 1
}
