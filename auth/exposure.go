// Package auth decides who may call Warden: bearer tokens (JWT) verified
// strictly against pinned keys, the roles they grant, and the rule that an
// endpoint without authentication never leaves the machine.
package auth

import (
	"fmt"
	"net/netip"
)

// CheckListenAddress refuses to serve host beyond loopback unless
// authentication is enabled. A name other than "localhost" is refused too:
// it could resolve to anything.
func CheckListenAddress(host string, authEnabled bool) error {
	if authEnabled || IsLoopback(host) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %q with authentication off: anyone who can reach that address could use the model "+
		"and every admin endpoint; turn authentication on (drop --auth=false) or listen on 127.0.0.1 (the default) or ::1", host)
}

// IsLoopback reports whether host is a loopback address or "localhost".
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
