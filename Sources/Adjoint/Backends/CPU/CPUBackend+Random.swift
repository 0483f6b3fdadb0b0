import Foundation

/// Precision-specific pieces of `Primitive.random`: float32 draws compute in float32.
protocol CPURandomScalar: CPUFloatingPoint {
    /// `(word >> 8) * 2^-24`: uniform on [0, 1), exact in both precisions.
    static func uniform(_ word: UInt32) -> Self
}

extension Float: CPURandomScalar {
    @inline(__always) static func uniform(_ word: UInt32) -> Float { Float(word >> 8) * 0x1p-24 }
}

extension Double: CPURandomScalar {
    @inline(__always) static func uniform(_ word: UInt32) -> Double { Double(word >> 8) * 0x1p-24 }
}

/// The Box-Muller pair from two words: `r cos(2π u2)` and `r sin(2π u2)` with
/// `u1 = ((w1 >> 8) + 1) 2^-24` in (0, 1] (so the log is finite) and `u2 = (w2 >> 8) 2^-24`.
@inline(__always)
func boxMuller<T: CPURandomScalar>(_ first: UInt32, _ second: UInt32) -> (T, T) {
    let u1 = (T(first >> 8) + 1) * 0x1p-24
    let u2 = T.uniform(second)
    let radius = (-2 * T.logarithm(u1)).squareRoot()
    let angle = 2 * T.pi * u2
    return (radius * T.cosine(angle), radius * T.sine(angle))
}

extension CPUBackend {
    func runRandom(_ distribution: RandomDistribution, seed: UInt64, offset: UInt64, output: BufferView) throws {
        precondition(output.layout.isContiguous, "CPU random: output \(output.layout) is not contiguous")
        let generator = Philox4x32(seed: seed)
        let count = output.layout.count
        switch (distribution, output.dtype) {
        case (.bits, .int32):
            CPUBackend.forEachBlock(count: count, generator, offset, output.base(Int32.self)) { Int32(bitPattern: $0) }
        case (.uniform, .float32):
            CPUBackend.forEachBlock(count: count, generator, offset, output.base(Float.self)) { Float.uniform($0) }
        case (.uniform, .float64):
            CPUBackend.forEachBlock(count: count, generator, offset, output.base(Double.self)) { Double.uniform($0) }
        case (.normal, .float32):
            CPUBackend.normal(count: count, generator, offset, output.base(Float.self))
        case (.normal, .float64):
            CPUBackend.normal(count: count, generator, offset, output.base(Double.self))
        default:
            throw CPUBackend.unsupported(.random(distribution, seed: seed, offset: offset), output.dtype)
        }
    }

    /// Element `e` is `convert(word(e))`; one Philox block serves four elements.
    @inline(__always)
    private static func forEachBlock<T>(
        count: Int, _ generator: Philox4x32, _ offset: UInt64, _ target: UnsafeMutablePointer<T>, _ convert: (UInt32) -> T
    ) {
        let blockCount = (count + 3) / 4
        CPUParallel.forEachRange(count: blockCount, grain: CPUParallel.elementGrain / 16) { blocks in
            for block in blocks {
                let words = generator.block(index: UInt64(block), offset: offset)
                let first = block * 4
                if first + 4 <= count {
                    target[first] = convert(words.0)
                    target[first + 1] = convert(words.1)
                    target[first + 2] = convert(words.2)
                    target[first + 3] = convert(words.3)
                } else {
                    let tail = [words.0, words.1, words.2, words.3]
                    for lane in 0..<(count - first) { target[first + lane] = convert(tail[lane]) }
                }
            }
        }
    }

    /// Pairs `(2p, 2p + 1)` share words `2p` and `2p + 1`, so each block holds two pairs.
    @inline(__always)
    private static func normal<T: CPURandomScalar>(count: Int, _ generator: Philox4x32, _ offset: UInt64, _ target: UnsafeMutablePointer<T>) {
        let blockCount = (count + 3) / 4
        CPUParallel.forEachRange(count: blockCount, grain: CPUParallel.elementGrain / 64) { blocks in
            for block in blocks {
                let words = generator.block(index: UInt64(block), offset: offset)
                let first = block * 4
                let (value0, value1): (T, T) = boxMuller(words.0, words.1)
                let (value2, value3): (T, T) = boxMuller(words.2, words.3)
                if first + 4 <= count {
                    target[first] = value0
                    target[first + 1] = value1
                    target[first + 2] = value2
                    target[first + 3] = value3
                } else {
                    let tail = [value0, value1, value2, value3]
                    for lane in 0..<(count - first) { target[first + lane] = tail[lane] }
                }
            }
        }
    }
}
