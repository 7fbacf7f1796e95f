package server

import (
	"strings"
	"testing"

	"github.com/warden-llm/warden/auth"
)

// TestMetricsRolesAreTheOneList: every MetricsRoles entry parses to
// itself, every role is one, and the refusal offers each of them in the
// words it always used.
func TestMetricsRolesAreTheOneList(t *testing.T) {
	_, refusal := ParseMetricsRole("root")
	if refusal == nil || !strings.Contains(refusal.Error(), "want admin, auditor, user or none") {
		t.Fatalf("refusal %v, want the message it always gave", refusal)
	}
	for _, r := range MetricsRoles() {
		if got, err := ParseMetricsRole(string(r)); err != nil || got != r {
			t.Errorf("ParseMetricsRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, r := range append(auth.Roles(), MetricsOpen) {
		if !strings.Contains(refusal.Error(), string(r)) {
			t.Errorf("refusal %v does not offer %q", refusal, r)
		}
	}
	if MetricsRoles()[0] != auth.RoleAdmin {
		t.Errorf("MetricsRoles starts with %q; the default, admin, comes first", MetricsRoles()[0])
	}
}
