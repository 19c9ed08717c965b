// Package sock holds what the engine's socket layers (stack/udp,
// stack/tcpsock) share: the options a socket takes before it binds
// (Options), ip(7)'s path MTU discovery modes (PMTUDisc), the engine's
// lifecycle as sockets see it (State), address parsing with Go's net
// rules (ResolveAddr), and the wait and wake protocol between application
// goroutines and workers (Signal, WaitOn, Push).
package sock
