//go:build go1.23

package xsvc

import "net"

// From Go 1.23 net.DNSError can wrap: errors.Is(err, xsvc.ErrNotFound) and
// errors.Is(err, context.DeadlineExceeded) then work on LookupHost's and
// DialContext's errors too.
func setUnwrapped(d *net.DNSError, e *Error) { d.UnwrapErr = e }
