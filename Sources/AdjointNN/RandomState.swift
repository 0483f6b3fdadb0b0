import Adjoint

/// A module-owned random stream (Objax's `Generator`): a seed and a counter that
/// advances with every draw (an Adjoint `SeedStream`). Its value is the tensor `[seed lo,
/// seed hi, counter lo, counter hi]` (int32), so checkpoints carry it; the counter itself
/// stays on the host, so drawing never waits for the device, and a jitted step that draws
/// from it (dropout) traces once and advances it at every replay as eager calls do.
public final class RandomState: StateVar, @unchecked Sendable {
    /// The stream the draws come from.
    public let stream: SeedStream

    /// A stream starting at `seed`.
    public init(seed: UInt64 = 0) {
        stream = SeedStream(seed: seed)
        super.init(Tensor.zeros([4], dtype: .int32, on: .cpu))
    }

    /// The state as a tensor; assigning restores the stream.
    override public var value: Tensor {
        get {
            let (seed, counter) = stream.position
            let words = [seed & 0xFFFF_FFFF, seed >> 32, counter & 0xFFFF_FFFF, counter >> 32].map { Int32(bitPattern: UInt32($0)) }
            return Tensor(words, on: .cpu)
        }
        set {
            guard let words = try? newValue.scalars(as: Int32.self), words.count == 4 else { return }
            let unsigned = words.map { UInt64(UInt32(bitPattern: $0)) }
            stream.position = (unsigned[0] | unsigned[1] << 32, unsigned[2] | unsigned[3] << 32)
        }
    }

    override public func assign(_ newValue: Tensor, file: StaticString = #fileID, line: UInt = #line) {
        value = newValue
    }

    /// A fresh seed for one draw (advances the stream).
    public func nextSeed() -> UInt64 { stream.nextSeed() }

    /// Normal draws from this stream.
    public func normal(_ shape: [Int], on device: Device? = nil) -> Tensor { Tensor.randomNormal(shape, seed: nextSeed(), on: device) }
    /// Uniform [0, 1) draws from this stream.
    public func uniform(_ shape: [Int], on device: Device? = nil) -> Tensor { Tensor.randomUniform(shape, seed: nextSeed(), on: device) }
    /// Integers in `low..<high` from this stream.
    public func randint(_ shape: [Int], low: Int, high: Int, on device: Device? = nil) -> Tensor { Tensor.randomInt(shape, low: low, high: high, seed: nextSeed(), on: device) }
    /// Bools that are true with `probability`.
    public func bernoulli(_ shape: [Int], probability: Double, on device: Device? = nil) -> Tensor { Tensor.randomBernoulli(shape, probability: probability, seed: nextSeed(), on: device) }
    /// A permutation of `0..<count` (int32).
    public func shuffle(_ count: Int, on device: Device? = nil) -> Tensor { RandomKey(nextSeed()).permutation(count, on: device) }
}

/// A JAX-style explicit random key for functional code: split it, fold data in, draw.
public struct RandomKey: Sendable, Hashable {
    /// The key's 64 bits (the Philox seed of its draws).
    public let bits: UInt64

    /// A key from a seed.
    public init(_ seed: UInt64) { bits = seed }

    /// `count` independent keys derived from this one.
    public func split(_ count: Int = 2) -> [RandomKey] {
        (0..<count).map { RandomKey(SeedStream.mix(bits, UInt64($0) &+ 0x5851_F42D_4C95_7F2D)) }
    }

    /// A key derived from this one and `data` (JAX's `fold_in`).
    public func fold(_ data: UInt64) -> RandomKey { RandomKey(SeedStream.mix(bits ^ 0xA076_1D64_78BD_642F, data)) }

    /// Normal draws.
    public func normal(_ shape: [Int], dtype: DType = .float32, on device: Device? = nil) -> Tensor { Tensor.randomNormal(shape, dtype: dtype, seed: bits, on: device) }
    /// Uniform [0, 1) draws.
    public func uniform(_ shape: [Int], dtype: DType = .float32, on device: Device? = nil) -> Tensor { Tensor.randomUniform(shape, dtype: dtype, seed: bits, on: device) }
    /// Integers in `low..<high`.
    public func randint(_ shape: [Int], low: Int, high: Int, on device: Device? = nil) -> Tensor { Tensor.randomInt(shape, low: low, high: high, seed: bits, on: device) }
    /// Bools true with `probability`.
    public func bernoulli(_ shape: [Int], probability: Double, on device: Device? = nil) -> Tensor { Tensor.randomBernoulli(shape, probability: probability, seed: bits, on: device) }

    /// A uniformly random permutation of `0..<count` (int32): argsort of uniform keys,
    /// done on the host from the same Philox draws, so every device agrees.
    public func permutation(_ count: Int, on device: Device? = nil) -> Tensor {
        let keys = (try? Tensor.randomUniform([count], dtype: .float64, seed: bits, on: .cpu).scalars(as: Double.self)) ?? []
        let order = keys.indices.sorted { keys[$0] < keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
        return Tensor(order.map { Int32($0) }, on: device)
    }
}
