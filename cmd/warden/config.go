package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// applyConfigFile sets, from a flat YAML file, every flag not given on the
// command line. Keys are flag names; an unknown key is an error, so a typo
// never passes silently.
func applyConfigFile(cmd *cobra.Command, path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var values map[string]any
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&values); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	flags := cmd.Flags()
	for key, v := range values {
		name := strings.ReplaceAll(key, "_", "-")
		f := flags.Lookup(name)
		if f == nil || name == "config" {
			return fmt.Errorf("config %s: unknown key %q for `%s`; keys are the command's flag names (warden %s --help)",
				path, key, cmd.CommandPath(), cmd.Name())
		}
		if f.Changed {
			continue // the command line wins
		}
		if err := setFlag(flags, f, v); err != nil {
			return fmt.Errorf("config %s: key %q: %w", path, key, err)
		}
	}
	return nil
}

func setFlag(flags *pflag.FlagSet, f *pflag.Flag, v any) error {
	switch v := v.(type) {
	case []any:
		if !strings.HasSuffix(f.Value.Type(), "Array") && !strings.HasSuffix(f.Value.Type(), "Slice") {
			return fmt.Errorf("want a single value, got a list")
		}
		for _, item := range v {
			if err := setFlag(flags, f, item); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		return fmt.Errorf("want a single value, got %T", v)
	case nil:
		return fmt.Errorf("no value")
	default:
		return flags.Set(f.Name, fmt.Sprint(v))
	}
}
