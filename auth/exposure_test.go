package auth

import "testing"

func TestCheckListenAddress(t *testing.T) {
	tests := []struct {
		host string
		auth bool
		ok   bool
	}{
		{"127.0.0.1", false, true},
		{"127.0.0.2", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"localhost", false, true},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"", false, false}, // all interfaces
		{"192.168.1.10", false, false},
		{"example.com", false, false},
		{"localhost.example.com", false, false},
		{"0.0.0.0", true, true},
	}
	for _, tt := range tests {
		err := CheckListenAddress(tt.host, tt.auth)
		if (err == nil) != tt.ok {
			t.Errorf("CheckListenAddress(%q, auth=%v) = %v, want ok=%v", tt.host, tt.auth, err, tt.ok)
		}
	}
}
