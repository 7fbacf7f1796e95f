// Package auth decides who may call Warden. Token verification and roles
// build on the rule here: an endpoint without authentication never leaves
// the machine.
package auth

import (
	"fmt"
	"net/netip"
)

// CheckListenAddress refuses to serve host beyond loopback unless
// authentication is enabled. A name other than "localhost" is refused too:
// it could resolve to anything.
func CheckListenAddress(host string, authEnabled bool) error {
	if authEnabled || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %q: without authentication anyone who can reach that address could use the model; "+
		"listen on 127.0.0.1 (the default) or ::1, or put a reverse proxy that authenticates in front of Warden", host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
