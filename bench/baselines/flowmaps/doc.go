// Package flowmaps benchmarks the engine's flow table (flowtable.Table)
// against github.com/puzpuzpuz/xsync's Map, side by side in one run, with
// an RWMutex-guarded Go map as the reference that the flowtable package's
// own benchmarks also run (so figures from the two places can be lined up
// by that row). It has no library code.
//
// The keys, their random visiting order and the churn pattern are those of
// flowtable's benchmarks: one million live flows (far larger than the CPU
// caches) and 4096 (cache-resident), hits and misses, parallel hits, and
// churn (each op deletes a random live flow and inserts a new one).
//
//	cd bench/baselines && go test -run '^$' -bench . -benchtime 200ms -count 5 ./flowmaps
package flowmaps
