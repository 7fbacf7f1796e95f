package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warden.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileFillsFlagsNotGiven(t *testing.T) {
	cmd := &cobra.Command{Use: "serve"}
	port := cmd.Flags().Int("port", 8080, "")
	host := cmd.Flags().String("host", "127.0.0.1", "")
	maxBody := cmd.Flags().Int64("max-body", 1, "")
	if err := cmd.ParseFlags([]string{"--port", "7000"}); err != nil {
		t.Fatal(err)
	}
	err := applyConfigFile(cmd, writeConfig(t, "port: 9000\nhost: \"::1\"\nmax_body: 2048\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *port != 7000 || *host != "::1" || *maxBody != 2048 {
		t.Errorf("port %d (want the flag's 7000), host %q, max-body %d", *port, *host, *maxBody)
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := map[string]string{
		"unknown key":  "prot: 9000\n",
		"nested value": "port:\n  value: 1\n",
		"wrong type":   "port: lots\n",
		"not YAML":     "port: [\n",
		"config key":   "config: other.yaml\n",
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			cmd := &cobra.Command{Use: "serve"}
			cmd.Flags().Int("port", 8080, "")
			cmd.Flags().String("config", "", "")
			err := applyConfigFile(cmd, writeConfig(t, content))
			if err == nil || !strings.Contains(err.Error(), "warden.yaml") {
				t.Fatalf("err = %v, want an error naming the file", err)
			}
		})
	}
}
