package sandbox

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestVerifyStage1RejectsForgedMarker(t *testing.T) {
	// A marker claiming what this process lacks must not be believed. The
	// test may itself run confined (a container), so ask the kernel first.
	checked := 0
	if v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err == nil && v == 0 {
		checked++
		if err := verifyStage1(Report{Measures: []Measure{inForce(NoNewPrivs, "")}}); err == nil {
			t.Error("verifyStage1 believed no_new_privs in a process without it")
		}
	}
	if v, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err == nil && v == 0 {
		checked++
		if err := verifyStage1(Report{Measures: []Measure{inForce(Seccomp, "")}}); err == nil {
			t.Error("verifyStage1 believed seccomp in a process without a filter")
		}
	}
	if err := verifyStage1(Report{Measures: []Measure{notInForce(NoNewPrivs, ""), notInForce(Seccomp, "")}}); err != nil {
		t.Errorf("verifyStage1 of a report claiming nothing: %v", err)
	}
	if checked == 0 {
		t.Skip("this test process already has no_new_privs and a seccomp filter")
	}
}
