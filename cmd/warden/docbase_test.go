package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The document base's settings are fixed for the process's life: a
// reload names them as needing a restart, as it does any other key it
// cannot apply.
func TestDocbaseKeysNeedRestart(t *testing.T) {
	load := func(content string) (*config, *cobra.Command, *serveOptions) {
		cmd, o := testServe(t)
		cfg, err := loadConfig(writeConfig(t, content))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.apply(cmd); err != nil {
			t.Fatal(err)
		}
		if err := o.validate(); err != nil {
			t.Fatal(err)
		}
		return cfg, cmd, o
	}
	oldCfg, oldCmd, _ := load("docbase:\n  embedding_model: warden-demo\n")
	newCfg, newCmd, o := load("docbase:\n  embedding_model: nomic-embed\n  max_upload_bytes: 1024\n")
	if o.docs.embeddingModel != "nomic-embed" || o.docs.maxUpload != 1024 {
		t.Fatalf("options from the file: %+v", o.docs)
	}
	changed := changedKeys(oldCfg, oldCmd, newCfg, newCmd)
	for _, k := range []string{"docbase.embedding_model", "docbase.max_upload_bytes"} {
		if !slices.Contains(changed, k) {
			t.Errorf("a reload does not report %s as needing a restart: %v", k, changed)
		}
	}
}

func TestDocbaseOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // in the error; "" for none
	}{
		{nil, ""},
		{[]string{"--embedding-model", "warden-demo", "--max-upload-bytes", "1"}, ""},
		{[]string{"--embedding-model", "./models/e5.gguf"}, "not a file"},
		{[]string{"--max-upload-bytes", "0"}, "positive"},
	} {
		_, o := testServe(t, tt.args...)
		err := o.validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%v: err %v, want %q", tt.args, err, tt.want)
		}
	}
}
