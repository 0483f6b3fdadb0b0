import Foundation

/// The process-wide random stream used when no seed is given: a seed (from
/// `ADJOINT_SEED`, default 0) and a counter that advances with every draw, so draws never
/// repeat and a run is reproducible.
public enum RandomStream {
    private static let state = RandomStreamState()

    /// Restarts the stream from `seed`.
    public static func seed(_ seed: UInt64) { state.reset(seed) }

    /// The next (seed, offset) pair for a draw.
    static func next() -> (seed: UInt64, offset: UInt64) { state.next() }
}

private final class RandomStreamState: @unchecked Sendable {
    private let lock = NSLock()
    private var seed = UInt64(ProcessInfo.processInfo.environment["ADJOINT_SEED"] ?? "") ?? 0
    private var offset: UInt64 = 1

    func reset(_ newSeed: UInt64) {
        lock.lock()
        seed = newSeed
        offset = 1
        lock.unlock()
    }

    func next() -> (seed: UInt64, offset: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        offset += 1
        return (seed, offset)
    }
}

/// Seeded random tensors: Philox-4x32-10, so the same seed gives the same numbers on
/// every device.
extension Tensor {
    static func draw(_ distribution: RandomDistribution, _ shape: [Int], dtype: DType, seed: UInt64?, device: Device?) -> Tensor {
        let (drawSeed, offset) = seed.map { ($0, UInt64(0)) } ?? RandomStream.next()
        if seed == nil { Tracer.current?.noteStreamDraw(offset: offset) }
        let device = device ?? Device.default
        return Tensor(storage: Dispatch.run(.random(distribution, seed: drawSeed, offset: offset), [], shape: shape, dtype: dtype, device: device), layout: Layout(contiguous: shape))
    }

    /// Normal draws with mean `mean` and standard deviation `standardDeviation`.
    ///
    /// ```swift
    /// let w = Tensor.randomNormal([3, 4], seed: 42)
    /// ```
    public static func randomNormal(_ shape: [Int], mean: Double = 0, standardDeviation: Double = 1, dtype: DType = .float32, seed: UInt64? = nil, on device: Device? = nil) -> Tensor {
        let unit = draw(.normal, shape, dtype: dtype, seed: seed, device: device)
        return mean == 0 && standardDeviation == 1 ? unit : unit * standardDeviation + mean
    }

    /// Uniform draws on `[low, high)`.
    public static func randomUniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32, seed: UInt64? = nil, on device: Device? = nil) -> Tensor {
        let unit = draw(.uniform, shape, dtype: dtype, seed: seed, device: device)
        return low == 0 && high == 1 ? unit : unit * (high - low) + low
    }

    /// Uniform integers (int32) in `low..<high`.
    public static func randomInt(_ shape: [Int], low: Int, high: Int, seed: UInt64? = nil, on device: Device? = nil, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(high > low, "randomInt", "empty range \(low)..<\(high)", file: file, line: line)
        let unit = draw(.uniform, shape, dtype: .float32, seed: seed, device: device)
        let scaled = (unit * Double(high - low)).floor().minimum(Double(high - low - 1)) + Double(low)
        return scaled.cast(to: .int32)
    }

    /// Bernoulli draws (bool) that are true with probability `probability`.
    public static func randomBernoulli(_ shape: [Int], probability: Double, seed: UInt64? = nil, on device: Device? = nil) -> Tensor {
        draw(.uniform, shape, dtype: .float32, seed: seed, device: device) .< probability
    }
}
