package xsvc

import (
	"net/netip"
	"time"
)

// Source says where a record came from.
type Source uint8

// Record sources (xs_source).
const (
	SourceRegistry Source = iota // synthesized from the registry
	SourceUpstream               // fetched from upstream DNS for this call
	SourceCache                  // served from the cache, fresh
	SourceStale                  // served from the cache after expiry (upstream failed)
)

func (s Source) String() string {
	switch s {
	case SourceRegistry:
		return "registry"
	case SourceUpstream:
		return "upstream"
	case SourceCache:
		return "cache"
	case SourceStale:
		return "stale"
	}
	return "unknown"
}

// Link is one CNAME link of a chain: Name -> Target (absolute, with the
// trailing dot).
type Link struct {
	Name   string
	Target string
	TTL    time.Duration
	Source Source
}

// Address is one address of an answer.
type Address struct {
	IP     netip.Addr
	TTL    time.Duration
	Source Source
}

// Answer is what a resolution found, copied out of the library's result
// (it owns no C memory). Names are absolute, with the trailing dot.
type Answer struct {
	Status Status // StatusOK, or why it failed (on an *Error's Answer)
	Query  string // the name as asked
	Name   string // the candidate that answered
	// Target is the name for TLS ServerName, the certificate check and the
	// HTTP Host header (xs_result_target): the ExternalName's target as the
	// registry holds it (after in-cluster aliases), the name asked when it
	// is outside the cluster, or a ClusterIP/headless Service's in-cluster
	// name. Never a name learned from an upstream CNAME.
	Target string
	// FinalName is the chain's last name, upstream CNAMEs included: the
	// name the addresses belong to (xs_result_final_name). For
	// diagnostics, not for TLS.
	FinalName  string
	TTL        time.Duration
	Chain      []Link    // the answering candidate's CNAME chain, in order
	Addrs      []Address // IPv4 first in answer order, then IPv6
	Candidates []string  // every absolute candidate tried, in order
	Policy     string    // why the policy refused (StatusPolicy), else ""
}

// IPs is the addresses without their TTLs and sources.
func (a *Answer) IPs() []netip.Addr {
	ips := make([]netip.Addr, len(a.Addrs))
	for i, ad := range a.Addrs {
		ips[i] = ad.IP
	}
	return ips
}

// Hosts is the addresses as text, as net.Resolver.LookupHost gives them.
func (a *Answer) Hosts() []string {
	hosts := make([]string, len(a.Addrs))
	for i, ad := range a.Addrs {
		hosts[i] = ad.IP.String()
	}
	return hosts
}

// reader walks the bytes helper.c packed. Its strings share one
// allocation: the whole buffer copied into s once.
type reader struct {
	s string
	i int
}

func (r *reader) u8() byte {
	b := r.s[r.i]
	r.i++
	return b
}

func (r *reader) u16() int {
	v := int(r.s[r.i]) | int(r.s[r.i+1])<<8
	r.i += 2
	return v
}

func (r *reader) u32() uint32 {
	v := uint32(r.s[r.i]) | uint32(r.s[r.i+1])<<8 | uint32(r.s[r.i+2])<<16 | uint32(r.s[r.i+3])<<24
	r.i += 4
	return v
}

func (r *reader) str() string {
	n := r.u16()
	s := r.s[r.i : r.i+n]
	r.i += n
	return s
}

func seconds(v uint32) time.Duration { return time.Duration(v) * time.Second }

// answerBlock is an Answer with room for the usual number of candidates,
// links and addresses: one allocation instead of four.
type answerBlock struct {
	a     Answer
	cand  [4]string
	chain [2]Link
	addrs [4]Address
}

// parseAnswer reads helper.c's XSGO_ANSWER layout.
func parseAnswer(st Status, data []byte) *Answer {
	b := &answerBlock{}
	a := &b.a
	a.Status = st
	if len(data) == 0 {
		return a
	}
	r := reader{s: string(data)}
	a.TTL = seconds(r.u32())
	a.Query = r.str()
	a.Name = r.str()
	a.Target = r.str()
	a.FinalName = r.str()
	a.Policy = r.str()
	if n := r.u16(); n > 0 {
		if n <= len(b.cand) {
			a.Candidates = b.cand[:n:n]
		} else {
			a.Candidates = make([]string, n)
		}
		for i := range a.Candidates {
			a.Candidates[i] = r.str()
		}
	}
	if n := r.u16(); n > 0 {
		if n <= len(b.chain) {
			a.Chain = b.chain[:n:n]
		} else {
			a.Chain = make([]Link, n)
		}
		for i := range a.Chain {
			l := &a.Chain[i]
			l.Name = r.str()
			l.Target = r.str()
			l.TTL = seconds(r.u32())
			l.Source = Source(r.u8())
		}
	}
	if n := r.u16(); n > 0 {
		if n <= len(b.addrs) {
			a.Addrs = b.addrs[:n:n]
		} else {
			a.Addrs = make([]Address, n)
		}
		for i := range a.Addrs {
			ad := &a.Addrs[i]
			if r.u8() == 6 {
				var b [16]byte
				copy(b[:], r.s[r.i:r.i+16])
				r.i += 16
				ad.IP = netip.AddrFrom16(b)
			} else {
				var b [4]byte
				copy(b[:], r.s[r.i:r.i+4])
				r.i += 4
				ad.IP = netip.AddrFrom4(b)
			}
			ad.TTL = seconds(r.u32())
			ad.Source = Source(r.u8())
		}
	}
	return a
}

// parseHosts reads helper.c's XSGO_HOSTS layout: the policy text and the
// addresses as text.
func parseHosts(data []byte) (policy string, hosts []string) {
	if len(data) == 0 {
		return "", nil
	}
	r := reader{s: string(data)}
	policy = r.str()
	if n := r.u16(); n > 0 {
		hosts = make([]string, n)
		for i := range hosts {
			hosts[i] = r.str()
		}
	}
	return policy, hosts
}
