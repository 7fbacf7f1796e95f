package volume

import (
	"strings"
	"testing"
)

func TestRequireParse(t *testing.T) {
	got, err := ParseRequirements([]string{"encrypted_volume", " read_only_mount", "encrypted_volume"})
	if err != nil || len(got) != 2 || got[0] != EncryptedVolume || got[1] != ReadOnlyMount {
		t.Fatalf("got %v, %v", got, err)
	}
	_, err = ParseRequirements([]string{"read_only"})
	if err == nil || !strings.Contains(err.Error(), `"read_only"`) || !strings.Contains(err.Error(), "read_only_mount, encrypted_volume") {
		t.Fatalf("error %v, want the bad value and the list", err)
	}
}

func TestRequireCheck(t *testing.T) {
	luks := Encryption{Known: true, Encrypted: true, By: "dm-crypt dm-0"}
	unknown := Encryption{Reason: "nfs"}
	tests := []struct {
		name    string
		p       Placement
		reqs    []Requirement
		missing []string
	}{
		{"nothing required", Placement{}, nil, nil},
		{"both met", Placement{ReadOnlyMount: true, Encryption: luks}, []Requirement{ReadOnlyMount, EncryptedVolume}, nil},
		{"writable", Placement{Encryption: luks}, []Requirement{ReadOnlyMount, EncryptedVolume}, []string{"read_only_mount"}},
		{"not encrypted", Placement{ReadOnlyMount: true, Encryption: Encryption{Known: true}}, []Requirement{EncryptedVolume}, []string{"encrypted_volume", "is no;"}},
		{"unknown is not enough", Placement{ReadOnlyMount: true, Encryption: unknown}, []Requirement{EncryptedVolume}, []string{"unknown (nfs)"}},
		{"both missing", Placement{}, []Requirement{ReadOnlyMount, EncryptedVolume}, []string{"read_only_mount", "encrypted_volume"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check("/m/x.gguf", tt.reqs)
			if len(tt.missing) == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, m := range append(tt.missing, DocLink, "/m/x.gguf") {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
}
