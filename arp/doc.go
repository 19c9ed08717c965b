// Package arp resolves IPv4 next hops to Ethernet addresses for the
// engine (RFC 826), with a neighbor table modelled on Linux's
// (net/core/neighbor.c) and a responder for the engine's own addresses.
//
// # Neighbor states
//
//	INCOMPLETE  request sent, no answer yet; packets wait in the entry's
//	            queue (QueueLen handles, QueueTotal in all entries; more
//	            are dropped and counted).
//	            Retransmitted every RetransNs; after MaxProbes requests the
//	            entry is FAILED and its queue is handed back for dropping.
//	REACHABLE   confirmed within ReachableNs (a reply, or Confirm from an
//	            upper layer such as TCP seeing forward progress).
//	STALE       not confirmed recently; still used. The first use moves it
//	            to DELAY.
//	DELAY       used while STALE; waits DelayNs for an upper-layer
//	            confirmation, then PROBE.
//	PROBE       unicast requests every RetransNs; after MaxProbes, FAILED.
//	FAILED      resolution failed; a lookup starts over (INCOMPLETE).
//	PERMANENT   set by SetPermanent (a static entry): always used, never
//	            probed, aged or evicted; ARP does not change it.
//
// Time is passed in (now, monotonic nanoseconds); Tick advances timers and
// reports the requests to send and the queued packets to drop.
//
// # Bounds
//
// At most MaxEntries entries. When full, a new address evicts, in order of
// preference, a FAILED entry, then the least recently used entry that is
// neither INCOMPLETE nor PERMANENT; when there is none the new address is not
// added (Stats.TableFull). Evictions are counted (Stats.Evictions). The
// table allocates only when created.
//
// # Responder
//
// Respond answers requests for the engine's addresses and learns the
// sender as Linux does: a request or reply from a sender updates an
// existing entry, and a request aimed at us creates a STALE entry for the
// sender (a reply that we did not ask for only updates). Gratuitous ARP
// (sender IP equal to target IP) updates existing entries. Gratuitous
// builds the announcement the engine sends at start-up.
//
// A Table belongs to one worker and is not safe for concurrent use.
package arp
