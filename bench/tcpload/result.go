package tcpload

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/xdpengine/engine/bench/measure"
)

// Kind is a kind of error.
type Kind uint8

const (
	// KindConnect: a connect failed (refused, timed out, unreachable).
	KindConnect Kind = iota
	// KindTimeout: a request had no complete answer within Timeout.
	KindTimeout
	// KindReset: the server reset the connection (ECONNRESET, EPIPE).
	KindReset
	// KindClosed: the server closed the connection before a whole
	// response arrived.
	KindClosed
	// KindBadResponse: bytes that are not an HTTP/1.x response.
	KindBadResponse
	// KindStatus: a response with a status of 400 or more (the request
	// is counted in Requests too, as wrk counts non-2xx/3xx responses).
	KindStatus
	// KindOther: any other error.
	KindOther
	numKinds
)

// Errors counts errors by kind (see Kind).
type Errors struct {
	Connect     uint64 `json:"connect"`
	Timeout     uint64 `json:"timeout"`
	Reset       uint64 `json:"reset"`
	Closed      uint64 `json:"closed"`
	BadResponse uint64 `json:"bad_response"`
	Status      uint64 `json:"status"`
	Other       uint64 `json:"other"`
	Total       uint64 `json:"total"`
}

func errorsOf(k *[numKinds]uint64) Errors {
	e := Errors{Connect: k[KindConnect], Timeout: k[KindTimeout], Reset: k[KindReset], Closed: k[KindClosed],
		BadResponse: k[KindBadResponse], Status: k[KindStatus], Other: k[KindOther]}
	for _, n := range k {
		e.Total += n
	}
	return e
}

// classify tells what kind of failure err, from a request's write or
// read, is.
func classify(err error) Kind {
	var ne net.Error
	switch {
	case errors.Is(err, ErrBadResponse):
		return KindBadResponse
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return KindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindClosed
	}
	return KindOther
}

// LatencyNs is a latency summary in nanoseconds, as JSON carries it.
type LatencyNs struct {
	Count uint64 `json:"count"`
	Min   int64  `json:"min"`
	Mean  int64  `json:"mean"`
	P50   int64  `json:"p50"`
	P90   int64  `json:"p90"`
	P99   int64  `json:"p99"`
	P999  int64  `json:"p999"`
	Max   int64  `json:"max"`
}

// Nanoseconds converts a measure.Latency.
func Nanoseconds(l measure.Latency) LatencyNs {
	return LatencyNs{Count: l.Count, Min: int64(l.Min), Mean: int64(l.Mean), P50: int64(l.P50),
		P90: int64(l.P90), P99: int64(l.P99), P999: int64(l.P999), Max: int64(l.Max)}
}

// Result is what a run did. Its JSON form has snake_case keys.
type Result struct {
	Mode      string  `json:"mode"`
	Target    string  `json:"target"`
	Ports     int     `json:"ports"`
	Conns     int     `json:"conns"`
	Rate      float64 `json:"rate,omitempty"` // offered, open loop
	Direction string  `json:"direction,omitempty"`
	// Elapsed is what the rates divide by: the schedule's span (Duration)
	// in an open-loop or bulk run, from the start until the last
	// connection finished in a closed-loop one.
	Elapsed time.Duration `json:"-"`
	Seconds float64       `json:"duration_s"`
	// OpenSeconds is how long opening the long-lived connections took,
	// before the clock started (HTTP, Raw and Bulk modes).
	OpenSeconds float64 `json:"open_s"`
	// Requests counts answered requests (Connect: whole connections).
	Requests     uint64  `json:"requests"`
	RequestsPerS float64 `json:"requests_per_s"`
	// Connects counts connections opened; PeakConns the most open at once.
	Connects     uint64  `json:"connects"`
	ConnectsPerS float64 `json:"connects_per_s"`
	PeakConns    int64   `json:"peak_conns"`
	// Bytes is BytesSent plus BytesReceived: payload bytes (TCP and HTTP
	// framing of the payload included, TCP/IP headers not).
	Bytes         uint64  `json:"bytes"`
	BytesSent     uint64  `json:"bytes_sent"`
	BytesReceived uint64  `json:"bytes_received"`
	BitsPerS      float64 `json:"bits_per_s"`
	Errors        Errors  `json:"errors"`
	// Latency of the answered requests: from the send (closed loop), from
	// the time the request was due (open loop), from the connect
	// (Connect mode, closed loop).
	Latency   measure.Latency `json:"-"`
	LatencyNs LatencyNs       `json:"latency_ns"`
	// SendLagNs, in an open-loop run, is how late the requests were sent
	// after they were due: the generator's own part of the latency (its
	// sleep's overshoot, connects, a connection still busy), which the
	// latency includes.
	SendLagNs *LatencyNs `json:"send_lag_ns,omitempty"`
	// CPU is the CPU time the run took.
	CPU CPU `json:"cpu"`
	// Histogram holds every latency recorded (nanoseconds).
	Histogram *hdrhistogram.Histogram `json:"-"`
	// Intervals has a Snapshot's figures for every Interval of the run.
	Intervals []IntervalJSON `json:"intervals"`
}

// Snapshot is what happened during one Interval of a run.
type Snapshot struct {
	Elapsed                 time.Duration // since the start, at the end of the interval
	Interval                time.Duration // its length
	Requests, Connects      uint64
	BytesSent, BytesRecv    uint64
	Errors                  uint64
	Open                    int64 // connections open at its end
	Latency                 measure.Latency
	TotalRequests, TotalErr uint64 // since the start
}

// RequestsPerS is the interval's rate of answered requests.
func (s Snapshot) RequestsPerS() float64 { return perSecond(s.Requests, s.Interval) }

// BitsPerS is the interval's payload rate, both directions.
func (s Snapshot) BitsPerS() float64 { return 8 * perSecond(s.BytesSent+s.BytesRecv, s.Interval) }

// IntervalJSON is a Snapshot in a Result's JSON form.
type IntervalJSON struct {
	T            float64 `json:"t_s"`
	RequestsPerS float64 `json:"requests_per_s"`
	BitsPerS     float64 `json:"bits_per_s"`
	Errors       uint64  `json:"errors"`
	Open         int64   `json:"open"`
	P50          int64   `json:"p50_ns"`
	P99          int64   `json:"p99_ns"`
}

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
