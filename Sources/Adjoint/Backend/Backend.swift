/// Device memory owned by a backend. It is returned to the backend's pool (or freed)
/// when the last reference goes away.
public protocol DeviceBuffer: AnyObject, Sendable {
    /// Size in bytes (at least what was asked for; pools may round up).
    var byteCount: Int { get }
}

/// A buffer seen through a layout with an element type: what primitives read and write.
public struct BufferView: @unchecked Sendable {
    /// The memory.
    public var buffer: DeviceBuffer
    /// Shape, strides and offset, in elements.
    public var layout: Layout
    /// Element type.
    public var dtype: DType

    /// Wraps a buffer.
    public init(buffer: DeviceBuffer, layout: Layout, dtype: DType) {
        self.buffer = buffer
        self.layout = layout
        self.dtype = dtype
    }
}

/// The whole contract between Adjoint and a device: allocate, copy in and out, launch a
/// primitive, synchronize. See `Primitive` for each call's semantics.
///
/// Backends may be asynchronous: `execute` and `write` may return before the work is
/// done, as long as work on one backend runs in submission order and `read` returns
/// only after everything before it has finished. A backend guards its own mutable state
/// (queue, pool, caches); callers may use it from any thread.
public protocol Backend: AnyObject, Sendable {
    /// The device this backend drives.
    var device: Device { get }
    /// Whether float64 primitives can run here.
    var supportsFloat64: Bool { get }
    /// Returns uninitialized memory of at least `byteCount` bytes (pooled).
    /// Throws `AdjointError.outOfMemory` after emptying the pool and retrying once.
    func allocate(byteCount: Int) throws -> DeviceBuffer
    /// Copies `bytes` into `buffer` starting at byte 0.
    func write(_ bytes: UnsafeRawBufferPointer, to buffer: DeviceBuffer) throws
    /// Copies the first `bytes.count` bytes of `buffer` to the host. Waits for all work
    /// submitted before it: the only synchronization point besides `synchronize()`.
    func read(_ buffer: DeviceBuffer, into bytes: UnsafeMutableRawBufferPointer) throws
    /// Whether this backend can run `call` with these input and output dtypes. A call it
    /// cannot run is executed on the CPU instead, and the fallback is counted in the ledger.
    func supports(_ call: Primitive, inputs: [DType], output: DType) -> Bool
    /// Runs (or enqueues) `call`. `output` is a view into memory allocated by this backend.
    func execute(_ call: Primitive, inputs: [BufferView], output: BufferView) throws
    /// Waits until all submitted work has finished.
    func synchronize() throws
    /// A snapshot of the dispatch ledger.
    var ledger: Ledger { get }
    /// Device time per kernel so far, where the backend measures it (`ADJOINT_PROFILE=1`
    /// on OpenCL); nil elsewhere.
    var kernelProfile: KernelProfile? { get }
    /// Records a CPU fallback in this backend's ledger.
    func recordFallback(_ call: Primitive)
    /// Frees every pooled (unused) buffer.
    func emptyPool()
}

extension Backend {
    /// Backends that do not measure device time per kernel report none.
    public var kernelProfile: KernelProfile? { nil }
}
