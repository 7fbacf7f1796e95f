package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warden-llm/warden/engine/cpuvariant"
)

// scrape reads /metrics with Prometheus's own text parser.
func scrape(t *testing.T, base, token string) model.Vector {
	t.Helper()
	code, body := get(t, base+"/metrics", token)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, slices.Collect(maps.Values(fams))...)
	if err != nil {
		t.Fatal(err)
	}
	return vec
}

// sample is the value of the series called name with exactly the given
// labels besides its name, or -1 when there is none.
func sample(vec model.Vector, name string, labels model.LabelSet) float64 {
	want := labels.Clone()
	want[model.MetricNameLabel] = model.LabelValue(name)
	for _, s := range vec {
		if model.LabelSet(s.Metric).Equal(want) {
			return float64(s.Value)
		}
	}
	return -1
}

func runPsCommand(t *testing.T, w *instance, token string) (string, error) {
	t.Helper()
	cmd := exec.Command(wardenBinary(t), "ps", "--url", w.base)
	cmd.Env = append(os.Environ(), "WARDEN_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestMetricsAndPsAgainstBinary: the real server guards /metrics with the
// admin role, its counters follow a chat request, its gauges describe the
// loaded model as GET /admin/models does, and warden ps prints the same.
func TestMetricsAndPsAgainstBinary(t *testing.T) {
	w := startWarden(t, "--lock", repoLock, "--parallel", "2")
	admin := issueToken(t, w.dataDir, "--sub", "ops", "--role", "admin")
	if code, _ := get(t, w.base+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d, want 401", code)
	}
	if code, _ := get(t, w.base+"/metrics", w.token); code != http.StatusForbidden {
		t.Errorf("/metrics with a user token: %d, want 403", code)
	}

	demo := model.LabelSet{"model": demoName}
	before := scrape(t, w.base, admin)
	chat, err := w.client.Chat.Completions.New(context.Background(), chatParams(demoName, "Hello there"))
	if err != nil {
		t.Fatal(err)
	}
	after := scrape(t, w.base, admin)
	moved := func(name string, labels model.LabelSet) float64 {
		return sample(after, name, labels) - max(0, sample(before, name, labels))
	}
	ok := model.LabelSet{"endpoint": "/v1/chat/completions", "status": "200", "model": demoName}
	if d := moved("warden_http_requests_total", ok); d != 1 {
		t.Errorf("chat requests moved by %v, want 1", d)
	}
	if d := moved("warden_prompt_tokens_total", demo); d != float64(chat.Usage.PromptTokens) {
		t.Errorf("prompt tokens moved by %v, usage says %d", d, chat.Usage.PromptTokens)
	}
	if d := moved("warden_completion_tokens_total", demo); d != float64(chat.Usage.CompletionTokens) {
		t.Errorf("completion tokens moved by %v, usage says %d", d, chat.Usage.CompletionTokens)
	}

	code, body := get(t, w.base+"/admin/models", admin)
	var list psList
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != http.StatusOK || len(list.Data) != 1 || list.Data[0].Stats == nil {
		t.Fatalf("GET /admin/models: %d %s", code, body)
	}
	kernels := list.CPUKernels
	if kernels == nil || kernels.Variant == "" || len(kernels.Features) == 0 {
		t.Fatalf("GET /admin/models names no CPU kernels: %s", body)
	}
	cpu, err := cpuvariant.Detect()
	if err != nil {
		t.Fatal(err)
	}
	if kernels.Variant != cpuvariant.BuiltIn {
		if missing := cpu.Lacks(kernels.Features); len(missing) > 0 {
			t.Fatalf("the server runs %s kernels, using %v, which this CPU lacks", kernels.Variant, missing)
		}
	}
	info := model.LabelSet{"variant": model.LabelValue(kernels.Variant), "features": model.LabelValue(strings.Join(kernels.Features, ","))}
	if v := sample(after, "warden_cpu_kernels_info", info); v != 1 {
		t.Errorf("warden_cpu_kernels_info%v = %v, want 1 (as GET /admin/models says)", info, v)
	}
	m := list.Data[0]
	st := m.Stats
	for name, want := range map[string]float64{
		"warden_model_slots":          2,
		"warden_model_kv_cache_cells": float64(2 * m.Context),
		"warden_model_queue_limit":    float64(st.QueueLimit),
	} {
		if v := sample(after, name, demo); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	weights := model.LabelSet{"model": demoName, "kind": "weights"}
	if v := sample(after, "warden_model_memory_bytes", weights); v <= 0 || v != float64(st.Memory.Weights) {
		t.Errorf("weights %v bytes in /metrics, %d in /admin/models", v, st.Memory.Weights)
	}
	if st.Parallel != 2 || st.KVCellsUsed <= 0 || st.LoadSeconds <= 0 {
		t.Errorf("admin stats after a request: %+v", st)
	}

	out, err := runPsCommand(t, w, admin)
	if err != nil {
		t.Fatalf("warden ps: %v\n%s", err, out)
	}
	sections := strings.Split(strings.TrimSpace(out), "\n\n")
	table, engineLines, kernelLine := sections[0], sections[1], sections[len(sections)-1]
	if want := "CPU kernels: " + kernels.Variant + " ("; len(sections) != 3 || !strings.HasPrefix(kernelLine, want) {
		t.Errorf("warden ps ends with %q, want it to start with %q", kernelLine, want)
	}
	if st.Engine == nil || st.Engine.PID == 0 {
		t.Fatalf("admin stats have no engine process: %+v", st)
	}
	engineLine := fmt.Sprintf("Engine of %s: pid %d, running, 0 restarts, 0 crashes\n  sandbox in force: ", demoName, st.Engine.PID)
	if !strings.HasPrefix(engineLines, engineLine) {
		t.Errorf("warden ps shows the engine as %q, want %q…", engineLines, engineLine)
	}
	lines := strings.Split(table, "\n")
	row := strings.Fields(lines[len(lines)-1])
	if len(lines) != 2 || row[0] != demoName || row[1] != m.SHA256[:12] || !slices.Contains(row, strconv.Itoa(m.Context)) {
		t.Errorf("warden ps shows:\n%s\nwant a row for %s (%s, context %d)", out, demoName, m.SHA256[:12], m.Context)
	}
	if out, err := runPsCommand(t, w, w.token); err == nil || !strings.Contains(out, "403") {
		t.Errorf("warden ps with a user token: %v\n%s", err, out)
	}
}
