// Package ndp is IPv6 Neighbor Discovery for a host (RFC 4861) with
// Duplicate Address Detection (RFC 4862 5.4, RFC 7527 nonces): the
// neighbor cache, the answers to solicitations, and what Router
// Advertisements teach. It is the IPv6 sibling of package arp and is
// sans-I/O: time is passed in (now, monotonic nanoseconds), randomness is
// injected (Config.Rand, DADConfig.Rand), messages are ICMPv6 bodies
// written into caller buffers, and it starts no goroutine.
//
// # Who writes what
//
// Everything built here is an ICMPv6 message (header.PutNeighbor...,
// PutSolicitation, PutProbe, PutAnnouncement, Responder.Input's reply)
// with its checksum left zero: the caller (the inet6 layer) writes the
// Ethernet and IPv6 headers, hop limit 255, and fills the checksum with
// header.ICMPv6Checksum over the pseudo-header. Received messages are
// handed over after the caller verified that checksum; the views'
// validation (header.ParseNDP: hop limit 255, code 0, lengths, options,
// address rules) is done here.
//
// # Neighbor cache
//
// Cache keeps, per [16]byte address, the states of RFC 4861 7.3.2:
//
//	INCOMPLETE  solicited to the solicited-node group, no answer yet;
//	            packets wait in the entry's queue (QueueLen handles,
//	            QueueTotal in all; more are dropped and counted).
//	            Retransmitted every RetransTimer; after
//	            MAX_MULTICAST_SOLICIT (3) the entry is removed and its
//	            queue handed back for dropping (Stats.Failed).
//	REACHABLE   confirmed within ReachableTime (a solicited
//	            advertisement, or Confirm from an upper layer).
//	STALE       not confirmed recently, or learned from an unsolicited
//	            message; still used. The first use moves it to DELAY.
//	DELAY       waits DELAY_FIRST_PROBE_TIME (5 s) for a confirmation.
//	PROBE       unicast solicitations every RetransTimer; after
//	            MAX_UNICAST_SOLICIT (3), removed.
//	PERMANENT   SetPermanent: always used, never probed, aged or evicted;
//	            advertisements do not change it.
//
// Lookup, Tick, Confirm, SetPermanent and List are arp.Table's, so the
// inet6 layer drives it as inet4 drives arp: Lookup per packet (Send,
// SendRequest, Queued, Drop, RequestDrop), Tick per round with a solicit
// callback (SolicitationDst and PutSolicitation build the message) and a
// drop callback. Multicast destinations are not looked up: their MAC is
// header.MulticastMAC6. Advertised applies a Neighbor Advertisement with the
// R/S/O rules of 7.2.5; Observe applies a source link-layer option of a
// solicitation, a Router Solicitation or Advertisement, or a Redirect's
// target (7.2.3, 6.3.4, 8.3: create or update STALE). ReachableTime is
// BaseReachableTime (30 s, or the routers' Reachable Time) times a random
// factor in [0.5, 1.5), drawn again every RecomputeNs (300 s, as Linux).
//
// Bounds: MaxEntries entries; when full, a new address evicts the least
// recently used STALE entry, else the least recently used REACHABLE,
// DELAY or PROBE one; INCOMPLETE and PERMANENT entries are never evicted
// and a new address is refused (Stats.TableFull) when nothing can go.
// Entries created by received messages and not yet looked up are at most
// MaxLearned (half the cache), so a flood of solicitations from made-up
// sources neither fills the cache nor evicts what is in use
// (Stats.LearnRefused). The cache allocates only when created.
//
// # Responder
//
// Responder.Input takes Neighbor Solicitations and Advertisements. A
// solicitation for one of Addrs is answered (7.2.4): to its source with
// the Solicited and Override flags and our target link-layer option, or
// to all-nodes (ff02::1) without Solicited when the source is :: (a DAD
// probe); a source link-layer option feeds the cache. Solicitations for
// a tentative address go to the DAD (from ::) or are discarded (from a
// unicast source). An advertisement for a tentative address is a
// duplicate; one for another address goes to Cache.Advertised, and a
// router that cleared its R flag leaves the RouterList.
//
// # Duplicate Address Detection
//
// DAD.Start makes an address tentative; the caller joins its
// solicited-node group and does not use it. After a random delay up to 1
// s, Tick sends DupAddrDetectTransmits (1) probes RetransTimer (1 s)
// apart: a solicitation from :: to the solicited-node group with a
// random 6-byte nonce and no source link-layer option (PutProbe). One
// RetransTimer after the last, Result(addr, true). A Neighbor
// Advertisement for the address, or a probe from :: for it with another
// nonce (or none), ends it with Result(addr, false) (5.4.3, 5.4.4); a
// probe carrying one of our nonces is our own looped back and ignored
// (RFC 7527).
//
// # Routers
//
// RouterList.Input takes Router Advertisements (6.3.4): a default router
// per source with its Router Lifetime (0 removes it), the on-link
// prefixes (L flag) with their valid lifetimes (0 removes; link-local
// prefixes ignored), the MTU option (accepted from 1280 to
// RouterConfig.LinkMTU), Cur Hop Limit, Reachable Time and Retrans
// Timer (0: unspecified, kept), and the router's source link-layer
// option (into the Cache with IsRouter). DefaultRouter chooses per 6.3.6;
// OnLink answers the next-hop determination's on-link question. At most
// MaxRouters routers and MaxPrefixes prefixes (more are counted and
// ignored).
//
// # Not supported
//
// Redirects beyond their validation (header.ParseNDP) and the caller's
// use of their target link-layer option (Cache.Observe); router and proxy
// behaviour (no Router Advertisements sent, no anycast, no proxied
// advertisements: the Override flag is always set); address
// autoconfiguration (SLAAC: the prefixes' A flag is reported, not acted
// upon) and optimistic DAD (RFC 4429); Router Solicitations (the caller
// sends them: header.PutRouterSolicitation, up to 3, 4 s apart); route
// information and RDNSS options; SEND (RFC 3971). One interface per Cache,
// Responder, DAD and RouterList; none is safe for concurrent use.
package ndp
