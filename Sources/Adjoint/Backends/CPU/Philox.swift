/// The Philox-4x32-10 counter-based generator (Salmon et al., "Parallel Random Numbers:
/// As Easy as 1, 2, 3", SC 2011), bit-exact with Random123's `philox4x32_R(10, ...)`.
///
/// Every backend draws `Primitive.random` from this function, so the same seed and
/// offset give the same numbers on the CPU and on any OpenCL device.
struct Philox4x32: Sendable {
    /// Four 32-bit words: the counter going in, the random words coming out.
    typealias Block = (UInt32, UInt32, UInt32, UInt32)
    /// Two 32-bit key words.
    typealias Key = (UInt32, UInt32)

    static let multiplier0: UInt32 = 0xD251_1F53
    static let multiplier1: UInt32 = 0xCD9E_8D57
    /// Weyl sequence increments (golden ratio and sqrt(3) - 1) bumping the key each round.
    static let keyIncrement0: UInt32 = 0x9E37_79B9
    static let keyIncrement1: UInt32 = 0xBB67_AE85

    /// The key (from the seed).
    var key: Key

    /// A generator keyed by a 64-bit seed: low word first.
    init(seed: UInt64) {
        key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    /// A generator with an explicit key.
    init(key: Key) {
        self.key = key
    }

    /// Ten Philox rounds of `counter` under this generator's key.
    @inline(__always)
    func block(_ counter: Block) -> Block {
        Philox4x32.block(counter: counter, key: key)
    }

    /// The four words for block number `blockIndex` of the stream at `offset`: counter
    /// `(blockIndex lo, blockIndex hi, offset lo, offset hi)`, as `Primitive.random` defines.
    @inline(__always)
    func block(index blockIndex: UInt64, offset: UInt64) -> Block {
        block((
            UInt32(truncatingIfNeeded: blockIndex), UInt32(truncatingIfNeeded: blockIndex >> 32),
            UInt32(truncatingIfNeeded: offset), UInt32(truncatingIfNeeded: offset >> 32)
        ))
    }

    /// Word `n` of the stream at `offset`: `block(n / 4)[n % 4]`.
    func word(_ n: UInt64, offset: UInt64) -> UInt32 {
        let words = block(index: n / 4, offset: offset)
        switch n % 4 {
        case 0: return words.0
        case 1: return words.1
        case 2: return words.2
        default: return words.3
        }
    }

    /// Ten Philox rounds of `counter` under `key`.
    @inline(__always)
    static func block(counter: Block, key: Key) -> Block {
        var counter = counter
        var key = key
        counter = round(counter, key)
        for _ in 1..<10 {
            key = (key.0 &+ keyIncrement0, key.1 &+ keyIncrement1)
            counter = round(counter, key)
        }
        return counter
    }

    @inline(__always)
    private static func round(_ counter: Block, _ key: Key) -> Block {
        let product0 = UInt64(multiplier0) &* UInt64(counter.0)
        let product1 = UInt64(multiplier1) &* UInt64(counter.2)
        let high0 = UInt32(truncatingIfNeeded: product0 >> 32)
        let low0 = UInt32(truncatingIfNeeded: product0)
        let high1 = UInt32(truncatingIfNeeded: product1 >> 32)
        let low1 = UInt32(truncatingIfNeeded: product1)
        return (high1 ^ counter.1 ^ key.0, low1, high0 ^ counter.3 ^ key.1, low0)
    }
}
