package lb

// SetPrefetchMinKeys sets the table size from which the burst pre-pass
// prefetches (prefetch.go) and returns a function that restores it: the
// end-to-end tests' tables are small.
func SetPrefetchMinKeys(n int) (restore func()) {
	old := prefetchMinKeys
	prefetchMinKeys = n
	return func() { prefetchMinKeys = old }
}
