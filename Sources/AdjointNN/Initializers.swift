import Adjoint
import Foundation

/// Weight initializers (seeded, identical on every device).
public enum Initializer {
    /// Glorot/Xavier normal: std `sqrt(2 / (fanIn + fanOut))`.
    public static func glorotNormal(_ shape: [Int], fanIn: Int, fanOut: Int, seed: UInt64? = nil, on device: Device? = nil) -> Tensor {
        Tensor.randomNormal(shape, standardDeviation: Foundation.sqrt(2 / Double(fanIn + fanOut)), seed: seed, on: device)
    }

    /// Glorot/Xavier uniform: bound `sqrt(6 / (fanIn + fanOut))`.
    public static func glorotUniform(_ shape: [Int], fanIn: Int, fanOut: Int, seed: UInt64? = nil, on device: Device? = nil) -> Tensor {
        let bound = Foundation.sqrt(6 / Double(fanIn + fanOut))
        return Tensor.randomUniform(shape, low: -bound, high: bound, seed: seed, on: device)
    }

    /// Kaiming/He normal for ReLU networks: std `sqrt(2 / fanIn)`.
    public static func kaimingNormal(_ shape: [Int], fanIn: Int, seed: UInt64? = nil, on device: Device? = nil) -> Tensor {
        Tensor.randomNormal(shape, standardDeviation: Foundation.sqrt(2 / Double(fanIn)), seed: seed, on: device)
    }

    /// Kaiming/He uniform: bound `sqrt(6 / fanIn)`.
    public static func kaimingUniform(_ shape: [Int], fanIn: Int, seed: UInt64? = nil, on device: Device? = nil) -> Tensor {
        let bound = Foundation.sqrt(6 / Double(fanIn))
        return Tensor.randomUniform(shape, low: -bound, high: bound, seed: seed, on: device)
    }
}
