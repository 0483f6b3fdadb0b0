import Adjoint
import AdjointTestSupport
import Foundation
import Testing

/// The CPU backend's vectorized float32 sin/cos/exp against float64 libm, over dense
/// grids and the special values that take the exact fallback.
@Suite struct FastMathTests {
    static let grid: [Float] = stride(from: -120.0, through: 120.0, by: 0.00073).map { Float($0) }
        + [0, -0.0, 1e-30, -1e-30, 8191.9, -8191.9, 8192, 1e5, -3e7, .infinity, -.infinity, .nan, .pi, -.pi / 2, 88, 88.7, 89, -87, -87.5, -104, -200]

    func check(_ name: String, _ op: (Tensor) -> Tensor, _ reference: (Double) -> Double, absolute: Double, relative: Double) throws {
        let values = try op(Tensor(Self.grid, on: .cpu)).scalars(as: Float.self)
        var worst = 0.0, worstInput: Float = 0
        for (x, y) in zip(Self.grid, values) {
            let expected = reference(Double(x))
            if expected.isNaN { #expect(y.isNaN, "\(name)(\(x)) = \(y), expected nan"); continue }
            if expected.isInfinite || Swift.abs(expected) > Double(Float.greatestFiniteMagnitude) { #expect(y == Float(expected), "\(name)(\(x)) = \(y)"); continue }
            let error = Swift.abs(Double(y) - expected) / (absolute + relative * Swift.abs(expected))
            if error > worst { worst = error; worstInput = x }
        }
        #expect(worst <= 1, "\(name): worst scaled error \(worst) at x = \(worstInput)")
    }

    @Test func sineAndCosineAreAccurate() throws {
        try check("sin", { $0.sin() }, { Foundation.sin($0) }, absolute: 2e-7, relative: 2e-7)
        try check("cos", { $0.cos() }, { Foundation.cos($0) }, absolute: 2e-7, relative: 2e-7)
    }

    @Test func exponentialIsAccurate() throws {
        try check("exp", { $0.exp() }, { Foundation.exp($0) }, absolute: 1e-45, relative: 3e-7)
    }

    @Test func stridedInputsTakeTheExactPathAndAgree() throws {
        let matrix = Tensor((0..<600).map { Float($0) * 0.37 - 100 }, shape: [20, 30], on: .cpu)
        expectClose(matrix.transposed().sin(), try matrix.sin().transposed().doubles(), tolerance: 1e-6)
        expectClose(matrix.transposed().exp(), try matrix.exp().transposed().doubles(), tolerance: 1e-6)
    }
}
