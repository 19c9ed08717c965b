// Package faultinject makes a worker's link lossy, for tests: a
// datapath.Injector that drops, duplicates and reorders frames.
//
// A worker whose engine was given New's result (engine tests: WithFaults)
// passes every IPv4 frame it receives from the link, and every frame it
// transmits, through a seeded injector that drops it, duplicates it, or
// holds it back and releases it after later frames have overtaken it: the
// loss, duplication and reordering of a real network, made reproducible,
// on the engine's own I/O. ARP frames pass untouched (neighbor resolution
// has its own tests). A worker without faults pays one nil check per
// received burst and per transmitted batch.
//
// One draw of the worker's PCG per frame decides its fate, so a given seed
// and a given sequence of frames always produce the same faults. Held
// received frames are copied out of UMEM into pool buffers (the fill ring
// gets its frame back at once); held transmitted frames keep their UMEM
// frame until released. A held frame leaves after ReorderDepth later frames
// in the same direction, or after ReorderDelay, whichever comes first; at
// most maxHeld frames are held per direction (past that, frames pass).
package faultinject
