package stats

import (
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ipv6"
)

// IPv6 are a worker's IPv6 counters, named as Linux's /proc/net/snmp6
// (Ip6*, Icmp6*) where one exists.
type IPv6 struct {
	InReceives      uint64 `json:"in_receives"`       // IPv6 packets received from the link (before any check)
	InHdrErrors     uint64 `json:"in_hdr_errors"`     // malformed headers, bad extension headers, hop limit problems
	InAddrErrors    uint64 `json:"in_addr_errors"`    // to an address the engine does not own or use (a tentative one included)
	InUnknownProtos uint64 `json:"in_unknown_protos"` // no transport for the next header (parameter problem code 1 sent)
	InTruncatedPkts uint64 `json:"in_truncated_pkts"` // shorter than their payload length
	InDiscards      uint64 `json:"in_discards"`       // dropped for lack of resources (buffers, steering)
	InDelivers      uint64 `json:"in_delivers"`       // handed to ICMPv6 or a transport
	InNoPorts       uint64 `json:"in_no_ports"`       // UDP to no socket (port unreachable sent), TCP to no connection
	OutRequests     uint64 `json:"out_requests"`      // packets the engine sent (not counting NDP and MLD)
	OutNoRoutes     uint64 `json:"out_no_routes"`     // no route to the destination
	OutDiscards     uint64 `json:"out_discards"`      // dropped on the way out (neighbor unresolved, fragmenting failed, tx ring)

	Reasm ipv6.Stats `json:"reasm"` // reassembly (Reasm* fields)
	Frag  ipv6.Stats `json:"frag"`  // fragmentation (Frag* fields)

	ICMP ICMPv6 `json:"icmp"`
	NDP  NDP    `json:"ndp"`
}

// ICMPv6 are the ICMPv6 counters (Icmp6* of /proc/net/snmp6), by type.
type ICMPv6 struct {
	InMsgs                    uint64 `json:"in_msgs"`
	InErrors                  uint64 `json:"in_errors"`
	InCsumErrors              uint64 `json:"in_csum_errors"`
	InDestUnreachs            uint64 `json:"in_dest_unreachs"`
	InPktTooBigs              uint64 `json:"in_pkt_too_bigs"`
	InTimeExcds               uint64 `json:"in_time_excds"`
	InParmProblems            uint64 `json:"in_parm_problems"`
	InEchos                   uint64 `json:"in_echos"`
	InEchoReplies             uint64 `json:"in_echo_replies"`
	InRouterSolicits          uint64 `json:"in_router_solicits"`
	InRouterAdvertisements    uint64 `json:"in_router_advertisements"`
	InNeighborSolicits        uint64 `json:"in_neighbor_solicits"`
	InNeighborAdvertisements  uint64 `json:"in_neighbor_advertisements"`
	InRedirects               uint64 `json:"in_redirects"`
	InMLDQueries              uint64 `json:"in_mld_queries"`
	InMLDReports              uint64 `json:"in_mld_reports"`
	OutMsgs                   uint64 `json:"out_msgs"`
	OutErrors                 uint64 `json:"out_errors"`
	OutRateLimit              uint64 `json:"out_rate_limit"`
	OutDestUnreachs           uint64 `json:"out_dest_unreachs"`
	OutPktTooBigs             uint64 `json:"out_pkt_too_bigs"`
	OutTimeExcds              uint64 `json:"out_time_excds"`
	OutParmProblems           uint64 `json:"out_parm_problems"`
	OutEchoReplies            uint64 `json:"out_echo_replies"`
	OutRouterSolicits         uint64 `json:"out_router_solicits"`
	OutNeighborSolicits       uint64 `json:"out_neighbor_solicits"`
	OutNeighborAdvertisements uint64 `json:"out_neighbor_advertisements"`
	OutMLDReports             uint64 `json:"out_mld_reports"`
}

