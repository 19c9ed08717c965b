package tcpload

import "time"

// The engine's naps for a load (engine.Config.Nap): see WorkerNap.
const (
	// Nap is the nap WorkerNap chooses.
	Nap = 10 * time.Microsecond
	// NapConnsPerWorker is the fewest connections per worker that
	// WorkerNap naps for.
	NapConnsPerWorker = 16
)

// WorkerNap is the engine.Config.Nap that `engine bench tcp` gives workers
// workers running this load: Nap when the load is closed-loop requests
// (HTTP or raw) over at least NapConnsPerWorker connections per worker,
// else 0 (the workers spin).
//
// With that many requests in flight, a worker that naps instead of
// spinning handles what arrived during the nap in one round, and the
// server's queue hides the wait: on the 2-vCPU test VM over veth, 16 and
// 64 connections on one worker ran as many or more requests per second
// with 13-16% less machine CPU per request than wrk, where spinning took
// 5-8% more (BenchmarkTCPLoadVsWrk). With fewer, every request waits on
// the naps: 8 connections lost 9% of their rate, 4 connections 53%, one
// connection 36% (one run each). Open-loop runs spin too: their
// latency is the measurement, and a nap would add to it; connect and bulk
// runs were not measured with naps.
func (c Config) WorkerNap(workers int) time.Duration {
	if (c.Mode != HTTP && c.Mode != Raw) || c.Rate > 0 || workers < 1 || c.Conns < NapConnsPerWorker*workers {
		return 0
	}
	return Nap
}
