package health

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Kind is the kind of check a Spec runs. The zero Kind is not a kind: a
// Spec must name one, so that a backend never goes unchecked by omission.
type Kind uint8

const (
	// KindTCP connects to the target and closes the connection.
	KindTCP Kind = iota + 1
	// KindHTTP sends an HTTP/1.1 GET of Spec.Path over a new connection
	// and expects Spec.Status.
	KindHTTP
	// KindUDP sends Spec.Send and expects a reply starting with
	// Spec.Expect (any reply when Expect is empty).
	KindUDP
	// KindNone runs no check: the target is up at once and stays up.
	KindNone
)

var kindNames = [...]string{KindTCP: "tcp", KindHTTP: "http", KindUDP: "udp", KindNone: "none"}

// String returns the kind's name as ParseKind reads it ("tcp", "http",
// "udp", "none").
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind reads a kind by name, ignoring case.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name != "" && strings.EqualFold(s, name) {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown check kind %q", ErrInvalid, s)
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) {
	if k == 0 || int(k) >= len(kindNames) {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, k)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseKind.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Defaults filled in for the zero fields of a Spec (HAProxy's choices for
// rise and fall; an interval short enough that a dead backend leaves the
// table within DefaultFall*DefaultInterval = 6 s).
const (
	DefaultInterval = 2 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
	DefaultPath     = "/"
	DefaultStatus   = 200
)

// Spec says how to check one backend. Zero fields take their defaults:
// Interval DefaultInterval, Timeout half the interval, Rise DefaultRise,
// Fall DefaultFall, Path DefaultPath and Status DefaultStatus (http only).
// For KindNone every other field is ignored.
type Spec struct {
	Kind Kind
	// Path is the path (and query) of the http check's GET: it starts
	// with "/" and holds no space or control character.
	Path string
	// Status is the status code the http check expects. Redirects are not
	// followed: a 301 is a 301.
	Status int
	// Send is the datagram the udp check sends (it may be empty).
	Send []byte
	// Expect is the prefix the udp check expects of the reply (empty:
	// any reply).
	Expect []byte
	// Interval is the time from the start of one check to the start of the
	// next.
	Interval time.Duration
	// Timeout bounds one check, dial included; it is less than Interval.
	// A check that reaches it fails, and its connection is closed.
	Timeout time.Duration
	// Rise is how many checks in a row must pass for a down target to go
	// up; Fall how many in a row must fail for an up target to go down.
	Rise, Fall int
	// InitialUp starts the target up (it then needs Fall failures to go
	// down) instead of down (it needs Rise passes to go up). The default,
	// down, keeps a backend added at startup or by a reload out of the
	// table until it has proved healthy. KindNone is always up.
	InitialUp bool
}

// Target is one backend to check.
type Target struct {
	// Key names the backend within the balancer, for example
	// "198.18.0.100:80/tcp 198.18.1.11"; Keys are unique within a Set.
	Key string
	// Addr is where the check connects (for the http check, also the Host
	// header).
	Addr netip.AddrPort
	// Via, when valid, is the neighbor the check's packets go to while
	// their destination stays Addr: a direct-server-return backend checked
	// at the VIP it owns. The DialFunc learns it from its context
	// (NextHop); one that cannot honour it must fail.
	Via  netip.Addr
	Spec Spec
}

// nextHopKey carries a Target's Via in the context of its dials.
type nextHopKey struct{}

// NextHop returns the neighbor a dial with ctx must send through (a
// Target's Via), if any.
func NextHop(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(nextHopKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}

// withDefaults returns s with its zero fields filled in. A KindNone spec
// becomes Spec{Kind: KindNone}, so that two of them compare equal whatever
// else they held.
func (s Spec) withDefaults() Spec {
	if s.Kind == KindNone {
		return Spec{Kind: KindNone}
	}
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout == 0 {
		s.Timeout = s.Interval / 2
	}
	if s.Rise == 0 {
		s.Rise = DefaultRise
	}
	if s.Fall == 0 {
		s.Fall = DefaultFall
	}
	if s.Kind == KindHTTP {
		if s.Path == "" {
			s.Path = DefaultPath
		}
		if s.Status == 0 {
			s.Status = DefaultStatus
		}
	}
	return s
}

// Validate reports whether s, with its defaults filled in, can be run; the
// error wraps ErrInvalid.
func (s Spec) Validate() error {
	s = s.withDefaults()
	switch s.Kind {
	case KindNone:
		return nil
	case KindTCP, KindHTTP, KindUDP:
	default:
		return fmt.Errorf("%w: check kind %v", ErrInvalid, s.Kind)
	}
	switch {
	case s.Interval < 0:
		return fmt.Errorf("%w: interval %v", ErrInvalid, s.Interval)
	case s.Timeout <= 0 || s.Timeout >= s.Interval:
		return fmt.Errorf("%w: timeout %v not in (0, interval %v)", ErrInvalid, s.Timeout, s.Interval)
	case s.Rise < 1 || s.Fall < 1:
		return fmt.Errorf("%w: rise %d and fall %d must be at least 1", ErrInvalid, s.Rise, s.Fall)
	}
	if s.Kind == KindHTTP {
		if !strings.HasPrefix(s.Path, "/") {
			return fmt.Errorf("%w: http path %q does not start with /", ErrInvalid, s.Path)
		}
		if strings.ContainsFunc(s.Path, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("%w: http path %q holds a space or control character", ErrInvalid, s.Path)
		}
		if _, err := url.ParseRequestURI(s.Path); err != nil {
			return fmt.Errorf("%w: http path %q: %w", ErrInvalid, s.Path, err)
		}
		if s.Status < 100 || s.Status > 599 {
			return fmt.Errorf("%w: http status %d", ErrInvalid, s.Status)
		}
	}
	return nil
}

// equal reports whether two specs, defaults filled in, run the same check.
// InitialUp is left out: it applies only when a target starts, so changing
// it alone does not restart a running target.
func (s Spec) equal(o Spec) bool {
	s, o = s.withDefaults(), o.withDefaults()
	return s.Kind == o.Kind && s.Path == o.Path && s.Status == o.Status &&
		bytes.Equal(s.Send, o.Send) && bytes.Equal(s.Expect, o.Expect) &&
		s.Interval == o.Interval && s.Timeout == o.Timeout &&
		s.Rise == o.Rise && s.Fall == o.Fall
}

// Validate reports whether t can be checked: a Key, a valid address and
// port (except for KindNone, which dials nothing) and a valid Spec.
func (t Target) Validate() error {
	if t.Key == "" {
		return fmt.Errorf("%w: target without a key", ErrInvalid)
	}
	if err := t.Spec.Validate(); err != nil {
		return fmt.Errorf("target %q: %w", t.Key, err)
	}
	if t.Spec.Kind != KindNone && (!t.Addr.IsValid() || t.Addr.Port() == 0) {
		return fmt.Errorf("%w: target %q: address %v", ErrInvalid, t.Key, t.Addr)
	}
	return nil
}
