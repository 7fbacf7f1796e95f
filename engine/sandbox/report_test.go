package sandbox

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestReportString(t *testing.T) {
	tests := []struct {
		name string
		r    Report
		want string
	}{
		{"empty", Report{}, "no measure in force"},
		{"mixed", Report{Measures: []Measure{
			inForce(NoNewPrivs, ""),
			inForce(LandlockFS, "abi 5, 3 rules"),
			notInForce(LandlockScope, "kernel ABI 5 lacks it"),
			notInForce(AddressSpaceLimit, "no limit set"),
		}}, "no_new_privs landlock_fs(abi 5, 3 rules); not in force: landlock_scope (kernel ABI 5 lacks it), address_space_limit (no limit set)"},
		{"none in force", Report{Measures: []Measure{notInForce(Seccomp, "")}}, "no measure in force; not in force: seccomp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("String() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestReportInForce(t *testing.T) {
	r := Report{Measures: []Measure{inForce(Seccomp, "x"), notInForce(LandlockNet, "y")}}
	for name, want := range map[string]bool{Seccomp: true, LandlockNet: false, LandlockFS: false} {
		if got := r.InForce(name); got != want {
			t.Errorf("InForce(%q) = %t, want %t", name, got, want)
		}
	}
}

func TestMarkerCarriesReport(t *testing.T) {
	r := Report{Measures: []Measure{inForce(NoNewPrivs, ""), notInForce(LandlockScope, "kernel ABI 5 lacks it")}}
	env, err := withMarker([]string{"A=1", markerEnv + "=stale", "B=2"}, r)
	if err != nil {
		t.Fatal(err)
	}
	var markers []string
	for _, kv := range env {
		if len(kv) > len(markerEnv) && kv[:len(markerEnv)+1] == markerEnv+"=" {
			markers = append(markers, kv[len(markerEnv)+1:])
		}
	}
	if len(markers) != 1 || len(env) != 3 {
		t.Fatalf("env = %q, want A, B and one marker", env)
	}
	t.Setenv(markerEnv, markers[0])
	if !Confined() {
		t.Fatal("Confined() = false with the marker set")
	}
	got, err := takeMarker()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("takeMarker() = %+v, want %+v", got, r)
	}
	if Confined() {
		t.Error("Confined() = true after takeMarker removed the marker")
	}
	if _, err := takeMarker(); err == nil {
		t.Error("takeMarker() without a marker: no error")
	}
}

func TestMarkerRejectsGarbage(t *testing.T) {
	t.Setenv(markerEnv, "{not json")
	if _, err := takeMarker(); err == nil {
		t.Error("takeMarker() of a malformed marker: no error")
	}
}

func TestMeasureJSON(t *testing.T) {
	b, err := json.Marshal(inForce(Seccomp, "denies socket"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"seccomp","in_force":true,"detail":"denies socket"}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
}
