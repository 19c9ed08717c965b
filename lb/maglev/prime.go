package maglev

// isPrime reports whether n is prime, by trial division: sizes are at most
// MaxSize (2^24), so the divisors stop at 4096.
func isPrime(n uint32) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := uint32(3); d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// NextPrime returns the smallest prime >= n (2 for n <= 2), or 0 if there is
// none up to MaxSize. Use it to turn a wanted table size into a valid one.
func NextPrime(n uint32) uint32 {
	if n <= 2 {
		return 2
	}
	for p := n | 1; p <= MaxSize; p += 2 {
		if isPrime(p) {
			return p
		}
	}
	return 0
}

// prevPrime returns the largest prime <= n, or 0 if n < 2.
func prevPrime(n uint32) uint32 {
	for p := n; p >= 2; p-- {
		if isPrime(p) {
			return p
		}
	}
	return 0
}
