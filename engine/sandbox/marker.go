package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// markerEnv is set by Enter in the environment of the re-executed program.
// Its presence means stage 2; its value is the stage-1 report as JSON, since
// the measures stage 1 applied can only be known to the process that
// applied them.
const markerEnv = "WARDEN_SANDBOX_STAGE1"

// Confined reports whether this process is the re-executed stage 2 of Enter
// (Finish has not yet removed the marker).
func Confined() bool {
	_, ok := os.LookupEnv(markerEnv)
	return ok
}

// withMarker returns env without any marker it carries, plus a marker that
// carries r.
func withMarker(env []string, r Report) ([]string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("sandbox: encode stage-1 report: %w", err)
	}
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, markerEnv+"=") {
			out = append(out, kv)
		}
	}
	return append(out, markerEnv+"="+string(b)), nil
}

// takeMarker reads the stage-1 report from the environment and removes the
// marker, so that nothing this process starts inherits it.
func takeMarker() (Report, error) {
	v, ok := os.LookupEnv(markerEnv)
	if !ok {
		return Report{}, errors.New("sandbox: not confined: Finish called without Enter's marker")
	}
	if err := os.Unsetenv(markerEnv); err != nil {
		return Report{}, fmt.Errorf("sandbox: unset %s: %w", markerEnv, err)
	}
	var r Report
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return Report{}, fmt.Errorf("sandbox: decode stage-1 report: %w", err)
	}
	return r, nil
}
