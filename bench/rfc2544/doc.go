// Package rfc2544 runs the benchmarks of RFC 2544 (section 26) against a
// device under test, independently of how frames are sent and received: a
// Trialer sends frames of one size at one rate for a while and says how
// many were sent and received and with what latency, and this package
// decides which trials to run and what they mean.
//
// # Throughput (26.1)
//
// The highest rate at which the device loses no more than a tolerance
// (LossTolerance, 0 by default: RFC 2544's "no frames lost") is found by
// binary search: a first trial at the maximum rate for the frame size
// (MaxRate, or the line rate of LinkBps counting 20 bytes of preamble and
// gap per frame); if it passes, that is the throughput; otherwise the rate
// is halved between the highest passing and the lowest failing rate until
// the two are within Resolution (a fraction of the maximum rate, 0.1% by
// default). The answer is the highest rate that passed: never a rate that
// lost frames, and within Resolution of the true throughput for a device
// whose loss only grows with the rate. A device that loses frames even at
// MinRate has a throughput of 0.
//
// # Latency (26.2)
//
// At the throughput rate, LatencyTrials trials (20 by default, as the RFC
// asks) of LatencyDuration (120 s) each. The RFC times one tagged frame
// per trial; a Trialer here reports the distribution of every signed frame
// (measure.Latency), and the result is the average of the trials' figures
// (their minimum for Min, their maximum for Max), with each trial's kept.
//
// # Frame loss rate (26.3)
//
// Trials at 100%, 90%, 80%, ... of the maximum rate (LossStep, 10% by
// default), until two successive trials lose nothing (or down to the last
// step with AllLossSteps), reporting the fraction lost at each.
//
// # Durations
//
// The defaults are the RFC's: 60 s per throughput and loss trial, 120 s per
// latency trial, so a full run over the seven frame sizes (64, 128, 256,
// 512, 1024, 1280, 1518) takes hours. Shorter durations give a quicker,
// less certain answer; the RFC's 2 s wait after each trial for frames in
// flight is the Trialer's to observe.
//
// # Generator limits
//
// A trial that sent fewer than 99% of the frames its rate and duration
// ask for measured the generator, not the device; such trials are flagged
// (Trial.Short) and make the size's result GeneratorLimited.
package rfc2544