// NDP are the neighbor cache's, the responder's and DAD's counters.
type NDP struct {
	Entries           int    `json:"entries"`             // neighbor cache entries (a gauge)
	Solicits          uint64 `json:"solicits"`            // resolutions and probes the cache asked for
	QueueDrops        uint64 `json:"queue_drops"`         // packets refused by a full pending queue
	Failed            uint64 `json:"failed"`              // resolutions that failed
	Evictions         uint64 `json:"evictions"`           // entries evicted to make room
	TableFull         uint64 `json:"table_full"`          // new addresses refused: the cache was full
	LearnRefused      uint64 `json:"learn_refused"`       // entries a received message would have created, refused (a flood of sources)
	InErrors          uint64 `json:"in_errors"`           // NDP messages that failed validation (RFC 4861: hop limit 255, code 0, options)
	Conflicts         uint64 `json:"conflicts"`           // advertisements from another node for one of our addresses
	DADProbes         uint64 `json:"dad_probes"`          // DAD probes sent
	DADUnique         uint64 `json:"dad_unique"`          // addresses found unique
	DADDuplicate      uint64 `json:"dad_duplicate"`       // addresses found duplicate (not used)
	RouterAdverts     uint64 `json:"router_adverts"`      // Router Advertisements read from the ICMPv6 tap, or unicast to an engine address
	RouterAdvertsUsed uint64 `json:"router_adverts_used"` // of those, the valid ones learned (routers, prefixes, MTU)
}

// CountIn counts a received ICMPv6 message of type t.
func (c *ICMPv6) CountIn(t uint8) {
	c.InMsgs++
	switch t {
	case header.ICMPv6DstUnreachable:
		c.InDestUnreachs++
	case header.ICMPv6PacketTooBig:
		c.InPktTooBigs++
	case header.ICMPv6TimeExceeded:
		c.InTimeExcds++
	case header.ICMPv6ParamProblem:
		c.InParmProblems++
	case header.ICMPv6EchoRequest:
		c.InEchos++
	case header.ICMPv6EchoReply:
		c.InEchoReplies++
	case header.ICMPv6RouterSolicitation:
		c.InRouterSolicits++
	case header.ICMPv6RouterAdvertisement:
		c.InRouterAdvertisements++
	case header.ICMPv6NeighborSolicitation:
		c.InNeighborSolicits++
	case header.ICMPv6NeighborAdvertisement:
		c.InNeighborAdvertisements++
	case header.ICMPv6Redirect:
		c.InRedirects++
	case header.ICMPv6MulticastListenerQuery:
		c.InMLDQueries++
	case header.ICMPv6MulticastListenerReport, header.ICMPv6MulticastListenerReportV2:
		c.InMLDReports++
	}
}

// CountOut counts a sent ICMPv6 message of type t.
func (c *ICMPv6) CountOut(t uint8) {
	c.OutMsgs++
	switch t {
	case header.ICMPv6DstUnreachable:
		c.OutDestUnreachs++
	case header.ICMPv6PacketTooBig:
		c.OutPktTooBigs++
	case header.ICMPv6TimeExceeded:
		c.OutTimeExcds++
	case header.ICMPv6ParamProblem:
		c.OutParmProblems++
	case header.ICMPv6EchoReply:
		c.OutEchoReplies++
	case header.ICMPv6RouterSolicitation:
		c.OutRouterSolicits++
	case header.ICMPv6NeighborSolicitation:
		c.OutNeighborSolicits++
	case header.ICMPv6NeighborAdvertisement:
		c.OutNeighborAdvertisements++
	case header.ICMPv6MulticastListenerReport, header.ICMPv6MulticastListenerReportV2:
		c.OutMLDReports++
	}
}

