/// Host memory owned by the CPU backend: 64-byte aligned, size rounded up to a pool
/// bucket. When the last reference goes away the memory returns to the pool.
final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
    /// The first byte (64-byte aligned).
    let pointer: UnsafeMutableRawPointer
    /// Usable size in bytes: the pool bucket the request was rounded up to.
    let byteCount: Int
    private let pool: CPUBufferPool

    init(pointer: UnsafeMutableRawPointer, byteCount: Int, pool: CPUBufferPool) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.pool = pool
    }

    deinit {
        pool.recycle(pointer, bucketBytes: byteCount)
    }

    /// The memory as elements of `type`.
    @inline(__always)
    func elements<Element>(_ type: Element.Type) -> UnsafeMutablePointer<Element> {
        pointer.assumingMemoryBound(to: type)
    }
}

extension CPUBuffer: CPUHostAccessible {
    /// The whole buffer, for the dispatcher's CPU fallback.
    var hostBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: byteCount) }
}
