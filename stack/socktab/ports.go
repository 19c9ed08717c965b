package socktab

import (
	"fmt"

	"github.com/xdpengine/engine/portalloc"
)

// Allocator returns the port allocator of proto.
func (t *Table) Allocator(p Proto) *portalloc.Allocator { return t.alloc[p] }

// SetPortRange changes the ephemeral range of TCP and UDP at run time, as
// writing net.ipv4.ip_local_port_range does. Sockets holding ports outside
// the new range keep them until closed; every automatic choice (connect,
// bind(port 0), listen) made after it returns comes from the new range.
// The range is refused, with an error matching syscall.EINVAL and
// portalloc.ErrConfig, when first > last or first lies below
// Config.UnprivilegedPortStart, as Linux refuses it. Safe to call while
// workers connect.
func (t *Table) SetPortRange(r portalloc.Range) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.alloc[TCP].SetRange(r); err != nil {
		return fmt.Errorf("socktab: %w", err)
	}
	if err := t.alloc[UDP].SetRange(r); err != nil { // same checks: cannot fail here
		return fmt.Errorf("socktab: %w", err)
	}
	return nil
}

// SetReservedPorts replaces the reserved ports of TCP and UDP at run time,
// as writing net.ipv4.ip_local_reserved_ports does (nil: none). Automatic
// choice skips them; explicit binds may take them; ports already taken stay
// taken. Safe to call while workers connect.
func (t *Table) SetReservedPorts(rs []portalloc.Range) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.alloc[TCP].SetReserved(rs); err != nil {
		return fmt.Errorf("socktab: %w", err)
	}
	if err := t.alloc[UDP].SetReserved(rs); err != nil {
		return fmt.Errorf("socktab: %w", err)
	}
	return nil
}
