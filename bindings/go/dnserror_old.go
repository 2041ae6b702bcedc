//go:build !go1.23

package xsvc

import "net"

// Before Go 1.23 net.DNSError has nothing to wrap with.
func setUnwrapped(*net.DNSError, *Error) {}