// Add adds w's counters to t.
func (t *IPv6) Add(w *IPv6) {
	t.InReceives += w.InReceives
	t.InHdrErrors += w.InHdrErrors
	t.InAddrErrors += w.InAddrErrors
	t.InUnknownProtos += w.InUnknownProtos
	t.InTruncatedPkts += w.InTruncatedPkts
	t.InDiscards += w.InDiscards
	t.InDelivers += w.InDelivers
	t.InNoPorts += w.InNoPorts
	t.OutRequests += w.OutRequests
	t.OutNoRoutes += w.OutNoRoutes
	t.OutDiscards += w.OutDiscards
	addIPv6Frag(&t.Reasm, &w.Reasm)
	addIPv6Frag(&t.Frag, &w.Frag)
	t.ICMP.Add(&w.ICMP)
	t.NDP.Add(&w.NDP)
}

// Add adds w's counters to t.
func (t *ICMPv6) Add(w *ICMPv6) {
	t.InMsgs += w.InMsgs
	t.InErrors += w.InErrors
	t.InCsumErrors += w.InCsumErrors
	t.InDestUnreachs += w.InDestUnreachs
	t.InPktTooBigs += w.InPktTooBigs
	t.InTimeExcds += w.InTimeExcds
	t.InParmProblems += w.InParmProblems
	t.InEchos += w.InEchos
	t.InEchoReplies += w.InEchoReplies
	t.InRouterSolicits += w.InRouterSolicits
	t.InRouterAdvertisements += w.InRouterAdvertisements
	t.InNeighborSolicits += w.InNeighborSolicits
	t.InNeighborAdvertisements += w.InNeighborAdvertisements
	t.InRedirects += w.InRedirects
	t.InMLDQueries += w.InMLDQueries
	t.InMLDReports += w.InMLDReports
	t.OutMsgs += w.OutMsgs
	t.OutErrors += w.OutErrors
	t.OutRateLimit += w.OutRateLimit
	t.OutDestUnreachs += w.OutDestUnreachs
	t.OutPktTooBigs += w.OutPktTooBigs
	t.OutTimeExcds += w.OutTimeExcds
	t.OutParmProblems += w.OutParmProblems
	t.OutEchoReplies += w.OutEchoReplies
	t.OutRouterSolicits += w.OutRouterSolicits
	t.OutNeighborSolicits += w.OutNeighborSolicits
	t.OutNeighborAdvertisements += w.OutNeighborAdvertisements
	t.OutMLDReports += w.OutMLDReports
}

// Add adds w's counters to t.
func (t *NDP) Add(w *NDP) {
	t.Entries += w.Entries
	t.Solicits += w.Solicits
	t.QueueDrops += w.QueueDrops
	t.Failed += w.Failed
	t.Evictions += w.Evictions
	t.TableFull += w.TableFull
	t.LearnRefused += w.LearnRefused
	t.InErrors += w.InErrors
	t.Conflicts += w.Conflicts
	t.DADProbes += w.DADProbes
	t.DADUnique += w.DADUnique
	t.DADDuplicate += w.DADDuplicate
	t.RouterAdverts += w.RouterAdverts
	t.RouterAdvertsUsed += w.RouterAdvertsUsed
}

func addIPv6Frag(t, w *ipv6.Stats) {
	t.ReasmReqds += w.ReasmReqds
	t.ReasmOKs += w.ReasmOKs
	t.ReasmFails += w.ReasmFails
	t.ReasmTimeout += w.ReasmTimeout
	t.ReasmOverlaps += w.ReasmOverlaps
	t.ReasmDiscarded += w.ReasmDiscarded
	t.ReasmDuplicates += w.ReasmDuplicates
	t.ReasmAtomic += w.ReasmAtomic
	t.ReasmBadFragments += w.ReasmBadFragments
	t.ReasmParamProblems += w.ReasmParamProblems
	t.ReasmEvictions += w.ReasmEvictions
	t.ReasmMemDrops += w.ReasmMemDrops
	t.ReasmTimeExceeded += w.ReasmTimeExceeded
	t.FragOKs += w.FragOKs
	t.FragCreates += w.FragCreates
	t.FragFails += w.FragFails
	t.MemInUse += w.MemInUse
	t.Queues += w.Queues
}
