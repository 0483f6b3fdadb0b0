import Foundation

/// Vectorizable float32 `sin`, `cos` and `exp` for contiguous tensors.
///
/// libm's scalar calls keep the compiler from vectorizing the loop and were half of
/// W1's time. These use the Cephes reductions and minimax polynomials (a few ulp, well
/// inside float32 tolerance) over the range where they are accurate, written without
/// branches so the loop vectorizes; a second pass recomputes any element outside that
/// range (huge arguments, overflow, NaN, infinities) with libm.
enum FastFloat32 {
    /// |x| below this reduces accurately with the three-part π/4 constant.
    static let trigonometricLimit: Float = 8192
    /// exp stays normal and finite in this interval.
    static let exponentialRange: ClosedRange<Float> = -87...88

    @inline(__always)
    static func sine(_ value: Float) -> Float {
        let (reduced, octant, negate) = reduce(value.magnitude)
        let usesCosine = octant == 1 || octant == 2
        let result = usesCosine ? cosinePolynomial(reduced) : sinePolynomial(reduced)
        let flip = negate != (value < 0)
        return flip ? -result : result
    }

    @inline(__always)
    static func cosine(_ value: Float) -> Float {
        let (reduced, octant, negate) = reduce(value.magnitude)
        let usesSine = octant == 1 || octant == 2
        let result = usesSine ? sinePolynomial(reduced) : cosinePolynomial(reduced)
        let flip = negate != (octant > 1)
        return flip ? -result : result
    }

    /// `x` (non-negative) reduced to [-π/4, π/4], its octant in 0...3, and whether the
    /// octant was past π (sign flip).
    @inline(__always)
    static func reduce(_ magnitude: Float) -> (Float, Int32, Bool) {
        // Out-of-range and NaN inputs are recomputed by libm; 0 keeps the conversion defined.
        let x = magnitude < trigonometricLimit ? magnitude : 0
        var octant = Int32(x * 1.27323954473516)
        octant = (octant &+ 1) & ~1
        let y = Float(octant)
        let reduced = ((x - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8
        let wrapped = octant & 7
        return (reduced, wrapped > 3 ? wrapped - 4 : wrapped, wrapped > 3)
    }

    @inline(__always)
    static func sinePolynomial(_ x: Float) -> Float {
        let z = x * x
        return ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * x + x
    }

    @inline(__always)
    static func cosinePolynomial(_ x: Float) -> Float {
        let z = x * x
        return ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1
    }

    @inline(__always)
    static func exponential(_ value: Float) -> Float {
        // Out-of-range and NaN inputs are recomputed by libm; 0 keeps the conversion defined.
        let x = value >= exponentialRange.lowerBound && value <= exponentialRange.upperBound ? value : 0
        let n = (x * 1.44269504088896341 + 0.5).rounded(.down)
        let r = x - n * 0.693359375 + n * 2.12194440e-4
        let z = r * r
        let p = (((((1.9875691500e-4 * r + 1.3981999507e-3) * r + 8.3334519073e-3) * r + 4.1665795894e-2) * r
            + 1.6666665459e-1) * r + 5.0000001201e-1) * z + r + 1
        return p * Float(bitPattern: UInt32(truncatingIfNeeded: Int32(n) &+ 127) << 23)
    }

}

extension CPUBackend {
    /// Runs float32 sin, cos or exp on contiguous views with the vectorized kernels;
    /// returns false (doing nothing) when the views are not plainly contiguous.
    static func fastUnaryFloat32(_ op: UnaryOp, input: BufferView, output: BufferView) -> Bool {
        guard input.dtype == .float32, input.layout.isContiguous, output.layout.isContiguous,
              input.layout.shape == output.layout.shape else { return false }
        guard op == .sin || op == .cos || op == .exp else { return false }
        let count = input.layout.count
        let source = input.base(Float.self), target = output.base(Float.self)
        // One straight loop per op with direct (inlined) calls, so it vectorizes; then the
        // exact libm fix-up of out-of-range elements.
        CPUParallel.forEachRange(count: count, grain: CPUParallel.elementGrain / 4) { range in
            let start = range.lowerBound, length = range.count
            FastFloat32.map(op, source + start, into: target + start, count: length)
        }
        return true
    }
}

extension FastFloat32 {
    /// `output[i] = op(input[i])` for sin, cos or exp: one straight loop per op with direct
    /// (inlined) calls, so it vectorizes, then the exact libm fix-up of out-of-range elements.
    @inline(__always)
    static func map(_ op: UnaryOp, _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, count: Int) {
        switch op {
        case .sin:
            for index in 0..<count { output[index] = sine(input[index]) }
            for index in 0..<count where !(input[index].magnitude < trigonometricLimit) { output[index] = Foundation.sin(input[index]) }
        case .cos:
            for index in 0..<count { output[index] = cosine(input[index]) }
            for index in 0..<count where !(input[index].magnitude < trigonometricLimit) { output[index] = Foundation.cos(input[index]) }
        default:
            for index in 0..<count { output[index] = exponential(input[index]) }
            for index in 0..<count where !exponentialRange.contains(input[index]) { output[index] = Foundation.exp(input[index]) }
        }
    }
}
