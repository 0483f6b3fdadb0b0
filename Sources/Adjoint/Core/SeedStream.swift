import Foundation

/// A host-side stream of random seeds (Objax's `Generator`, a PyTorch `Generator`): a
/// seed and a counter; each `nextSeed()` advances the counter and returns a seed derived
/// from both, for one seeded draw (`Tensor.randomNormal(_:seed:)` and friends).
///
/// `jit` knows these streams: a draw whose seed came from one while tracing becomes a
/// draw that asks the stream for a fresh seed at every replay, so a compiled training
/// step with dropout traces once and draws exactly the numbers eager calls would.
///
/// ```swift
/// let stream = SeedStream(seed: 7)
/// let noise = Tensor.randomNormal([3], seed: stream.nextSeed())
/// ```
public final class SeedStream: @unchecked Sendable {
    private let lock = NSLock()
    private var state: (seed: UInt64, counter: UInt64)

    /// A stream starting at `seed` with counter 0.
    public init(seed: UInt64 = 0) {
        state = (seed, 0)
    }

    /// The stream's seed and the number of seeds handed out since it was set; assigning
    /// restores a stream (checkpoints carry both).
    public var position: (seed: UInt64, counter: UInt64) {
        get { lock.withLock { state } }
        set { lock.withLock { state = newValue } }
    }

    /// The next seed (advances the counter).
    public func nextSeed() -> UInt64 {
        let drawn = lock.withLock {
            state.counter &+= 1
            return SeedStream.mix(state.seed, state.counter)
        }
        Tracer.current?.noteSeed(drawn, from: self)
        return drawn
    }

    /// SplitMix64 of two words: decorrelated seeds from a seed and a counter (or any data).
    public static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var z = a &+ b &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
