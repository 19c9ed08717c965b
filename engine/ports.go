package engine

import (
	"fmt"
	"slices"

	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/socktab"
)

// PortRange returns the ephemeral port range automatic choices come from
// (net.ipv4.ip_local_port_range).
func (e *Engine) PortRange() portalloc.Range {
	return e.tab.Allocator(socktab.TCP).Range()
}

// ReservedPorts returns the ports automatic choice skips
// (net.ipv4.ip_local_reserved_ports).
func (e *Engine) ReservedPorts() []portalloc.Range {
	e.portsMu.Lock()
	defer e.portsMu.Unlock()
	return slices.Clone(e.reserved)
}

// SetPortRange changes the ephemeral range while the engine runs, as
// writing net.ipv4.ip_local_port_range does: connections holding ports
// outside it keep them until they close; every later connect, bind to port
// 0 and automatic listen bind chooses from the new range. A range whose
// first port is below 1024 (ip_unprivileged_port_start), or whose first
// port is above its last, is refused with EINVAL and the running range
// stays.
func (e *Engine) SetPortRange(r portalloc.Range) error {
	if err := e.tab.SetPortRange(r); err != nil {
		return fmt.Errorf("engine: port range %d-%d: %w", r.First, r.Last, err)
	}
	e.log.Info("ephemeral port range changed", "first", r.First, "last", r.Last)
	return nil
}

// SetReservedPorts replaces the reserved ports while the engine runs, as
// writing net.ipv4.ip_local_reserved_ports does (nil: none). Automatic
// choice skips them; explicit binds may still take them.
func (e *Engine) SetReservedPorts(rs []portalloc.Range) error {
	e.portsMu.Lock()
	defer e.portsMu.Unlock()
	if err := e.tab.SetReservedPorts(rs); err != nil {
		return fmt.Errorf("engine: reserved ports: %w", err)
	}
	e.reserved = slices.Clone(rs)
	return nil
}
