package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/warden-llm/warden/models/volume"
)

// addRequireFlag binds --models-require (models.require), shared by serve
// and "warden models verify" so that verify fails what serve would refuse.
func addRequireFlag(f *pflag.FlagSet, values *[]string) {
	var names []string
	for _, r := range volume.Requirements() {
		names = append(names, string(r))
	}
	f.StringSliceVar(values, "models-require", nil, fmt.Sprintf(
		"refuse a model file that lacks these, comma-separated: %s (see %s)", strings.Join(names, ", "), volume.DocLink))
}

// placementText is where a file lies, as "warden models verify" prints it.
func placementText(p volume.Placement) string {
	return fmt.Sprintf("read_only_mount=%t encrypted_volume=%s", p.ReadOnlyMount, p.Encryption)
}
