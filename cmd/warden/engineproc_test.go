package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/sandbox"
)

func TestWarnExposedDataDir(t *testing.T) {
	root := t.TempDir()
	lib := filepath.Join(root, "lib")
	data := filepath.Join(lib, "warden")
	other := filepath.Join(root, "state")
	for _, d := range []string{data, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p := sandbox.Policy{Read: []string{"/etc/ld.so.cache"}, Exec: []string{lib}}
	for _, tc := range []struct {
		dir  string
		warn bool
	}{{data, true}, {lib, true}, {other, false}, {root + "/libx", false}} {
		var buf bytes.Buffer
		warnExposedDataDir(slog.New(slog.NewTextHandler(&buf, nil)), tc.dir, p)
		if got := strings.Contains(buf.String(), "THE ENGINE SANDBOX CAN READ THE DATA DIRECTORY"); got != tc.warn {
			t.Errorf("data directory %s beside a readable %s: warned %t, want %t", tc.dir, lib, got, tc.warn)
		}
	}
}

func TestDescribeSandbox(t *testing.T) {
	got := describeSandbox([]engine.SandboxMeasure{{Name: "seccomp", InForce: true}, {Name: "landlock_fs", Detail: "kernel lacks it"}, {Name: "no_new_privs", InForce: true}})
	if want := "in force: seccomp no_new_privs; NOT in force: landlock_fs (kernel lacks it)"; got != want {
		t.Errorf("describeSandbox = %q, want %q", got, want)
	}
}

func TestEngineOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o  engineOptions
		ok bool
	}{
		{engineOptions{isolation: isolationProcess, maxCrashes: 3}, true},
		{engineOptions{isolation: isolationInProcess, maxCrashes: 1}, true},
		{engineOptions{isolation: "thread", maxCrashes: 3}, false},
		{engineOptions{isolation: isolationProcess, maxCrashes: 0}, false},
	} {
		if err := tc.o.validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: validate = %v", tc.o, err)
		}
	}
}
